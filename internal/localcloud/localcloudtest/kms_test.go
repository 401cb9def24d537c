package localcloudtest

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
)

// A MAC key made with CreateMACKey signs, and still verifies what it signed
// after localcloud was SIGKILLed and restarted; asking again for the same
// key changes nothing.
func TestCreateMACKeySurvivesSIGKILL(t *testing.T) {
	lc := Start(t)
	const key = "projects/agentnet-test/locations/global/keyRings/backups/cryptoKeys/manifests"
	if got := lc.CreateMACKey(t, key); got != key {
		t.Fatalf("CreateMACKey returned %q", got)
	}
	lc.CreateMACKey(t, key)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data := []byte("manifest")
	signed, err := lc.KMSClient(t).MacSign(ctx, &kmspb.MacSignRequest{Name: key + "/cryptoKeyVersions/1", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	lc.Kill()
	lc.Restart(t)
	ok, err := lc.KMSClient(t).MacVerify(ctx, &kmspb.MacVerifyRequest{Name: key + "/cryptoKeyVersions/1", Data: data, Mac: signed.GetMac()})
	if err != nil || !ok.GetSuccess() {
		t.Fatalf("after SIGKILL and restart: %v %v", ok, err)
	}
	var n int
	for _, e := range lc.Oplog(t) {
		if e.Method == "google.cloud.kms.v1.KeyManagementService.CreateCryptoKey" && e.Outcome == "OK" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d CreateCryptoKey calls succeeded, want 1", n)
	}
}
