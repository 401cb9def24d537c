package resources

import (
	"errors"

	"cloud.google.com/go/storage"
	"strings"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/snapshotsig"
)

// One case per check a restore makes: each refusal names its check and the
// attribute, and says the instance was not touched.
func TestCheckSnapshot(t *testing.T) {
	taken := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	// An object and the manifest its export wrote.
	good := func() (*storage.ObjectAttrs, *snapshotsig.Manifest) {
		return &storage.ObjectAttrs{Bucket: "b", Name: "relay/s.rdb", Generation: 7, Size: 4096, Created: taken},
			&snapshotsig.Manifest{Object: "gs://b/relay/s.rdb", Generation: 7, CRC32C: "AAAAAA==", SizeBytes: 4096,
				KeyCount: 200, CreatedAt: taken, MAC: []byte{1}, State: snapshotsig.StateComplete}
	}
	signed := restoreRules{SigningKey: "projects/p/locations/global/keyRings/r/cryptoKeys/k"}
	verifies := func(*snapshotsig.Manifest) error { return nil }
	forged := func(*snapshotsig.Manifest) error { return errors.New("MAC does not verify") }

	for _, tc := range []struct {
		name   string
		rules  restoreRules
		facts  func(a *storage.ObjectAttrs, m **snapshotsig.Manifest)
		verify func(*snapshotsig.Manifest) error
		check  string // "" when the snapshot passes
		attr   string
	}{
		{name: "a signed snapshot passes", rules: signed},
		{name: "rewritten object", rules: restoreRules{SigningKey: signed.SigningKey, SourceGeneration: 6},
			check: nameGeneration, attr: "source_generation"},
		{name: "checksum differs", rules: restoreRules{SigningKey: signed.SigningKey, ExpectedCRC32C: "BBBBBB=="},
			check: nameCRC32C, attr: "expected_crc32c"},
		{name: "written after the corruption", rules: restoreRules{SigningKey: signed.SigningKey, CreatedBefore: taken},
			check: nameCreatedBefore, attr: "created_before"},
		{name: "written before the corruption", rules: restoreRules{SigningKey: signed.SigningKey, CreatedBefore: taken.Add(time.Second)}},
		{name: "manifest claims a later time", rules: restoreRules{SigningKey: signed.SigningKey, CreatedBefore: taken.Add(time.Second)},
			facts: func(_ *storage.ObjectAttrs, m **snapshotsig.Manifest) { (*m).CreatedAt = taken.Add(time.Minute) }, check: nameCreatedBefore, attr: "created_before"},
		{name: "object rewritten under its manifest", rules: signed,
			facts: func(a *storage.ObjectAttrs, _ **snapshotsig.Manifest) { a.Generation = 8 }, check: nameManifest, attr: "source"},
		{name: "size differs from the manifest", rules: signed,
			facts: func(a *storage.ObjectAttrs, _ **snapshotsig.Manifest) { a.Size = 10 }, check: nameManifest, attr: "source"},
		{name: "manifest of another object", rules: signed,
			facts: func(_ *storage.ObjectAttrs, m **snapshotsig.Manifest) { (*m).Object = "gs://b/relay/other.rdb" }, check: nameManifest, attr: "source"},
		{name: "export unfinished", rules: signed,
			facts: func(_ *storage.ObjectAttrs, m **snapshotsig.Manifest) { (*m).State = snapshotsig.StateExporting }, check: nameManifest, attr: "source"},
		{name: "forged signature", rules: signed, verify: forged, check: nameSignature, attr: "signing_key"},
		{name: "forged signature with allow_unsigned", rules: restoreRules{SigningKey: signed.SigningKey, AllowUnsigned: true},
			verify: forged, check: nameSignature, attr: "signing_key"},
		{name: "unsigned manifest", rules: signed, facts: func(_ *storage.ObjectAttrs, m **snapshotsig.Manifest) { (*m).MAC = nil },
			check: nameSignature, attr: "signing_key"},
		{name: "no manifest", rules: signed, facts: func(_ *storage.ObjectAttrs, m **snapshotsig.Manifest) { *m = nil },
			check: nameSignature, attr: "signing_key"},
		{name: "no manifest, allow_unsigned", rules: restoreRules{AllowUnsigned: true}, facts: func(_ *storage.ObjectAttrs, m **snapshotsig.Manifest) { *m = nil }},
		{name: "no keys", rules: signed, facts: func(_ *storage.ObjectAttrs, m **snapshotsig.Manifest) { (*m).KeyCount = 0 },
			check: nameNonEmpty, attr: "allow_empty"},
		{name: "no keys, allow_empty", rules: restoreRules{SigningKey: signed.SigningKey, AllowEmpty: true},
			facts: func(_ *storage.ObjectAttrs, m **snapshotsig.Manifest) { (*m).KeyCount = 0 }},
		{name: "below min_size_bytes", rules: restoreRules{SigningKey: signed.SigningKey, MinSizeBytes: 5000},
			check: nameNonEmpty, attr: "allow_empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, m := good()
			if tc.facts != nil {
				tc.facts(a, &m)
			}
			f := factsOf(a, m)
			verify := tc.verify
			if verify == nil {
				verify = verifies
			}
			ref := checkSnapshot(tc.rules, f, verify)
			switch {
			case tc.check == "" && ref != nil:
				t.Fatalf("refused: %s: %s", ref.Summary, ref.Detail)
			case tc.check == "":
			case ref == nil:
				t.Fatalf("passed; want the %s check to refuse it", tc.check)
			case ref.Check != tc.check || ref.Attr.String() != tc.attr:
				t.Fatalf("refused by the %s check on %s; want %s on %s (%s)", ref.Check, ref.Attr, tc.check, tc.attr, ref.Detail)
			case !strings.HasPrefix(ref.Detail, "The "+tc.check+" check failed: ") || !strings.HasSuffix(ref.Detail, "The instance was not touched."):
				t.Fatalf("detail does not name the check and the outcome: %q", ref.Detail)
			}
		})
	}
}

// The restore's intent label names the pinned source, and only that one.
func TestRestoreIntentLabel(t *testing.T) {
	since := time.Unix(1795000000, 0)
	i := restoreIntent{Source: "gs://b/relay/s.rdb#7", Since: since}
	v := i.label()
	if len(v) > 63 || strings.ToLower(v) != v {
		t.Fatalf("label value %q is not a valid Google Cloud label value", v)
	}
	labels := map[string]string{restoreLabelKey: v, "managed-by": "agentnet"}
	if got, ok := intentFrom(labels, i.Source); !ok || !got.Equal(since) {
		t.Fatalf("intentFrom(own source) = %v, %v; want %v", got, ok, since)
	}
	if _, ok := intentFrom(labels, "gs://b/relay/s.rdb#8"); ok {
		t.Fatal("the label of generation 7 was taken for generation 8")
	}
	if got := withoutProviderLabels(labels); len(got) != 0 {
		t.Fatalf("the labels attribute would show %v", got)
	}
}
