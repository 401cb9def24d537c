package resources

import (
	"fmt"
	"time"

	"cloud.google.com/go/storage"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/agentnet/terraform-provider-agentnet/internal/snapshotsig"
)

// The checks a restore makes before it touches the instance. Each is a pure
// function of what was asked and what the snapshot is, and a failed one is a
// refusal that names it: the instance is left alone.

// snapshotFacts is what is known of one snapshot before it is imported: the
// object's metadata from Cloud Storage and its manifest, if it has one.
type snapshotFacts struct {
	URI        gcsURI
	Generation int64
	CRC32C     string
	SizeBytes  int64
	Created    time.Time
	// Manifest is nil for a snapshot without one.
	Manifest *snapshotsig.Manifest
	// countedKeys is the key count read from the snapshot itself, for one
	// without a manifest; nil when not counted.
	countedKeys *int64

	attrs *storage.ObjectAttrs
}

// factsOf describes the object a and its manifest m (nil: none).
func factsOf(a *storage.ObjectAttrs, m *snapshotsig.Manifest) snapshotFacts {
	return snapshotFacts{
		URI:        gcsURI{a.Bucket, a.Name},
		Generation: a.Generation,
		CRC32C:     crc32cString(a.CRC32C),
		SizeBytes:  a.Size,
		Created:    a.Created,
		Manifest:   m,
		attrs:      a,
	}
}

// keyCount is the snapshot's key count from its manifest, or as counted
// in the snapshot; ok is false when neither is known.
func (f snapshotFacts) keyCount() (n int64, ok bool) {
	switch {
	case f.Manifest != nil:
		return f.Manifest.KeyCount, true
	case f.countedKeys != nil:
		return *f.countedKeys, true
	}
	return 0, false
}

// signed tells whether the snapshot's manifest carries a MAC.
func (f snapshotFacts) signed() bool { return f.Manifest != nil && len(f.Manifest.MAC) > 0 }

// restoreRules is what a restore asks of the snapshot it imports.
type restoreRules struct {
	// SourceGeneration and ExpectedCRC32C pin the object; zero values pin
	// nothing.
	SourceGeneration int64
	ExpectedCRC32C   string
	// CreatedBefore, when set, is the time (of the corruption) the snapshot
	// must be older than.
	CreatedBefore time.Time
	MinSizeBytes  int64
	AllowEmpty    bool
	AllowUnsigned bool
	// SigningKey is the Cloud KMS key trusted to sign manifests.
	SigningKey string
}

// refusal is a failed check: the attribute it concerns, a summary and a
// detail that names the check.
type refusal struct {
	Attr    path.Path
	Check   string
	Summary string
	Detail  string
}

func refuse(attr, check, summary, format string, args ...any) *refusal {
	return &refusal{
		Attr:    path.Root(attr),
		Check:   check,
		Summary: summary,
		Detail:  fmt.Sprintf("The %s check failed: %s. The instance was not touched.", check, fmt.Sprintf(format, args...)),
	}
}

// Names of the checks, as refusals and the documentation call them.
const (
	nameGeneration    = "generation"
	nameCRC32C        = "CRC32C"
	nameCreatedBefore = "created_before"
	nameManifest      = "manifest"
	nameNonEmpty      = "non-empty"
	nameSignature     = "signature"
)

// checkObject checks the object against the pinned generation and checksum
// and the time it must predate.
func checkObject(r restoreRules, f snapshotFacts) *refusal {
	if r.SourceGeneration != 0 && r.SourceGeneration != f.Generation {
		return refuse("source_generation", nameGeneration, "Snapshot was rewritten",
			"%s has generation %d, expected %d: the object was replaced after the snapshot was taken", f.URI, f.Generation, r.SourceGeneration)
	}
	if r.ExpectedCRC32C != "" && r.ExpectedCRC32C != f.CRC32C {
		return refuse("expected_crc32c", nameCRC32C, "Snapshot checksum mismatch",
			"%s has CRC32C %s, expected %s: the snapshot was changed or corrupted", f.URI, f.CRC32C, r.ExpectedCRC32C)
	}
	if !r.CreatedBefore.IsZero() {
		if created := f.createdAt(); !created.Before(r.CreatedBefore) {
			return refuse("created_before", nameCreatedBefore, "Snapshot is newer than created_before",
				"%s was written at %s, not before %s: it may hold the data the restore is meant to undo",
				f.URI, created.UTC().Format(time.RFC3339), r.CreatedBefore.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// createdAt is the later of the object's creation and its manifest's
// claim: a rewritten object is as new as its newest bytes.
func (f snapshotFacts) createdAt() time.Time {
	if f.Manifest != nil && f.Manifest.CreatedAt.After(f.Created) {
		return f.Manifest.CreatedAt
	}
	return f.Created
}

// checkManifest checks that the manifest describes this very object, as
// the finished export wrote it: its name, generation, checksum and size.
func checkManifest(f snapshotFacts) *refusal {
	m := f.Manifest
	if m == nil {
		return nil
	}
	if m.State != snapshotsig.StateComplete {
		return refuse("source", nameManifest, "Snapshot does not match its manifest",
			"the manifest of %s is in state %q: the export that wrote it did not finish", f.URI, m.State)
	}
	if err := m.CheckObject(f.attrs); err != nil {
		return refuse("source", nameManifest, "Snapshot does not match its manifest",
			"%v: the object was rewritten or the manifest belongs to another snapshot", err)
	}
	return nil
}

// emptyReason says why a snapshot counts as empty under r, or "" when it
// does not. A snapshot whose key count is unknown can only be empty by its
// size.
func emptyReason(r restoreRules, f snapshotFacts) string {
	if r.AllowEmpty {
		return ""
	}
	if n, ok := f.keyCount(); ok && n == 0 {
		return "it holds no keys"
	}
	if f.SizeBytes < r.MinSizeBytes {
		return fmt.Sprintf("it is %d bytes, less than min_size_bytes (%d)", f.SizeBytes, r.MinSizeBytes)
	}
	return ""
}

// checkNotEmpty refuses an empty snapshot unless allow_empty is set.
func checkNotEmpty(r restoreRules, f snapshotFacts) *refusal {
	if why := emptyReason(r, f); why != "" {
		return refuse("allow_empty", nameNonEmpty, "Snapshot is empty",
			"%s is empty: %s. Restoring it would delete every key; set allow_empty = true if that is intended", f.URI, why)
	}
	return nil
}

// checkSignature refuses a snapshot whose manifest is missing, unsigned or
// signed by another key than signing_key, unless allow_unsigned is set.
// verify checks the manifest's MAC with the trusted key. A MAC that does
// not verify is refused even with allow_unsigned when a key is given: a
// forgery is never acceptable, an unsigned snapshot may be.
func checkSignature(r restoreRules, f snapshotFacts, verify func(*snapshotsig.Manifest) error) *refusal {
	if r.SigningKey != "" && f.signed() {
		if err := verify(f.Manifest); err != nil {
			return refuse("signing_key", nameSignature, "Snapshot signature is not valid",
				"the manifest of %s is not signed by %s (%v): the snapshot may be forged", f.URI, r.SigningKey, err)
		}
		return nil
	}
	if r.AllowUnsigned {
		return nil
	}
	what := "has no manifest"
	switch {
	case f.Manifest != nil && !f.signed():
		what = "has a manifest without a signature"
	case f.Manifest != nil:
		what = "is signed, but no signing_key is given to verify it with"
	}
	return refuse("signing_key", nameSignature, "Snapshot is not signed",
		"%s %s; a restore imports only snapshots whose manifest verifies with signing_key. Set allow_unsigned = true to restore it anyway", f.URI, what)
}

// checkSnapshot runs every check in order, the cheapest first.
func checkSnapshot(r restoreRules, f snapshotFacts, verify func(*snapshotsig.Manifest) error) *refusal {
	for _, check := range []func() *refusal{
		func() *refusal { return checkObject(r, f) },
		func() *refusal { return checkManifest(f) },
		func() *refusal { return checkSignature(r, f, verify) },
		func() *refusal { return checkNotEmpty(r, f) },
	} {
		if ref := check(); ref != nil {
			return ref
		}
	}
	return nil
}
