// Package processtest marks the tests that start real processes
// (redis-server, localcloud, the relay, OpenTofu, the test binary run again
// as a child), so that `go test -short` — `make testunit` — runs only the
// unit tests, in seconds. Without -short, as in `make test` and CI, nothing is
// skipped.
package processtest

import "testing"

// Starts skips tb in -short mode: tb starts real processes.
func Starts(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("starts real processes: run without -short (make test, make testacc)")
	}
}
