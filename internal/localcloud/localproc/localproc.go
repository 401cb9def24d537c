// Package localproc holds what localcloud needs to run the child processes
// that stand in for cloud resources (redis-servers for Memorystore, relays
// for Cloud Run) on this machine: starting a child that dies with
// localcloud, loopback ports to give it, and the tail of its log for error
// messages when it fails.
package localproc

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// Child is a child process started by Start.
type Child struct {
	Pid    int
	exited chan struct{}
	err    error // exit status, valid after exited is closed
	// Expected is set before localcloud itself stops the child, so that its
	// supervisor does not treat the exit as a failure.
	Expected atomic.Bool
}

// Start starts cmd in its own process group.
//
// The goroutine that starts the child locks its OS thread and stays on it
// until the child has exited: Pdeathsig (SIGTERM) is delivered when the
// thread that created the child exits, so this ties the child to the life
// of localcloud itself. If localcloud dies, even by SIGKILL, the child gets
// SIGTERM.
func Start(cmd *exec.Cmd) (*Child, error) {
	type started struct {
		pid int
		err error
	}
	c := &Child{exited: make(chan struct{})}
	ch := make(chan started, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread exits with this goroutine, after the
		// child is gone.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
		if err := cmd.Start(); err != nil {
			ch <- started{err: err}
			return
		}
		ch <- started{pid: cmd.Process.Pid}
		c.err = cmd.Wait()
		close(c.exited)
	}()
	s := <-ch
	if s.err != nil {
		return nil, s.err
	}
	c.Pid = s.pid
	return c, nil
}

// Exited is closed once the child has exited.
func (c *Child) Exited() <-chan struct{} { return c.exited }

// Err is the child's exit status (cmd.Wait's error); valid once Exited is
// closed.
func (c *Child) Err() error { return c.err }

// Alive reports whether the child has not exited yet.
func (c *Child) Alive() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// Signal sends sig to the child if it is still running.
func (c *Child) Signal(sig syscall.Signal) {
	if c.Alive() {
		_ = syscall.Kill(c.Pid, sig)
	}
}

// LiveStat returns /proc/{pid}/stat if pid is a live process: false if there
// is no such process, or it is a zombie, exited but not yet reaped (a
// leftover of a previous localcloud is recognised by its pid and must not be
// mistaken for still running).
func LiveStat(pid int) ([]byte, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, false
	}
	// The state follows the parenthesised command name.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		if st := stat[i+2]; st == 'Z' || st == 'X' {
			return nil, false
		}
	}
	return stat, true
}

// LogTail returns the last lines (at most 4, from the last 4 KiB) of the
// log file at path, joined by " | ", or missing if it cannot be read.
func LogTail(path, missing string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return missing
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

// PortFree reports whether 127.0.0.1:port can be bound.
func PortFree(port int) bool {
	if port <= 0 {
		return false
	}
	return AddrFree(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
}

// AddrFree reports whether the TCP address addr (host:port) can be bound.
func AddrFree(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// FreePort asks the kernel for a free loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return PortOf(l)
}

// PortOf is the port a TCP listener listens on.
func PortOf(l net.Listener) (int, error) {
	a, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, fmt.Errorf("listener on %s has a %T address, not a TCP one", l.Addr(), l.Addr())
	}
	return a.Port, nil
}
