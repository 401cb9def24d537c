package snapshotsig

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"cloud.google.com/go/storage"
)

// ErrObjectMismatch: the snapshot object is not the one the manifest
// describes (rewritten, or its content or size differ).
var ErrObjectMismatch = errors.New("snapshot object does not match its manifest")

// CRC32CString is a CRC32C as Cloud Storage reports it in its JSON API
// and as a manifest records it: base64 of the big-endian 4 bytes.
func CRC32CString(sum uint32) string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, sum))
}

// CheckObject compares the snapshot object's attributes with what the
// manifest recorded: generation, CRC32C and size, in that order; the error
// wraps ErrObjectMismatch and names the first that differs.
func (m *Manifest) CheckObject(attrs *storage.ObjectAttrs) error {
	uri := "gs://" + attrs.Bucket + "/" + attrs.Name
	switch got := CRC32CString(attrs.CRC32C); {
	case uri != m.Object:
		return fmt.Errorf("%w: the manifest describes %s, not %s", ErrObjectMismatch, m.Object, uri)
	case attrs.Generation != m.Generation:
		return fmt.Errorf("%w: generation: %s is generation %d, the manifest recorded %d (the object was rewritten after the export)", ErrObjectMismatch, uri, attrs.Generation, m.Generation)
	case got != m.CRC32C:
		return fmt.Errorf("%w: crc32c: %s has CRC32C %s, the manifest recorded %s", ErrObjectMismatch, uri, got, m.CRC32C)
	case attrs.Size != m.SizeBytes:
		return fmt.Errorf("%w: size: %s is %d bytes, the manifest recorded %d", ErrObjectMismatch, uri, attrs.Size, m.SizeBytes)
	}
	return nil
}
