// Package acctest runs the provider's acceptance tests with OpenTofu against
// localcloud. Acceptance tests here never skip: without OpenTofu they fail
// and say how to build it.
package acctest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/agentnet/terraform-provider-agentnet/internal/processtest"
	"github.com/agentnet/terraform-provider-agentnet/provider"
)

// ProviderFactories serves the provider in-process to OpenTofu.
var ProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"agentnet": providerserver.NewProtocol6WithError(provider.New("test")()),
}

var setupOnce sync.Once

// Setup points terraform-plugin-testing at the project's OpenTofu build and
// sets what it needs, so that `go test ./...` runs the acceptance tests
// instead of skipping them.
func Setup(t testing.TB) {
	t.Helper()
	processtest.Starts(t)
	var err error
	setupOnce.Do(func() { err = setup() })
	if err != nil {
		t.Fatal(err)
	}
}

func setup() error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	if os.Getenv("TF_ACC_TERRAFORM_PATH") == "" {
		tofu := filepath.Join(root, "bin", "tofu")
		if _, err := os.Stat(tofu); err != nil {
			return fmt.Errorf("OpenTofu is not built at %s: run `make tools` (make test does it) or set TF_ACC_TERRAFORM_PATH", tofu)
		}
		os.Setenv("TF_ACC_TERRAFORM_PATH", tofu)
	}
	// OpenTofu warns on stdout without a CLI config file, which breaks the
	// version check of terraform-plugin-testing: always give it one that
	// exists (a variable naming a missing file is as bad as none).
	if _, err := os.Stat(os.Getenv("TF_CLI_CONFIG_FILE")); os.Getenv("TF_CLI_CONFIG_FILE") == "" || err != nil {
		empty := filepath.Join(os.TempDir(), "agentnet-acctest.tofurc")
		if err := os.WriteFile(empty, nil, 0o644); err != nil {
			return err
		}
		os.Setenv("TF_CLI_CONFIG_FILE", empty)
	}
	os.Setenv("TF_ACC", "1")
	os.Setenv("TF_ACC_PROVIDER_HOST", "registry.opentofu.org")
	os.Setenv("TF_ACC_PROVIDER_NAMESPACE", "agentnet")
	os.Setenv("CHECKPOINT_DISABLE", "1")
	return nil
}

// RepoRoot is the folder holding the provider's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && len(b) > 0 && isProviderModule(b) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod of the provider not found above the working directory")
		}
		dir = parent
	}
}

func isProviderModule(gomod []byte) bool {
	const line = "module github.com/agentnet/terraform-provider-agentnet\n"
	return len(gomod) >= len(line) && string(gomod[:len(line)]) == line
}

// ProviderConfig is the HCL that selects the provider and points it at
// localcloud at addr.
func ProviderConfig(addr string) string {
	return fmt.Sprintf(`
terraform {
  required_providers {
    agentnet = { source = "agentnet/agentnet" }
  }
}

provider "agentnet" {
  project       = "agentnet-test"
  region        = "us-central1"
  emulator_host = %q
}
`, addr)
}
