package run

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
)

// markerEnv is set in every relay process localcloud starts; its value
// identifies the instance, so that a restarted localcloud terminates only
// its own leftover processes.
const markerEnv = "LOCALCLOUD_RUN_INSTANCE"

// process is one running relay.
type process struct {
	*localproc.Child
	port    int
	logPath string
}

// spawn starts bin, tied to the life of localcloud (see localproc.Start),
// its output appended to logPath.
func spawn(bin string, args, env []string, dir, logPath string, port int) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = logf
	cmd.Stderr = logf
	c, err := localproc.Start(cmd)
	logf.Close()
	if err != nil {
		return nil, err
	}
	return &process{Child: c, port: port, logPath: logPath}, nil
}

// stop sends SIGTERM (the relay closes its agents with 1001 and exits) and
// waits; after timeout the process is killed.
func (p *process) stop(timeout time.Duration) {
	p.Expected.Store(true)
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.Exited():
	case <-time.After(timeout):
		p.Signal(syscall.SIGKILL)
		<-p.Exited()
	}
}

// kill SIGKILLs the process and waits for it.
func (p *process) kill(expected bool) {
	if expected {
		p.Expected.Store(true)
	}
	p.Signal(syscall.SIGKILL)
	<-p.Exited()
}

var probeClient = &http.Client{
	Timeout: 2 * time.Second,
	Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
	},
}

// probe asks the relay's /readyz; nil means 200.
func (p *process) probe(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(p.port)+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var b [256]byte
		n, _ := resp.Body.Read(b[:])
		return fmt.Errorf("/readyz answered %s: %s", resp.Status, strings.TrimSpace(strings.ReplaceAll(string(b[:n]), "\n", "; ")))
	}
	return nil
}

// readyPoll is how often a starting instance's /readyz is asked: a relay
// is typically ready some tens of milliseconds after it starts, and a
// refused connection costs next to nothing.
const readyPoll = 15 * time.Millisecond

// waitReady waits until the relay's /readyz answers 200.
func (p *process) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	var lastErr error
	for {
		select {
		case <-p.Exited():
			return fmt.Errorf("the container exited before it was ready (%v); last log lines: %s", p.Err(), logTail(p.logPath))
		case <-ctx.Done():
			if lastErr == nil {
				lastErr = ctx.Err()
			}
			return fmt.Errorf("the container (pid %d) did not become ready on port %d within %s: %v; last log lines: %s", p.Pid, p.port, timeout, lastErr, logTail(p.logPath))
		case <-tick.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		err := p.probe(pctx)
		pcancel()
		if err == nil {
			return nil
		}
		lastErr = err
	}
}

// logTail returns the last lines of a log file.
func logTail(path string) string { return localproc.LogTail(path, "no log") }

// stopStale terminates a relay left running by a previous localcloud: the
// process pid, if it is alive and carries marker in its environment. It
// waits until the process is gone (SIGTERM, then SIGKILL after timeout).
func stopStale(pid int, marker string, timeout time.Duration) bool {
	if pid <= 0 || !isOurs(pid, marker) {
		return false
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !isOurs(pid, marker) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 100 && isOurs(pid, marker); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func isOurs(pid int, marker string) bool {
	if _, ok := localproc.LiveStat(pid); !ok {
		return false
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	for _, kv := range bytes.Split(env, []byte{0}) {
		if string(kv) == markerEnv+"="+marker {
			return true
		}
	}
	return false
}
