package snapshotsig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"cloud.google.com/go/storage"
)

// SplitURI splits gs://BUCKET/OBJECT.
func SplitURI(uri string) (bucket, object string, err error) {
	rest, ok := strings.CutPrefix(uri, "gs://")
	bucket, object, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || bucket == "" || object == "" {
		return "", "", fmt.Errorf("%q is not a Cloud Storage object URI (gs://BUCKET/OBJECT)", uri)
	}
	return bucket, object, nil
}

// maxManifestBytes bounds what Read accepts: a manifest is well under 1 KiB.
const maxManifestBytes = 64 * 1024

// Read reads the manifest of the snapshot object objectURI
// (gs://BUCKET/OBJECT), wrapping ErrNoManifest when there is none.
func Read(ctx context.Context, s *storage.Client, objectURI string) (*Manifest, error) {
	bucket, object, err := SplitURI(objectURI)
	if err != nil {
		return nil, err
	}
	uri := ManifestObject(objectURI)
	r, err := s.Bucket(bucket).Object(ManifestObject(object)).NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist", ErrNoManifest, uri)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", uri, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", uri, err)
	}
	if len(b) > maxManifestBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a snapshot manifest", uri, maxManifestBytes)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s is not a snapshot manifest: %w", uri, err)
	}
	if m.Object != objectURI {
		return nil, fmt.Errorf("%s describes %q, not %s", uri, m.Object, objectURI)
	}
	return &m, nil
}

// Write writes m as the manifest of m.Object, replacing any earlier one.
func Write(ctx context.Context, s *storage.Client, m *Manifest) error {
	bucket, object, err := SplitURI(m.Object)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	w := s.Bucket(bucket).Object(ManifestObject(object)).NewWriter(ctx)
	w.ContentType = "application/json"
	if _, err := w.Write(append(b, '\n')); err != nil {
		w.Close()
		return fmt.Errorf("writing %s: %w", ManifestObject(m.Object), err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", ManifestObject(m.Object), err)
	}
	return nil
}
