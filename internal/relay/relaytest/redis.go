// Package relaytest starts real redis-server processes for the relay's tests
// and benchmarks.
package relaytest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Redis is a redis-server child process listening on 127.0.0.1.
type Redis struct {
	Addr   string
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// RedisBinary is the redis-server executable, overridable with REDIS_SERVER.
func RedisBinary() string {
	if p := os.Getenv("REDIS_SERVER"); p != "" {
		return p
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	return "/usr/bin/redis-server"
}

// FreePort returns a TCP port free on 127.0.0.1 at the time of the call.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartRedis starts a redis-server without persistence in dir and waits
// until it answers PING. A port taken in between is retried.
func StartRedis(dir string) (*Redis, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir}
		if err := r.start(); err != nil {
			return nil, err
		}
		if err := r.waitReady(10 * time.Second); err != nil {
			lastErr = err
			r.Stop()
			continue
		}
		return r, nil
	}
	return nil, lastErr
}

func (r *Redis) start() error {
	_, port, _ := net.SplitHostPort(r.Addr)
	r.exited = make(chan struct{})
	r.cmd = exec.Command(RedisBinary(),
		"--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--dir", r.dir, "--maxclients", "19000", "--loglevel", "warning",
		"--logfile", filepath.Join(r.dir, fmt.Sprintf("redis-%s.log", port)))
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := r.exited
	cmd := r.cmd
	go func() { cmd.Wait(); close(exited) }()
	return nil
}

// Restart starts a stopped (or killed) server again on the same address and
// folder. It loads the folder's dump.rdb, the last snapshot a SAVE wrote, if
// there is one, else starts empty.
func (r *Redis) Restart() error {
	if err := r.start(); err != nil {
		return err
	}
	return r.waitReady(10 * time.Second)
}

func (r *Redis) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-r.exited:
			return fmt.Errorf("redis-server on %s exited at start", r.Addr)
		default:
		}
		if Ping(r.Addr) == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("redis-server on %s did not answer within %s", r.Addr, timeout)
}

// Stop kills the server and waits for it to exit.
func (r *Redis) Stop() {
	if r.cmd.Process != nil {
		r.cmd.Process.Kill()
	}
	<-r.exited
}

// Ping sends PING over a plain TCP connection.
func Ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

// NewRedis starts a redis-server for a test or benchmark and stops it at the
// end of it.
func NewRedis(tb testing.TB) *Redis {
	tb.Helper()
	r, err := StartRedis(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.Stop)
	return r
}
