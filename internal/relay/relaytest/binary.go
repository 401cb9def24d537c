package relaytest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// RelayBinary is cmd/relay built once per test process.
func RelayBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "relay-bin-") //nolint:usetesting // shared by every test of the process, removed by RemoveRelayBinary
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "relay")
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = "/usr/local/go/bin/go"
		}
		out, err := exec.Command(goBin, "build", "-o", binPath, "github.com/agentnet/terraform-provider-agentnet/cmd/relay").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build cmd/relay: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

// RemoveRelayBinary deletes what RelayBinary built; call it from TestMain
// after the tests ran.
func RemoveRelayBinary() {
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
}
