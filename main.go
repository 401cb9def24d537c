// Command terraform-provider-agentnet serves the agentnet provider to
// Terraform or OpenTofu over plugin protocol 6.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/agentnet/terraform-provider-agentnet/provider"
)

// Generate the docs from the schema descriptions and examples/.
//go:generate make docs

// version is set at release time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers like delve")
	flag.Parse()

	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: "registry.terraform.io/agentnet/agentnet",
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err.Error())
	}
}
