//go:build tools

// Package tools pins Centrifugo, the peer the relay is benchmarked against
// (make bench-peer). It has its own module so that Centrifugo's dependencies
// never touch the provider's module or the OpenTofu tools module.
package tools

import (
	_ "github.com/centrifugal/centrifugo/v6"
)
