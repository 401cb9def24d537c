// Package pausepoint lets a test hold the provider at a named point of an
// apply, to interrupt the real process exactly there (a machine lost after
// an import but before the state is saved). Unset, it does nothing.
//
// With AGENTNET_TEST_PAUSE_AT naming the point and AGENTNET_TEST_PAUSE_DIR a
// folder, the provider writes DIR/POINT.reached on reaching the point and
// waits until DIR/POINT.resume exists or its context ends.
package pausepoint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The variables a test sets in the provider's environment.
const (
	AtEnv  = "AGENTNET_TEST_PAUSE_AT"
	DirEnv = "AGENTNET_TEST_PAUSE_DIR"
)

// RestoreImported is where a restore's import is done and its state not
// yet saved.
const RestoreImported = "restore-imported"

// DrainGrace is where a failover group's drain is live and its grace period
// begins, before the drained region is redeployed.
const DrainGrace = "drain-grace"

// Reached is the file the provider writes once paused at point.
func Reached(dir, point string) string { return filepath.Join(dir, point+".reached") }

// Resume is the file that ends the pause at point.
func Resume(dir, point string) string { return filepath.Join(dir, point+".resume") }

// Env is what a test adds to the provider's environment to pause at point,
// with its files in dir.
func Env(dir, point string) []string { return []string{AtEnv + "=" + point, DirEnv + "=" + dir} }

// Reach pauses at point when the environment asks for it: it announces the
// pause, then waits for the resume file or the end of ctx.
func Reach(ctx context.Context, point string) error {
	if os.Getenv(AtEnv) != point {
		return nil
	}
	dir := os.Getenv(DirEnv)
	if dir == "" {
		return fmt.Errorf("%s=%s is set without %s, the folder of the pause's files", AtEnv, point, DirEnv)
	}
	if err := os.WriteFile(Reached(dir, point), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("pause at %s: %w", point, err)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(Resume(dir, point)); err == nil {
			return nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("pause at %s: %w", point, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
