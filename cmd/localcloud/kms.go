package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/kms"
)

const kmsUsage = "kms create-mac-key projects/P/locations/L/keyRings/R/cryptoKeys/K [--host HOST:PORT]"

// kmsCommand runs "localcloud kms create-mac-key NAME": it creates the key
// ring and the HMAC_SHA256 key through the Cloud KMS API unless they exist
// (for snapshot_signing_key in demos and drills), and prints the key's name.
func kmsCommand(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create-mac-key" {
		return usagef("usage: localcloud %s", kmsUsage)
	}
	fs := newFlagSet("kms create-mac-key")
	host := fs.String("host", defaultHost(), "localcloud address host:port")
	var name string
	if args = args[1:]; len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if name == "" || fs.NArg() > 0 {
		return usagef("usage: localcloud %s", kmsUsage)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := kms.Dial(ctx, strings.TrimPrefix(*host, "http://"))
	if err != nil {
		return err
	}
	defer c.Close()
	created, err := kms.EnsureMACKey(ctx, c, name)
	if err != nil {
		return fmt.Errorf("%w (localcloud at %s: --host, $AGENTNET_EMULATOR_HOST)", err, *host)
	}
	verb := "exists"
	if created {
		verb = "created"
	}
	fmt.Fprintf(stdout, "%s %s\n", name, verb)
	return nil
}
