package moduletest

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// killWhen runs tofu with args and SIGKILLs it, with the provider it
// started (its whole process group), as soon as reached() returns true: a
// machine lost mid-apply, with no chance to save state. It returns tofu's
// output so far and whether the kill happened (false: tofu exited first, with
// code). reached is polled every 20 ms, typically reading localcloud's API
// or operation log to see the step the apply is at.
func (tf *tofu) killWhen(t *testing.T, env []string, reached func() bool, args ...string) (out string, killed bool, code int) {
	t.Helper()
	cmd := exec.Command(tf.bin, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatalf("tofu %s: %v", strings.Join(args, " "), err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	kill := func() {
		// tofu, our unreaped child, leads the group: the kill fails only
		// if it has exited, and Wait's error is then the kill's.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	deadline := time.After(5 * time.Minute)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			var exit *exec.ExitError
			if errors.As(waitErr, &exit) {
				return buf.String(), false, exit.ExitCode()
			}
			if waitErr != nil {
				t.Fatalf("tofu %s: %v\n%s", strings.Join(args, " "), waitErr, buf.String())
			}
			return buf.String(), false, 0
		case <-deadline:
			kill()
			t.Fatalf("tofu %s: neither reached the kill point nor exited in 5 minutes\n%s", strings.Join(args, " "), buf.String())
		case <-tick.C:
			if reached() {
				kill()
				return buf.String(), true, -1
			}
		}
	}
}
