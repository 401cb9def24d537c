//go:build tools

// Package tools pins golangci-lint in a module of its own, apart from the
// OpenTofu pin in tools/go.mod, so that either can move without rebuilding
// the other.
package tools

import _ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
