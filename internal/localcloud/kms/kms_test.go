package kms

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kmsapi "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const (
	location = "projects/p/locations/global"
	ring     = location + "/keyRings/snapshots"
	macKey   = ring + "/cryptoKeys/manifests"
)

// serve runs the service on a loopback gRPC server and returns a real
// client of it; the server stops when the test ends.
func serve(t *testing.T, dir string) (*Service, *kmsapi.KeyManagementClient) {
	t.Helper()
	svc, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	kmspb.RegisterKeyManagementServiceServer(srv, svc)
	go func() {
		// nil once Stop is called; anything else is the server failing.
		if err := srv.Serve(ln); err != nil {
			t.Error(err)
		}
	}()
	c, err := Dial(context.Background(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); srv.Stop() })
	return svc, c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func wantCode(t *testing.T, err error, code codes.Code, contains string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), contains) {
		t.Fatalf("got %v, want %s containing %q", err, code, contains)
	}
}

func macKeySpec(alg kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm) *kmspb.CryptoKey {
	return &kmspb.CryptoKey{Purpose: kmspb.CryptoKey_MAC, VersionTemplate: &kmspb.CryptoKeyVersionTemplate{Algorithm: alg}}
}

func createMACKey(t *testing.T, c *kmsapi.KeyManagementClient) *kmspb.CryptoKey {
	t.Helper()
	if _, err := c.CreateKeyRing(ctx(t), &kmspb.CreateKeyRingRequest{Parent: location, KeyRingId: "snapshots"}); err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateCryptoKey(ctx(t), &kmspb.CreateCryptoKeyRequest{Parent: ring, CryptoKeyId: "manifests", CryptoKey: macKeySpec(kmspb.CryptoKeyVersion_HMAC_SHA256)})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyRingsAndKeys(t *testing.T) {
	_, c := serve(t, t.TempDir())
	k := createMACKey(t, c)
	if k.GetName() != macKey || k.GetPurpose() != kmspb.CryptoKey_MAC || k.GetPrimary() != nil ||
		k.GetVersionTemplate().GetAlgorithm() != kmspb.CryptoKeyVersion_HMAC_SHA256 {
		t.Fatalf("created key: %v", k)
	}
	if r, err := c.GetKeyRing(ctx(t), &kmspb.GetKeyRingRequest{Name: ring}); err != nil || r.GetName() != ring {
		t.Fatalf("GetKeyRing: %v %v", r, err)
	}
	if got, err := c.GetCryptoKey(ctx(t), &kmspb.GetCryptoKeyRequest{Name: macKey}); err != nil || got.GetName() != macKey {
		t.Fatalf("GetCryptoKey: %v %v", got, err)
	}
	v, err := c.GetCryptoKeyVersion(ctx(t), &kmspb.GetCryptoKeyVersionRequest{Name: macKey + "/cryptoKeyVersions/1"})
	if err != nil || v.GetState() != kmspb.CryptoKeyVersion_ENABLED || v.GetAlgorithm() != kmspb.CryptoKeyVersion_HMAC_SHA256 {
		t.Fatalf("version 1: %v %v", v, err)
	}

	_, err = c.CreateKeyRing(ctx(t), &kmspb.CreateKeyRingRequest{Parent: location, KeyRingId: "snapshots"})
	wantCode(t, err, codes.AlreadyExists, ring)
	_, err = c.CreateCryptoKey(ctx(t), &kmspb.CreateCryptoKeyRequest{Parent: ring, CryptoKeyId: "manifests", CryptoKey: macKeySpec(kmspb.CryptoKeyVersion_HMAC_SHA256)})
	wantCode(t, err, codes.AlreadyExists, macKey)
	_, err = c.GetKeyRing(ctx(t), &kmspb.GetKeyRingRequest{Name: location + "/keyRings/other"})
	wantCode(t, err, codes.NotFound, "keyRings/other")
	_, err = c.CreateCryptoKey(ctx(t), &kmspb.CreateCryptoKeyRequest{Parent: location + "/keyRings/other", CryptoKeyId: "k", CryptoKey: macKeySpec(kmspb.CryptoKeyVersion_HMAC_SHA256)})
	wantCode(t, err, codes.NotFound, "keyRings/other")
	_, err = c.GetCryptoKey(ctx(t), &kmspb.GetCryptoKeyRequest{Name: ring + "/cryptoKeys/other"})
	wantCode(t, err, codes.NotFound, "cryptoKeys/other")
	_, err = c.GetCryptoKeyVersion(ctx(t), &kmspb.GetCryptoKeyVersionRequest{Name: macKey + "/cryptoKeyVersions/2"})
	wantCode(t, err, codes.NotFound, "cryptoKeyVersions/2")

	for _, bad := range []struct {
		req      *kmspb.CreateCryptoKeyRequest
		code     codes.Code
		contains string
	}{
		{&kmspb.CreateCryptoKeyRequest{Parent: ring, CryptoKeyId: "e", CryptoKey: &kmspb.CryptoKey{Purpose: kmspb.CryptoKey_ENCRYPT_DECRYPT}}, codes.Unimplemented, "supports purpose MAC"},
		{&kmspb.CreateCryptoKeyRequest{Parent: ring, CryptoKeyId: "e", CryptoKey: &kmspb.CryptoKey{Purpose: kmspb.CryptoKey_MAC}}, codes.InvalidArgument, "crypto_key.version_template.algorithm: required"},
		{&kmspb.CreateCryptoKeyRequest{Parent: ring, CryptoKeyId: "e", CryptoKey: macKeySpec(kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION)}, codes.InvalidArgument, "HMAC_SHA256"},
		{&kmspb.CreateCryptoKeyRequest{Parent: ring, CryptoKeyId: "bad id", CryptoKey: macKeySpec(kmspb.CryptoKeyVersion_HMAC_SHA256)}, codes.InvalidArgument, "crypto_key_id"},
		{&kmspb.CreateCryptoKeyRequest{Parent: "projects/p/keyRings/r", CryptoKeyId: "e", CryptoKey: macKeySpec(kmspb.CryptoKeyVersion_HMAC_SHA256)}, codes.InvalidArgument, "parent"},
	} {
		_, err := c.CreateCryptoKey(ctx(t), bad.req)
		wantCode(t, err, bad.code, bad.contains)
	}
	_, err = c.CreateKeyRing(ctx(t), &kmspb.CreateKeyRingRequest{Parent: "projects/p/locations/us_east1", KeyRingId: "r"})
	wantCode(t, err, codes.InvalidArgument, "not a Cloud KMS location")
	for _, l := range []string{"us-eats1", "us-east1-b"} {
		_, err = c.CreateKeyRing(ctx(t), &kmspb.CreateKeyRingRequest{Parent: "projects/p/locations/" + l, KeyRingId: "r"})
		wantCode(t, err, codes.NotFound, "not available in location '"+l+"'")
	}
	for _, l := range []string{"us-east1", "europe", "nam4"} {
		if _, err := c.CreateKeyRing(ctx(t), &kmspb.CreateKeyRingRequest{Parent: "projects/p/locations/" + l, KeyRingId: "r"}); err != nil {
			t.Errorf("key ring in %s: %v", l, err)
		}
	}
	_, err = c.CreateKeyRing(ctx(t), &kmspb.CreateKeyRingRequest{Parent: location, KeyRingId: strings.Repeat("r", 64)})
	wantCode(t, err, codes.InvalidArgument, "key_ring_id")
	_, err = c.GetCryptoKeyVersion(ctx(t), &kmspb.GetCryptoKeyVersionRequest{Name: macKey + "/cryptoKeyVersions/01"})
	wantCode(t, err, codes.InvalidArgument, "not a positive number")
}

func TestMacSignAndVerify(t *testing.T) {
	dir := t.TempDir()
	_, c := serve(t, dir)
	createMACKey(t, c)
	v1 := macKey + "/cryptoKeyVersions/1"
	data := []byte(`{"object":"gs://b/o"}`)

	signed, err := c.MacSign(ctx(t), &kmspb.MacSignRequest{Name: v1, Data: data, DataCrc32C: wrapperspb.Int64(crc32c(data))})
	if err != nil {
		t.Fatal(err)
	}
	if signed.GetName() != v1 || len(signed.GetMac()) != sha256.Size || !signed.GetVerifiedDataCrc32C() ||
		signed.GetMacCrc32C().GetValue() != crc32c(signed.GetMac()) || signed.GetProtectionLevel() != kmspb.ProtectionLevel_SOFTWARE {
		t.Fatalf("MacSign: %v", signed)
	}
	// The MAC is HMAC-SHA256 with the key material kept on disk.
	material := readMaterial(t, dir, 0)
	h := hmac.New(sha256.New, material)
	h.Write(data)
	if !hmac.Equal(h.Sum(nil), signed.GetMac()) {
		t.Fatal("MAC is not HMAC-SHA256 of the data with the version's key")
	}
	unverified, err := c.MacSign(ctx(t), &kmspb.MacSignRequest{Name: v1, Data: data})
	if err != nil || unverified.GetVerifiedDataCrc32C() {
		t.Fatalf("MacSign without data_crc32c: %v %v", unverified, err)
	}

	ok, err := c.MacVerify(ctx(t), &kmspb.MacVerifyRequest{Name: v1, Data: data, Mac: signed.GetMac(),
		DataCrc32C: wrapperspb.Int64(crc32c(data)), MacCrc32C: wrapperspb.Int64(crc32c(signed.GetMac()))})
	if err != nil || !ok.GetSuccess() || !ok.GetVerifiedSuccessIntegrity() || !ok.GetVerifiedDataCrc32C() || !ok.GetVerifiedMacCrc32C() {
		t.Fatalf("MacVerify of the signed data: %v %v", ok, err)
	}
	tampered := append([]byte{}, data...)
	tampered[2] ^= 1
	bad, err := c.MacVerify(ctx(t), &kmspb.MacVerifyRequest{Name: v1, Data: tampered, Mac: signed.GetMac()})
	if err != nil || bad.GetSuccess() || bad.GetVerifiedSuccessIntegrity() {
		t.Fatalf("MacVerify of changed data: %v %v", bad, err)
	}

	_, err = c.MacSign(ctx(t), &kmspb.MacSignRequest{Name: v1, Data: data, DataCrc32C: wrapperspb.Int64(crc32c(data) + 1)})
	wantCode(t, err, codes.InvalidArgument, "data_crc32c")
	_, err = c.MacVerify(ctx(t), &kmspb.MacVerifyRequest{Name: v1, Data: data, Mac: signed.GetMac(), MacCrc32C: wrapperspb.Int64(0)})
	wantCode(t, err, codes.InvalidArgument, "mac_crc32c")
	_, err = c.MacSign(ctx(t), &kmspb.MacSignRequest{Name: v1, Data: make([]byte, maxMACData+1)})
	wantCode(t, err, codes.InvalidArgument, "data")
	_, err = c.MacSign(ctx(t), &kmspb.MacSignRequest{Name: macKey + "/cryptoKeyVersions/9", Data: data})
	wantCode(t, err, codes.NotFound, "cryptoKeyVersions/9")

	// A disabled version signs and verifies nothing; enabled again, it does.
	setState(t, c, v1, kmspb.CryptoKeyVersion_DISABLED)
	_, err = c.MacSign(ctx(t), &kmspb.MacSignRequest{Name: v1, Data: data})
	wantCode(t, err, codes.FailedPrecondition, "DISABLED")
	_, err = c.MacVerify(ctx(t), &kmspb.MacVerifyRequest{Name: v1, Data: data, Mac: signed.GetMac()})
	wantCode(t, err, codes.FailedPrecondition, "DISABLED")
	setState(t, c, v1, kmspb.CryptoKeyVersion_ENABLED)

	// A new version has its own key: v1's MAC does not verify with it.
	v2, err := c.CreateCryptoKeyVersion(ctx(t), &kmspb.CreateCryptoKeyVersionRequest{Parent: macKey})
	if err != nil || v2.GetName() != macKey+"/cryptoKeyVersions/2" || v2.GetState() != kmspb.CryptoKeyVersion_ENABLED {
		t.Fatalf("CreateCryptoKeyVersion: %v %v", v2, err)
	}
	other, err := c.MacVerify(ctx(t), &kmspb.MacVerifyRequest{Name: v2.GetName(), Data: data, Mac: signed.GetMac()})
	if err != nil || other.GetSuccess() {
		t.Fatalf("v1's MAC checked with v2: %v %v", other, err)
	}
}

func setState(t *testing.T, c *kmsapi.KeyManagementClient, name string, st kmspb.CryptoKeyVersion_CryptoKeyVersionState) {
	t.Helper()
	v, err := c.UpdateCryptoKeyVersion(ctx(t), &kmspb.UpdateCryptoKeyVersionRequest{
		CryptoKeyVersion: &kmspb.CryptoKeyVersion{Name: name, State: st},
		UpdateMask:       &fieldmaskpb.FieldMask{Paths: []string{"state"}},
	})
	if err != nil || v.GetState() != st {
		t.Fatalf("setting %s %s: %v %v", name, st, v, err)
	}
}

func readMaterial(t *testing.T, dir string, version int) []byte {
	t.Helper()
	k, err := loadKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	return k.CryptoKeys[macKey].Versions[version].Material
}

func TestListCryptoKeyVersions(t *testing.T) {
	_, c := serve(t, t.TempDir())
	createMACKey(t, c)
	for range 2 {
		if _, err := c.CreateCryptoKeyVersion(ctx(t), &kmspb.CreateCryptoKeyVersionRequest{Parent: macKey}); err != nil {
			t.Fatal(err)
		}
	}
	setState(t, c, macKey+"/cryptoKeyVersions/2", kmspb.CryptoKeyVersion_DISABLED)
	list := func(filter string) []string {
		var names []string
		it := c.ListCryptoKeyVersions(ctx(t), &kmspb.ListCryptoKeyVersionsRequest{Parent: macKey, Filter: filter, PageSize: 1})
		for {
			v, err := it.Next()
			if err == iterator.Done {
				return names
			}
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, v.GetName()[len(macKey)+len("/cryptoKeyVersions/"):])
		}
	}
	if got := strings.Join(list(""), ","); got != "1,2,3" {
		t.Fatalf("all versions: %s", got)
	}
	for _, f := range []string{"state=ENABLED", `state = "ENABLED"`} {
		if got := strings.Join(list(f), ","); got != "1,3" {
			t.Fatalf("versions with filter %s: %s", f, got)
		}
	}
	_, err := c.ListCryptoKeyVersions(ctx(t), &kmspb.ListCryptoKeyVersionsRequest{Parent: macKey, Filter: "state:ABLED"}).Next()
	wantCode(t, err, codes.Unimplemented, "state=STATE")
	_, err = c.ListCryptoKeyVersions(ctx(t), &kmspb.ListCryptoKeyVersionsRequest{Parent: macKey, Filter: "state=ON"}).Next()
	wantCode(t, err, codes.InvalidArgument, "filter")
	_, err = c.ListCryptoKeyVersions(ctx(t), &kmspb.ListCryptoKeyVersionsRequest{Parent: ring + "/cryptoKeys/none"}).Next()
	wantCode(t, err, codes.NotFound, "cryptoKeys/none")
}

// Keys and their material survive a restart, in a file only the owner can
// read.
func TestKeysPersist(t *testing.T) {
	dir := t.TempDir()
	_, c := serve(t, dir)
	createMACKey(t, c)
	data := []byte("manifest")
	signed, err := c.MacSign(ctx(t), &kmspb.MacSignRequest{Name: macKey + "/cryptoKeyVersions/1", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, keysFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", keysFile, fi.Mode().Perm())
	}

	_, again := serve(t, dir)
	ok, err := again.MacVerify(ctx(t), &kmspb.MacVerifyRequest{Name: macKey + "/cryptoKeyVersions/1", Data: data, Mac: signed.GetMac()})
	if err != nil || !ok.GetSuccess() {
		t.Fatalf("after a restart, the MAC made before does not verify: %v %v", ok, err)
	}
	if _, err := again.GetKeyRing(ctx(t), &kmspb.GetKeyRingRequest{Name: ring}); err != nil {
		t.Fatal(err)
	}
}
