package main_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
)

func TestKMSCreateMACKeyCLI(t *testing.T) {
	t.Parallel()
	lc := localcloudtest.Start(t)
	env := []string{"AGENTNET_EMULATOR_HOST=" + lc.Addr()}
	const key = "projects/agentnet-test/locations/global/keyRings/backups/cryptoKeys/manifests"
	for _, want := range []string{key + " created", key + " exists"} {
		out, errOut, code := runCLI(t, env, "kms", "create-mac-key", key)
		if code != 0 || strings.TrimSpace(out) != want {
			t.Fatalf("kms create-mac-key: exit %d, %q, want %q\n%s", code, out, want, errOut)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k, err := lc.KMSClient(t).GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: key})
	if err != nil || k.GetPurpose() != kmspb.CryptoKey_MAC || k.GetVersionTemplate().GetAlgorithm() != kmspb.CryptoKeyVersion_HMAC_SHA256 {
		t.Fatalf("the key made: %v %v", k, err)
	}

	_, errOut, code := runCLI(t, env, "kms", "create-mac-key", "projects/agentnet-test/keyRings/backups")
	if code != 1 || !strings.Contains(errOut, "is not a crypto key name") {
		t.Fatalf("a bad name: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := runCLI(t, env, "kms"); code != 2 || !strings.Contains(errOut, "create-mac-key") {
		t.Fatalf("no subcommand: exit %d\n%s", code, errOut)
	}
}
