package pausepoint

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestReachWithoutTheEnvironmentReturnsAtOnce(t *testing.T) {
	t.Setenv(AtEnv, "elsewhere")
	t.Setenv(DirEnv, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := Reach(ctx, RestoreImported); err != nil {
		t.Fatalf("Reach at a point nobody pauses at: %v", err)
	}
}

func TestReachPausesUntilResumed(t *testing.T) {
	dir := t.TempDir()
	for _, kv := range Env(dir, RestoreImported) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	done := make(chan error, 1)
	go func() { done <- Reach(context.Background(), RestoreImported) }()
	waitFile(t, Reached(dir, RestoreImported))
	select {
	case err := <-done:
		t.Fatalf("Reach returned (%v) before the resume file existed", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := os.WriteFile(Resume(dir, RestoreImported), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Reach after resume: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Reach still paused 5s after the resume file appeared")
	}
}

func TestReachEndsWithItsContext(t *testing.T) {
	t.Setenv(AtEnv, RestoreImported)
	t.Setenv(DirEnv, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := Reach(ctx, RestoreImported); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Reach past its context's deadline = %v, want DeadlineExceeded", err)
	}
}

func TestReachWithoutAFolderNamesTheVariable(t *testing.T) {
	t.Setenv(AtEnv, RestoreImported)
	t.Setenv(DirEnv, "")
	err := Reach(context.Background(), RestoreImported)
	if err == nil || !strings.Contains(err.Error(), DirEnv) {
		t.Fatalf("Reach without %s = %v, want an error naming it", DirEnv, err)
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s not written within 5s", path)
}
