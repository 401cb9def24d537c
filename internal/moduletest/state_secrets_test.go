package moduletest

import (
	"os"
	"strings"
	"testing"
)

// noTokenInState fails the test when the state file holds the health
// checks' token: the failover group takes it write-only and the health
// data sources read it from a file, so neither stores it.
func noTokenInState(t *testing.T, step, statePath, token string) {
	t.Helper()
	state, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatalf("%s: reading the state: %v", step, err)
	}
	if strings.Contains(string(state), token) {
		t.Errorf("%s: the state file holds the health checks' token", step)
	}
}
