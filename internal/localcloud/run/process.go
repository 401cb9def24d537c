package run

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
)

// process is one running relay.
type process struct {
	*localproc.Child
	logPath string
}

// spawn starts bin, tied to the life of localcloud (see localproc.Start),
// its output appended to logPath.
func spawn(bin string, args, env []string, dir, logPath string) (*process, error) {
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
	return &process{Child: c, logPath: logPath}, nil
}

// stop sends SIGTERM (the relay closes its agents with 1001 and exits) and
// waits; after timeout the process is killed. It reports whether the
// process exited by itself.
func (p *process) stop(timeout time.Duration) bool {
	p.Expected.Store(true)
	p.Signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.Exited():
		return true
	case <-t.C:
		p.Signal(syscall.SIGKILL)
		<-p.Exited()
		return false
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
		if string(kv) == localproc.RunInstanceEnv+"="+marker {
			return true
		}
	}
	return false
}
