package peerbench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Node is a server process of a product under test.
type Node struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// StartNode starts bin with args and env (added to this process's), its
// output appended to logFile, and waits until readyURL answers 200.
func StartNode(ctx context.Context, bin string, args, env []string, logFile, readyURL string) (*Node, error) {
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	n := &Node{cmd: cmd, done: make(chan struct{})}
	// Stopped by a kill: the exit status is the kill's, and the node's
	// log says why it exited before that.
	go func() { _ = cmd.Wait(); close(n.done) }()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, readyURL, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n, nil
			}
		}
		select {
		case <-n.done:
			return nil, fmt.Errorf("%s exited at start (log: %s)", bin, logFile)
		case <-ctx.Done():
			n.Stop()
			return nil, fmt.Errorf("%s not ready at %s: %w (log: %s)", bin, readyURL, ctx.Err(), logFile)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Pid is the node's process id.
func (n *Node) Pid() int { return n.cmd.Process.Pid }

// Stop kills the node and waits for it to exit.
func (n *Node) Stop() {
	_ = n.cmd.Process.Kill() // our unreaped child: fails only once it has exited, which <-n.done awaits
	<-n.done
}

// pids are the process ids of nodes.
func pids(nodes []*Node) []int {
	out := make([]int, len(nodes))
	for i, n := range nodes {
		out[i] = n.Pid()
	}
	return out
}

// openAll opens n connections with open, sixteen at a time, and returns
// what closes them all; on a failure it closes those opened and returns it.
func openAll(n int, open func(i int) (closer func(), err error)) (func(), error) {
	closers := make([]func(), n)
	closeAll := func() {
		var wg sync.WaitGroup
		for _, c := range closers {
			if c != nil {
				wg.Go(c)
			}
		}
		wg.Wait()
	}
	err := parallel(n, func(i int) error {
		c, err := open(i)
		closers[i] = c
		return err
	})
	if err != nil {
		closeAll()
		return nil, err
	}
	return closeAll, nil
}

// parallel runs f(0..n-1) on a few goroutines and returns the first error.
func parallel(n int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := f(i); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}
