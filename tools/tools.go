//go:build tools

// Package tools pins the command-line tools the build uses: OpenTofu (the
// Terraform engine for tests, the demo and the drills) and tfplugindocs.
// They live in their own module so that OpenTofu's replace directive does not
// leak into the provider's module.
package tools

import (
	_ "github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs"
	_ "github.com/opentofu/opentofu/cmd/tofu"
)
