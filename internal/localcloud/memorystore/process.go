package memorystore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// process is one running redis-server.
type process struct {
	pid    int
	port   int
	dir    string
	exited chan struct{}
	err    error // exit status, valid after exited is closed
	// expected is set before localcloud itself stops the process, so the
	// supervisor does not treat the exit as a failure.
	expected atomic.Bool
}

// spawn starts redis-server. The goroutine that starts the child locks its OS
// thread and stays on it until the child has exited: Pdeathsig is delivered
// when the thread that created the child exits, so this keeps it tied to the
// life of localcloud itself. If localcloud dies (even by SIGKILL) the child
// gets SIGTERM, saves its dataset (--shutdown-on-sigterm save) and exits.
func spawn(bin string, args []string, dir string, port int) (*process, error) {
	type started struct {
		pid int
		err error
	}
	p := &process{port: port, dir: dir, exited: make(chan struct{})}
	ch := make(chan started, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread exits with this goroutine, after the
		// child is gone.
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
		if err := cmd.Start(); err != nil {
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

// stop asks redis-server to exit with SIGTERM (which saves the dataset) and
// waits; after timeout it is killed.
func (p *process) stop(timeout time.Duration) error {
	p.expected.Store(true)
	p.signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(timeout):
		p.signal(syscall.SIGKILL)
		<-p.exited
		return fmt.Errorf("redis-server pid %d did not exit within %s after SIGTERM and was killed", p.pid, timeout)
	}
}

// shutdownNoSave asks redis-server to exit without saving its dataset
// (SHUTDOWN NOSAVE, which also stops a background save in progress and
// removes its temporary file). It does not wait for the exit: redis-server
// closes its listening port first, while the connection that asked is only
// closed when the process is gone, after its memory has been freed, which
// takes a while for a large dataset. If redis-server refuses, or the
// command cannot be delivered, the process is killed.
func (p *process) shutdownNoSave() {
	p.expected.Store(true)
	if !p.alive() {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := p.client()
		defer c.Close()
		// A successful SHUTDOWN has no reply: the connection just closes.
		if err := c.ShutdownNoSave(ctx).Err(); err != nil && !isConnClosed(err) && p.alive() {
			p.signal(syscall.SIGKILL)
		}
	}()
}

func isConnClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || strings.Contains(err.Error(), "closed") || strings.Contains(err.Error(), "EOF")
}

// configSet sets redis-server parameters (CONFIG SET name value ...).
func (p *process) configSet(ctx context.Context, nameValues ...string) error {
	c := p.client()
	defer c.Close()
	args := []any{"config", "set"}
	for _, v := range nameValues {
		args = append(args, v)
	}
	return c.Do(ctx, args...).Err()
}

// kill stops the process without saving.
func (p *process) kill() {
	p.expected.Store(true)
	p.signal(syscall.SIGKILL)
	<-p.exited
}

func (p *process) client() *redis.Client {
	return newClient(p.port)
}

func newClient(port int) *redis.Client {
	return redis.NewClient(clientOptions(port))
}

func clientOptions(port int) *redis.Options {
	return &redis.Options{
		Addr:            net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		DialTimeout:     2 * time.Second,
		ReadTimeout:     30 * time.Second,
		WriteTimeout:    30 * time.Second,
		MaxRetries:      -1,
		PoolSize:        2,
		Protocol:        2,
		DisableIdentity: true,
	}
}

// waitReady waits until this very process (checked by its pid) answers PING
// and has finished loading its dataset.
func (p *process) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Poll tightly: a dataset is usable the moment it has loaded, and the
	// checks (a refused connection, or PING answered -LOADING) are cheap.
	// Until the port accepts connections it is probed directly: the
	// client's own dialing retries with pauses of 100 ms and, after a few
	// refusals, stops dialing for a second.
	opts := clientOptions(p.port)
	opts.DialerRetries = 1
	c := redis.NewClient(opts)
	defer c.Close()
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	var lastErr error
	listening := false
	for first := true; ; first = false {
		if !first {
			select {
			case <-p.exited:
				return fmt.Errorf("redis-server exited before it was ready (%v): %s", p.err, logTail(p.dir))
			case <-ctx.Done():
				if lastErr == nil {
					lastErr = ctx.Err()
				}
				return fmt.Errorf("redis-server pid %d on port %d was not ready within %s: %v", p.pid, p.port, timeout, lastErr)
			case <-tick.C:
			}
		}
		if !listening {
			conn, err := net.DialTimeout("tcp", opts.Addr, time.Second)
			if err != nil {
				lastErr = err
				continue
			}
			conn.Close()
			listening = true
		}
		if err := c.Ping(ctx).Err(); err != nil {
			lastErr = err
			continue
		}
		info, err := c.Info(ctx, "server", "persistence").Result()
		if err != nil {
			lastErr = err
			continue
		}
		if pid := infoField(info, "process_id"); pid != strconv.Itoa(p.pid) {
			lastErr = fmt.Errorf("port %d is answered by another redis-server (pid %s)", p.port, pid)
			continue
		}
		if infoField(info, "loading") != "0" {
			lastErr = errors.New("still loading the dataset")
			continue
		}
		return nil
	}
}

// readyPoll is the pause between readiness checks of a starting
// redis-server.
const readyPoll = 3 * time.Millisecond

func infoField(info, key string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
			return v
		}
	}
	return ""
}

// logTail returns the last lines of the instance's redis.log.
func logTail(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "redis.log"))
	if err != nil {
		return "no redis.log"
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

// portFree reports whether 127.0.0.1:port can be bound.
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

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// stopStale stops a redis-server left running by a previous localcloud
// (identified by the pid saved in the state) and waits until it has exited,
// so that it has finished saving its dataset before the instance is started
// again.
func stopStale(pid int, timeout time.Duration) (bool, error) {
	if pid <= 0 || !isRedisProcess(pid) {
		return false, nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !isRedisProcess(pid) {
			return true, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(100 * time.Millisecond)
	return true, fmt.Errorf("stale redis-server pid %d did not exit within %s after SIGTERM; killed", pid, timeout)
}

// isRedisProcess reports whether pid is a live (not zombie) redis-server.
func isRedisProcess(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		if st := stat[i+2]; st == 'Z' || st == 'X' {
			return false
		}
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return bytes.Contains(cmdline, []byte("redis-server")) || bytes.Contains(stat, []byte("(redis-server)"))
}
