package moduletest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// The addresses OpenTofu may resolve the modules' "agentnet/agentnet" to:
// its own registry's, and Terraform's, which the provider serves under.
var providerAddrs = []string{"registry.opentofu.org/agentnet/agentnet", "registry.terraform.io/agentnet/agentnet"}

// reattached starts the provider binary once for t, in its debug mode and
// with env, and returns env plus TF_REATTACH_PROVIDERS naming it: every tofu
// command of t then talks to that one process instead of starting the
// provider for each command and run (most of a module test's provider CPU
// went to those starts). Only for commands that share env and run to their
// end: an interrupted tofu leaves a reattached provider running what it had
// started, as no real one would, so a command a test kills (or pauses
// through the provider's environment) starts its own (snapshotRoot.ownEnv).
func (tf *tofu) reattached(t *testing.T, env []string) []string {
	t.Helper()
	cmd := exec.Command(tf.provider, "-debug")
	cmd.Env = env
	// Not waited for beyond this once it is stopped: a child it left
	// holding its output open must not hold up the test.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s -debug: %v", tf.provider, err)
	}
	t.Cleanup(func() {
		// Debug mode stops on an interrupt.
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	found := make(chan string, 1)
	go func() {
		// Its output is read to the end, so that it never blocks on a full pipe.
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if v, ok := strings.CutPrefix(line, "TF_REATTACH_PROVIDERS='"); ok {
				found <- strings.TrimSuffix(v, "'")
			}
		}
		close(found)
	}()
	var served string
	select {
	case served = <-found:
	case <-time.After(30 * time.Second):
	}
	if served == "" {
		t.Fatalf("%s -debug printed no TF_REATTACH_PROVIDERS line", tf.provider)
	}
	var configs map[string]json.RawMessage
	if err := json.Unmarshal([]byte(served), &configs); err != nil || len(configs) != 1 {
		t.Fatalf("%s -debug: TF_REATTACH_PROVIDERS='%s': want one provider (%v)", tf.provider, served, err)
	}
	reattach := map[string]json.RawMessage{}
	for _, config := range configs {
		for _, addr := range providerAddrs {
			reattach[addr] = config
		}
	}
	b, err := json.Marshal(reattach)
	if err != nil {
		t.Fatal(err)
	}
	// Clipped: env stays the caller's, for commands that start their own.
	return append(slices.Clip(env), fmt.Sprintf("TF_REATTACH_PROVIDERS=%s", b))
}
