package drill

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/adminclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/memorystore"
	lcrun "github.com/agentnet/terraform-provider-agentnet/internal/localcloud/run"
)

// localcloud is a localcloud process started from bin/localcloud, and its
// admin API.
type localcloud struct {
	addr    string
	proc    *os.Process
	exited  chan struct{}
	logPath string
	keep    bool
	admin   *adminclient.Client
}

// startLocalcloud runs `localcloud serve` on a free loopback port, with
// extra flags (the timing profile). Unless keep is set, the process gets
// SIGTERM if the drill dies.
func startLocalcloud(bin, relayBin, redisBin, dataDir string, keep bool, extra []string) (*localcloud, error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	lc := &localcloud{logPath: filepath.Join(filepath.Dir(dataDir), "localcloud.log"), exited: make(chan struct{}),
		keep: keep}
	logf, err := os.OpenFile(lc.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--relay-binary", relayBin,
		"--repair-delay", "2s", "--run-ready-timeout", "30s"}
	if redisBin != "" {
		args = append(args, "--redis-server", redisBin)
	}
	args = append(args, extra...)
	type started struct {
		proc   *os.Process
		stdout io.Reader
		err    error
	}
	ch := make(chan started, 1)
	go func() {
		// Pdeathsig follows the thread that started the child: stay on it
		// until the child has exited.
		runtime.LockOSThread()
		cmd := exec.Command(bin, args...)
		cmd.Stderr = logf
		if !keep {
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		}
		stdout, err := cmd.StdoutPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			ch <- started{err: err}
			logf.Close()
			return
		}
		ch <- started{proc: cmd.Process, stdout: stdout}
		// Its exit status says nothing its log does not.
		_ = cmd.Wait()
		logf.Close()
		close(lc.exited)
	}()
	s := <-ch
	if s.err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, s.err)
	}
	lc.proc = s.proc
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(s.stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-lines:
		a, ok := strings.CutPrefix(line, "localcloud listening on ")
		if !ok {
			lc.stop()
			return nil, fmt.Errorf("localcloud printed %q, want \"localcloud listening on ADDR\"", line)
		}
		lc.addr = strings.TrimSpace(a)
		// The admin API needs the token localcloud writes to its data dir.
		lc.admin = adminclient.New(lc.addr, dataDir)
	case <-lc.exited:
		return nil, fmt.Errorf("localcloud exited before it was ready; its log:\n%s", lc.logTail(30))
	case <-time.After(2 * time.Minute):
		lc.stop()
		return nil, fmt.Errorf("localcloud did not report its address within 2m")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := lc.admin.Health(ctx)
		cancel()
		if err == nil {
			return lc, nil
		} else if time.Now().After(deadline) {
			lc.stop()
			return nil, fmt.Errorf("localcloud at %s not healthy within 30s: %v", lc.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits (SIGKILL after a minute).
func (lc *localcloud) stop() {
	if lc.proc == nil {
		return
	}
	select {
	case <-lc.exited:
		return
	default:
	}
	// Our unreaped child: a signal fails only once it has exited, which
	// the select below sees through lc.exited.
	_ = lc.proc.Signal(syscall.SIGTERM)
	select {
	case <-lc.exited:
	case <-time.After(time.Minute):
		_ = lc.proc.Kill()
		<-lc.exited
	}
}

func (lc *localcloud) logTail(n int) string {
	b, _ := os.ReadFile(lc.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ctx bounds one admin call.
func (lc *localcloud) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Minute)
}

// fault injects a fault through POST /_localcloud/faults; fields are the
// kind-specific ones (instance, service, region, hold, ...).
func (lc *localcloud) fault(kind string, fields map[string]any) error {
	ctx, cancel := lc.ctx()
	defer cancel()
	_, err := lc.admin.Fault(ctx, kind, fields)
	return err
}

// createBucket creates a Cloud Storage bucket through the JSON API.
func (lc *localcloud) createBucket(project, name string) error {
	b, err := json.Marshal(map[string]string{"name": name})
	if err != nil {
		return err
	}
	resp, err := http.Post("http://"+lc.addr+"/storage/v1/b?project="+project, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		raw, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("create bucket %s: HTTP %d: %s", name, resp.StatusCode, bytes.TrimSpace(raw))
	}
	return nil
}

// redisStatus is one entry of GET /_localcloud/instances.
type redisStatus = memorystore.Status

func (lc *localcloud) instances() ([]redisStatus, error) {
	ctx, cancel := lc.ctx()
	defer cancel()
	return lc.admin.Instances(ctx)
}

// serviceStatus is one entry of GET /_localcloud/services.
type serviceStatus = lcrun.ServiceStatus

func (lc *localcloud) services() ([]serviceStatus, error) {
	ctx, cancel := lc.ctx()
	defer cancel()
	return lc.admin.Services(ctx)
}

// caPool is the CA localcloud's front doors serve certificates from
// (GET /_localcloud/ca.pem): what agents trust, as they trust a public CA
// on Google Cloud.
func (lc *localcloud) caPool() (*x509.CertPool, error) {
	ctx, cancel := lc.ctx()
	defer cancel()
	return lc.admin.CA(ctx)
}
