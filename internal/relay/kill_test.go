package relay_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay/auth"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// relayBinary builds cmd/relay once per test process.
func relayBinary(t testing.TB) string { return relaytest.RelayBinary(t) }

// proc is a relay running as a child process.
type proc struct {
	cmd  *exec.Cmd
	URL  string
	base string // http://host:PORT
	ops  string // http://host:OPS_PORT
	done chan struct{}
}

func startProc(t testing.TB, keys *auth.DevKeys, region, redisAddr, peers string, extra ...string) *proc {
	t.Helper()
	return startProcLogged(t, keys, region, os.Stderr, append([]string{"REDIS_ADDR=" + redisAddr, "PEER_REDIS_ADDRS=" + peers,
		"REDIS_CLUSTER=" + strconv.FormatBool(relaytest.IsCluster(redisAddr))}, extra...)...)
}

// startProcLogged starts a relay process with the Redis settings in env,
// its log lines to logs, and waits until it is ready.
func startProcLogged(t testing.TB, keys *auth.DevKeys, region string, logs io.Writer, env ...string) *proc {
	t.Helper()
	bin := relayBinary(t)
	port, err := relaytest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	opsPort, err := relaytest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("PORT=%d", port), fmt.Sprintf("OPS_PORT=%d", opsPort), "LISTEN_HOST=127.0.0.1", "K_SERVICE=",
		"REDIS_ADDR=", "PEER_REDIS_ADDRS=", "REDIS_INSTANCE=", "PEER_REDIS_INSTANCES=", "REGION="+region,
		"REDIS_CLUSTER=",
		"INSTANCE_ID="+fmt.Sprintf("%s-%d", region, port),
		"JWKS_FILE="+keys.JWKSPath(), "JWT_ISSUER="+keys.Issuer, "JWT_AUDIENCE="+keys.Audience,
		"RATE_LIMIT=100000", "LOG_LEVEL=warn")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout = logs
	cmd.Stderr = logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), ops: fmt.Sprintf("http://127.0.0.1:%d", opsPort), done: make(chan struct{})}
	p.URL = fmt.Sprintf("ws://127.0.0.1:%d/ws", port)
	// Killed by the test: its exit status is the kill's.
	go func() { _ = cmd.Wait(); close(p.done) }()
	// Our unreaped child: the kill fails only once it has exited.
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.done })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(p.base + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatal("relay process exited at start")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay process not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKillInstance runs two relay processes, streams envelopes between two
// agents connected to the first, and SIGKILLs it in the middle: the agents
// reconnect to the second, and every acked envelope arrives exactly once at
// the application. In the cross-region case the second instance is in
// another region and reaches the first region's queue through its Redis.
func TestKillInstance(t *testing.T) {
	t.Parallel()
	for _, regions := range []bool{false, true} {
		name := "same-region"
		if regions {
			name = "region-failover"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			rdA := relaytest.NewRedis(t)
			rdB := rdA
			peerA, peerB := "", ""
			if regions {
				rdB = relaytest.NewRedis(t)
				peerA, peerB = rdB.Addr, rdA.Addr
			}
			p1 := startProc(t, e.keys, "a", rdA.Addr, peerA)
			p2 := startProc(t, e.keys, "b", rdB.Addr, peerB)
			sender := e.dial("alice", p1.URL, p2.URL)
			recvr := e.dial("bob", p1.URL, p2.URL)

			const n = 4000
			var acked sync.Map
			var nAcked atomic.Int64
			got := map[string]int{}
			recvDone := make(chan struct{})
			go func() {
				defer close(recvDone)
				for {
					select {
					case env := <-recvr.Receive():
						got[env.ID]++
					case <-time.After(3 * time.Second):
						return
					}
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			killed := make(chan struct{})
			var killOnce sync.Once
			var wg sync.WaitGroup
			var sendErr atomic.Value
			for w := 0; w < 16; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < n; i += 16 {
						id := fmt.Sprintf("m%05d", i)
						if _, err := sender.Send(ctx, recvr.Address(), id, []byte("ciphertext")); err != nil {
							sendErr.Store(err)
							return
						}
						acked.Store(id, true)
						if nAcked.Add(1) == n/3 {
							killOnce.Do(func() {
								if err := p1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
									t.Errorf("kill the first relay: %v", err)
								}
								close(killed)
							})
						}
					}
				}()
			}
			wg.Wait()
			if err := sendErr.Load(); err != nil {
				t.Fatalf("send: %v", err)
			}
			<-killed
			<-p1.done
			<-recvDone
			missing, dups := deliveredOnce(&acked, got)
			if missing > 0 || dups > 0 {
				t.Fatalf("of %d acked envelopes %d missing, %d delivered more than once", nAcked.Load(), missing, dups)
			}
			if int(nAcked.Load()) != n || len(got) != n {
				t.Fatalf("acked %d, received %d, want %d", nAcked.Load(), len(got), n)
			}
			if inst, region := recvr.Instance(); regions && region != "b" {
				t.Fatalf("receiver on %s/%s after the kill", inst, region)
			}
			ss, rs := sender.Stats(), recvr.Stats()
			if ss.Connects < 2 || rs.Connects < 2 {
				t.Fatalf("clients did not reconnect: sender %+v receiver %+v", ss, rs)
			}
			t.Logf("sender %+v; receiver %+v", ss, rs)
		})
	}
}

// deliveredOnce counts the acked envelopes (ids in acked) that got, the
// ids received with their counts, misses or has more than once.
func deliveredOnce(acked *sync.Map, got map[string]int) (missing, dups int) {
	acked.Range(func(k, _ any) bool {
		id, _ := k.(string) // ids only: anything else counts as missing
		switch got[id] {
		case 0:
			missing++
		case 1:
		default:
			dups++
		}
		return true
	})
	return missing, dups
}

// TestSIGTERM stops a relay process the way Cloud Run does: agents get 1001
// and the process exits cleanly.
func TestSIGTERM(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rd := relaytest.NewRedis(t)
	p := startProc(t, e.keys, "a", rd.Addr, "")
	ws, _, err := rawDial(t, p.URL, relaytest.Token(t, e.keys, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, reason := closeCode(t, ws); code != websocket.StatusGoingAway {
		t.Fatalf("close %d %q, want 1001", code, reason)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("relay did not exit after SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	relaytest.RemoveRelayBinary()
	os.Exit(code)
}
