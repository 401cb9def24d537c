package run

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// markerEnv is set in every relay process localcloud starts; its value
// identifies the instance, so that a restarted localcloud terminates only
// its own leftover processes.
const markerEnv = "LOCALCLOUD_RUN_INSTANCE"

// process is one running relay.
type process struct {
	pid     int
	port    int
	logPath string
	exited  chan struct{}
	err     error // exit status, valid after exited is closed
	// expected is set before localcloud itself stops the process.
	expected atomic.Bool
}

// spawn starts bin. As for the redis-servers, the goroutine that starts the
// child stays locked on its OS thread until the child has exited, so that
// Pdeathsig (SIGTERM) reaches the child when localcloud dies, even by
// SIGKILL.
func spawn(bin string, args, env []string, dir, logPath string, port int) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	type started struct {
		pid int
		err error
	}
	p := &process{port: port, logPath: logPath, exited: make(chan struct{})}
	ch := make(chan started, 1)
	go func() {
		runtime.LockOSThread()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = env
		cmd.Stdout = logf
		cmd.Stderr = logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
		err := cmd.Start()
		logf.Close()
		if err != nil {
			ch <- started{err: err}
			return
		}
		ch <- started{pid: cmd.Process.Pid}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	s := <-ch
	if s.err != nil {
		return nil, s.err
	}
	p.pid = s.pid
	return p, nil
}

func (p *process) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *process) signal(sig syscall.Signal) {
	if p.alive() {
		_ = syscall.Kill(p.pid, sig)
	}
}

// stop sends SIGTERM (the relay closes its agents with 1001 and exits) and
// waits; after timeout the process is killed.
func (p *process) stop(timeout time.Duration) {
	p.expected.Store(true)
	p.signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.signal(syscall.SIGKILL)
		<-p.exited
	}
}

// kill SIGKILLs the process and waits for it.
func (p *process) kill(expected bool) {
	if expected {
		p.expected.Store(true)
	}
	p.signal(syscall.SIGKILL)
	<-p.exited
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
		case <-p.exited:
			return fmt.Errorf("the container exited before it was ready (%v); last log lines: %s", p.err, logTail(p.logPath))
		case <-ctx.Done():
			if lastErr == nil {
				lastErr = ctx.Err()
			}
			return fmt.Errorf("the container (pid %d) did not become ready on port %d within %s: %v; last log lines: %s", p.pid, p.port, timeout, lastErr, logTail(p.logPath))
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
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "no log"
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > 4 {
		lines = lines[len(lines)-4:]
	}
	var out []string
	for _, l := range lines {
		out = append(out, strings.TrimSpace(string(l)))
	}
	return strings.Join(out, " | ")
}

func portFree(port int) bool {
	if port <= 0 {
		return false
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

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
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		if st := stat[i+2]; st == 'Z' || st == 'X' {
			return false
		}
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
