package snapshotsig

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"cloud.google.com/go/storage"
	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/kms"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

const (
	project    = "agentnet-test"
	bucket     = "dr-backups"
	trustedKey = "projects/agentnet-test/locations/us-central1/keyRings/backups/cryptoKeys/manifests"
	otherKey   = "projects/agentnet-test/locations/us-central1/keyRings/backups/cryptoKeys/other"
)

// clients starts localcloud in this process and returns the provider's
// clients of it, with the trusted and the other MAC key and the bucket
// created.
func clients(t *testing.T) *gcpclient.Clients {
	t.Helper()
	ctx := context.Background()
	srv, err := localcloud.Start(ctx, localcloud.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("starting localcloud: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	c, err := gcpclient.New(ctx, gcpclient.Config{Project: project, Region: "us-central1", EmulatorHost: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, k := range []string{trustedKey, otherKey} {
		if _, err := kms.EnsureMACKey(ctx, c.KMS, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Storage.Bucket(bucket).Create(ctx, project, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func manifest() *Manifest {
	return &Manifest{
		Version: CurrentVersion, Object: "gs://" + bucket + "/us-east1/relay-20260101T000000.000Z.rdb",
		Generation: 1767225600123456, CRC32C: "yZRlqg==", SizeBytes: 123456, KeyCount: 200,
		RedisVersion: "7.0.15", Instance: "projects/agentnet-test/locations/us-east1/instances/relay",
		// Not UTC: the signature must not depend on the zone it was made in.
		CreatedAt: time.Date(2026, 1, 1, 1, 0, 0, 123, time.FixedZone("CET", 3600)),
		State:     StateComplete, Operation: "projects/agentnet-test/locations/us-east1/operations/op-1",
	}
}

func TestSignWriteReadVerify(t *testing.T) {
	c := clients(t)
	ctx := testCtx(t)
	m := manifest()
	if err := Sign(ctx, c.KMS, trustedKey, m); err != nil {
		t.Fatal(err)
	}
	if m.KeyVersion != trustedKey+"/cryptoKeyVersions/1" || len(m.MAC) != 32 {
		t.Fatalf("signed with %q, MAC of %d bytes", m.KeyVersion, len(m.MAC))
	}
	if err := Write(ctx, c.Storage, m); err != nil {
		t.Fatal(err)
	}
	got, err := Read(ctx, c.Storage, m.Object)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(ctx, c.KMS, trustedKey, got); err != nil {
		t.Fatalf("a manifest read back does not verify: %v", err)
	}
	if !got.CreatedAt.Equal(m.CreatedAt) || got.KeyCount != 200 || got.Operation != m.Operation {
		t.Fatalf("read back %+v", got)
	}
}

func TestVerifyRefusals(t *testing.T) {
	c := clients(t)
	ctx := testCtx(t)
	signed := manifest()
	if err := Sign(ctx, c.KMS, trustedKey, signed); err != nil {
		t.Fatal(err)
	}
	byOther := manifest()
	if err := Sign(ctx, c.KMS, otherKey, byOther); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m *Manifest)) *Manifest {
		m := *signed
		f(&m)
		return &m
	}
	for name, tc := range map[string]struct {
		m        *Manifest
		want     error
		contains string
	}{
		"unsigned":            {manifest(), ErrUnsigned, "carries no MAC"},
		"key count changed":   {edit(func(m *Manifest) { m.KeyCount = 201 }), ErrBadMAC, "changed after it was signed"},
		"generation changed":  {edit(func(m *Manifest) { m.Generation++ }), ErrBadMAC, m0(signed)},
		"object changed":      {edit(func(m *Manifest) { m.Object += "x" }), ErrBadMAC, ""},
		"other key":           {byOther, ErrUntrustedKey, "not a version of the trusted key " + trustedKey},
		"key version renamed": {func() *Manifest { m := *byOther; m.KeyVersion = trustedKey + "/cryptoKeyVersions/1"; return &m }(), ErrBadMAC, ""},
		"key prefix only":     {edit(func(m *Manifest) { m.KeyVersion = trustedKey + "-2/cryptoKeyVersions/1" }), ErrUntrustedKey, ""},
		"exporting":           {edit(func(m *Manifest) { m.State = StateExporting }), ErrIncomplete, `state "exporting"`},
		"mac truncated":       {edit(func(m *Manifest) { m.MAC = m.MAC[:16] }), ErrBadMAC, ""},
	} {
		err := Verify(ctx, c.KMS, trustedKey, tc.m)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.contains) {
			t.Errorf("%s: got %v, want %v containing %q", name, err, tc.want, tc.contains)
		}
	}
	if err := Sign(ctx, c.KMS, trustedKey, edit(func(m *Manifest) { m.State = StateExporting })); !errors.Is(err, ErrIncomplete) {
		t.Errorf("signing an incomplete manifest: %v", err)
	}
}

// m0 is the manifest object's name, which refusals name.
func m0(m *Manifest) string { return ManifestObject(m.Object) }

// After a rotation new manifests are signed with the new version; those
// signed before still verify until their version is disabled.
func TestRotation(t *testing.T) {
	c := clients(t)
	ctx := testCtx(t)
	old := manifest()
	if err := Sign(ctx, c.KMS, trustedKey, old); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KMS.CreateCryptoKeyVersion(ctx, &kmspb.CreateCryptoKeyVersionRequest{Parent: trustedKey}); err != nil {
		t.Fatal(err)
	}
	m := manifest()
	if err := Sign(ctx, c.KMS, trustedKey, m); err != nil {
		t.Fatal(err)
	}
	if m.KeyVersion != trustedKey+"/cryptoKeyVersions/2" {
		t.Fatalf("signed with %s after the rotation", m.KeyVersion)
	}
	if err := Verify(ctx, c.KMS, trustedKey, old); err != nil {
		t.Fatalf("a manifest signed before the rotation: %v", err)
	}
	if _, err := c.KMS.UpdateCryptoKeyVersion(ctx, &kmspb.UpdateCryptoKeyVersionRequest{
		CryptoKeyVersion: &kmspb.CryptoKeyVersion{Name: old.KeyVersion, State: kmspb.CryptoKeyVersion_DISABLED},
		UpdateMask:       &fieldmaskpb.FieldMask{Paths: []string{"state"}},
	}); err != nil {
		t.Fatal(err)
	}
	err := Verify(ctx, c.KMS, trustedKey, old)
	if status.Code(errors.Unwrap(err)) != codes.FailedPrecondition || !strings.Contains(err.Error(), old.KeyVersion) {
		t.Fatalf("verifying with a disabled version: %v", err)
	}
}

func TestRead(t *testing.T) {
	c := clients(t)
	ctx := testCtx(t)
	m := manifest()
	if _, err := Read(ctx, c.Storage, m.Object); !errors.Is(err, ErrNoManifest) || !strings.Contains(err.Error(), ManifestObject(m.Object)) {
		t.Fatalf("no manifest: %v", err)
	}
	if err := Write(ctx, c.Storage, m); err != nil {
		t.Fatal(err)
	}
	// A manifest copied next to another object does not describe it.
	w := c.Storage.Bucket(bucket).Object(ManifestObject("copy.rdb")).NewWriter(ctx)
	r, err := c.Storage.Bucket(bucket).Object(ManifestObject(strings.TrimPrefix(m.Object, "gs://"+bucket+"/"))).NewReader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, r); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(ctx, c.Storage, "gs://"+bucket+"/copy.rdb"); err == nil || !strings.Contains(err.Error(), "describes") {
		t.Fatalf("a copied manifest: %v", err)
	}
	if _, err := Read(ctx, c.Storage, "s3://b/o"); err == nil || !strings.Contains(err.Error(), "gs://BUCKET/OBJECT") {
		t.Fatalf("a bad URI: %v", err)
	}
}

// A manifest written for an object matches its attributes; after the
// object is rewritten it no longer does, and the refusal names the check.
func TestCheckObject(t *testing.T) {
	c := clients(t)
	ctx := testCtx(t)
	obj := c.Storage.Bucket(bucket).Object("snap.rdb")
	write := func(data string) *storage.ObjectAttrs {
		t.Helper()
		w := obj.NewWriter(ctx)
		if _, err := w.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return w.Attrs()
	}
	attrs := write("REDIS0010 first")
	m := &Manifest{Version: CurrentVersion, Object: "gs://" + bucket + "/snap.rdb", Generation: attrs.Generation,
		CRC32C: CRC32CString(attrs.CRC32C), SizeBytes: attrs.Size, State: StateComplete}
	got, err := obj.Attrs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CheckObject(got); err != nil {
		t.Fatalf("the object the manifest was made from: %v", err)
	}
	rewritten := write("REDIS0010 other")
	for name, tc := range map[string]struct {
		attrs *storage.ObjectAttrs
		want  string
	}{
		"rewritten": {rewritten, "generation:"},
		"crc32c":    {&storage.ObjectAttrs{Bucket: bucket, Name: "snap.rdb", Generation: m.Generation, CRC32C: attrs.CRC32C + 1, Size: m.SizeBytes}, "crc32c:"},
		"size":      {&storage.ObjectAttrs{Bucket: bucket, Name: "snap.rdb", Generation: m.Generation, CRC32C: attrs.CRC32C, Size: m.SizeBytes + 1}, "size:"},
		"other":     {&storage.ObjectAttrs{Bucket: bucket, Name: "other.rdb", Generation: m.Generation, CRC32C: attrs.CRC32C, Size: m.SizeBytes}, "describes"},
	} {
		if err := m.CheckObject(tc.attrs); !errors.Is(err, ErrObjectMismatch) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want ErrObjectMismatch naming %q", name, err, tc.want)
		}
	}
}

func TestCryptoKeyRE(t *testing.T) {
	for name, want := range map[string]bool{
		trustedKey: true,
		"projects/p/locations/global/keyRings/r_1/cryptoKeys/K-2": true,
		trustedKey + "/cryptoKeyVersions/1":                       false,
		"projects/p/locations/global/keyRings/r":                  false,
		"projects/p/locations/global/keyRings/r/cryptoKeys/a b":   false,
		"cryptoKeys/k": false,
	} {
		if CryptoKeyRE.MatchString(name) != want {
			t.Errorf("%s: matched %v, want %v", name, !want, want)
		}
	}
}
