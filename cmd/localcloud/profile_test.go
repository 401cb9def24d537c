package main_test

import (
	"context"
	"strings"
	"testing"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
)

func TestServeProfileRefusesUnknown(t *testing.T) {
	t.Parallel()
	_, stderr, code := runCLI(t, nil, "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--profile", "aws")
	if code != 2 || !strings.Contains(stderr, "--profile") || !strings.Contains(stderr, "accepted values are default, gcp or a JSON file") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = runCLI(t, nil, "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--time-scale", "-3")
	if code != 2 || !strings.Contains(stderr, "time scale must be a positive number") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestServeProfileReported(t *testing.T) {
	t.Parallel()
	lc := localcloudtest.StartWithOptions(t, localcloudtest.Options{Profile: "gcp", TimeScale: 20})
	st, err := lc.Admin().Delays(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Profile == nil || st.Profile.Name != "gcp" || st.Profile.Scale != 20 {
		t.Fatalf("delays: %+v", st.Profile)
	}
}
