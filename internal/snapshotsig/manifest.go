// Package snapshotsig describes a Redis snapshot in a manifest object next
// to it and signs the manifest with a Cloud KMS MAC key, so that a restore
// can tell a snapshot the provider exported from one written by anybody
// else who can write to the bucket: the object's CRC32C and generation say
// that the bytes did not change since they were written, not who wrote them.
//
// The manifest of gs://BUCKET/OBJECT is the JSON object
// gs://BUCKET/OBJECT.manifest.json (ManifestObject). It is written twice by
// an export: first with state "exporting" and the export's operation name,
// before the export starts (so that an export interrupted by a kill can be
// found and awaited instead of started again), then with state "complete"
// and the snapshot's generation, CRC32C, size, key count and Redis version,
// signed when a key is configured.
//
// The MAC is Cloud KMS MacSign (purpose MAC, an HMAC algorithm) over the
// manifest's canonical bytes (Canonical): the manifest's JSON encoding with
// mac left out, which is, in this order,
//
//	version, object, generation, crc32c, size_bytes, key_count,
//	redis_version, instance, created_at (RFC 3339, UTC), key_version,
//	state, operation (left out when empty)
//
// without spaces, as encoding/json writes them. Any new field changes the
// bytes signed and so needs a new Version. Only a complete manifest is
// signed or verified.
package snapshotsig

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// CurrentVersion is the manifest format written.
const CurrentVersion = 1

// Manifest states.
const (
	// StateExporting: the export was asked for (Operation names it); the
	// snapshot fields are not filled in yet.
	StateExporting = "exporting"
	// StateComplete: the export finished and the fields describe the object.
	StateComplete = "complete"
)

// Manifest describes one snapshot object.
type Manifest struct {
	Version      int       `json:"version"`
	Object       string    `json:"object"`     // gs://BUCKET/OBJECT
	Generation   int64     `json:"generation"` // of Object
	CRC32C       string    `json:"crc32c"`     // base64 big-endian, as Cloud Storage reports it
	SizeBytes    int64     `json:"size_bytes"`
	KeyCount     int64     `json:"key_count"`
	RedisVersion string    `json:"redis_version"`
	Instance     string    `json:"instance"` // projects/P/locations/R/instances/I
	CreatedAt    time.Time `json:"created_at"`
	// KeyVersion is the CryptoKeyVersion that computed MAC; empty when
	// unsigned.
	KeyVersion string `json:"key_version"`
	State      string `json:"state"` // StateExporting or StateComplete
	// Operation is the Memorystore export operation writing Object.
	Operation string `json:"operation,omitempty"`
	// MAC is the MacSign result over Canonical(); empty when unsigned.
	MAC []byte `json:"mac,omitempty"`
}

// ManifestObject is the name of the manifest of a snapshot object (an
// object name or a gs:// URI): "<object>.manifest.json".
func ManifestObject(object string) string { return object + ".manifest.json" }

// Canonical returns the bytes the MAC covers: the manifest's JSON without
// mac, created_at in UTC.
func (m *Manifest) Canonical() ([]byte, error) {
	c := *m
	c.MAC = nil
	c.CreatedAt = c.CreatedAt.UTC()
	return json.Marshal(&c)
}

// Signed reports whether the manifest carries a MAC.
func (m *Manifest) Signed() bool { return len(m.MAC) > 0 }

// Errors of Verify and Read; the returned errors wrap them and say more.
var (
	// ErrNoManifest: the snapshot has no manifest object.
	ErrNoManifest = errors.New("no manifest")
	// ErrUnsigned: the manifest carries no MAC.
	ErrUnsigned = errors.New("manifest is not signed")
	// ErrUntrustedKey: the manifest was signed with a key other than the
	// trusted one.
	ErrUntrustedKey = errors.New("manifest signed with an untrusted key")
	// ErrBadMAC: the MAC does not match the manifest: it was changed after
	// signing, or the MAC was not made by the trusted key.
	ErrBadMAC = errors.New("manifest signature does not match")
	// ErrIncomplete: the manifest is not in state complete (an export that
	// did not finish, or was interrupted).
	ErrIncomplete = errors.New("manifest is not complete")
)

// checkComplete refuses a manifest that is not a finished, version 1 one.
func (m *Manifest) checkComplete() error {
	if m.State != StateComplete {
		return fmt.Errorf("%w: %s has state %q (an export still running or interrupted), want %q", ErrIncomplete, ManifestObject(m.Object), m.State, StateComplete)
	}
	if m.Version != CurrentVersion {
		return fmt.Errorf("%s: manifest version %d is not supported (this provider reads version %d)", ManifestObject(m.Object), m.Version, CurrentVersion)
	}
	return nil
}
