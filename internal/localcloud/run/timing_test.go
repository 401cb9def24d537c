package run

import (
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
	"github.com/agentnet/terraform-provider-agentnet/internal/processtest"
)

// A stopped instance gets SIGTERM, then SIGKILL once Cloud Run's 10 s are
// over: under the gcp profile at a time scale of 100, 100 ms; one that
// ignores SIGTERM is killed then, and the ledger records the grace it used.
// One that exits on SIGTERM is not recorded. Without a profile the grace is
// 10 s.
func TestShutdownGrace(t *testing.T) {
	processtest.Starts(t)
	if m, s := (&Service{}).grace(); m != 10*time.Second || s != 10*time.Second {
		t.Fatalf("default grace %v (slept %v), want Cloud Run's 10s", m, s)
	}
	p, err := profile.Load("gcp", 100)
	if err != nil {
		t.Fatal(err)
	}
	ledger := profile.NewLedger(p)
	s := &Service{cfg: Config{Timing: ledger}}
	start := func(script string) *process {
		c, err := localproc.Start(exec.Command("sh", "-c", script))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Signal(syscall.SIGKILL) })
		// Let the shell set its trap before it is signalled.
		time.Sleep(100 * time.Millisecond)
		return &process{Child: c}
	}

	stubborn := start(`trap "" TERM; while :; do sleep 0.05; done`)
	t0 := time.Now()
	s.stopInstance(stubborn, "svc-00001-abc-1")
	took := time.Since(t0)
	if took < 100*time.Millisecond || took > 2*time.Second {
		t.Errorf("an instance ignoring SIGTERM was killed after %v, want 100ms (10s at scale 100)", took)
	}
	applied := ledger.Status().Applied
	if len(applied) != 1 || applied[0].Kind != profile.RunShutdownGrace || applied[0].Modelled.D() != 10*time.Second ||
		applied[0].Slept.D() != 100*time.Millisecond || applied[0].Subject != "svc-00001-abc-1" {
		t.Fatalf("ledger: %+v", applied)
	}

	polite := start(`trap "exit 0" TERM; while :; do sleep 0.05; done`)
	s.stopInstance(polite, "svc-00001-abc-2")
	if n := len(ledger.Status().Applied); n != 1 {
		t.Errorf("an instance that exited on SIGTERM was recorded as using its grace (%d entries)", n)
	}
}
