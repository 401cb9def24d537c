//go:build tools

// Package tools pins GoReleaser, which builds the release archives
// (make release-snapshot, make mirror). It has its own module so that its
// dependencies never move OpenTofu's in ../go.mod.
package tools

import _ "github.com/goreleaser/goreleaser/v2"
