package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
)

// maxStatusDocument bounds what is read of the published status object.
const maxStatusDocument = 4 << 20

// StorageNoticeSource reads the dependency notice from the status page's
// JSON feed in Cloud Storage: one metadata read (the generation) per poll,
// and the object itself only when its generation changed. The metadata API
// is not served from Cloud Storage's edge cache, so a new generation is
// seen at once whatever the object's Cache-Control.
type StorageNoticeSource struct {
	client *storage.Client
	uri    string
	obj    *storage.ObjectHandle
}

// NewStorageNoticeSource reads gs://BUCKET/OBJECT with the service's
// credentials, or from the Cloud Storage emulator at emulatorHost
// (host:port, plaintext) when set.
func NewStorageNoticeSource(ctx context.Context, uri, emulatorHost string) (*StorageNoticeSource, error) {
	bucket, object, err := parseGSURI(uri)
	if err != nil {
		return nil, err
	}
	var opts []option.ClientOption
	if emulatorHost != "" {
		opts = append(opts, option.WithEndpoint("http://"+emulatorHost+"/storage/v1/"), option.WithoutAuthentication())
	}
	c, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("cloud storage client: %w", err)
	}
	return &StorageNoticeSource{client: c, uri: uri, obj: c.Bucket(bucket).Object(object)}, nil
}

// Read implements NoticeSource.
func (s *StorageNoticeSource) Read(ctx context.Context, known int64) ([]byte, int64, error) {
	attrs, err := s.obj.Attrs(ctx)
	if err != nil {
		return nil, 0, err
	}
	if attrs.Generation == known {
		return nil, known, nil
	}
	r, err := s.obj.Generation(attrs.Generation).NewReader(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer r.Close()
	doc, err := io.ReadAll(io.LimitReader(r, maxStatusDocument+1))
	if err != nil {
		return nil, 0, err
	}
	if len(doc) > maxStatusDocument {
		return nil, 0, fmt.Errorf("%s is over %d bytes", s.uri, maxStatusDocument)
	}
	return doc, attrs.Generation, nil
}

func (s *StorageNoticeSource) String() string { return s.uri }

// Close releases the client.
func (s *StorageNoticeSource) Close() error { return s.client.Close() }

// parseGSURI splits gs://BUCKET/OBJECT.
func parseGSURI(uri string) (bucket, object string, err error) {
	rest, ok := strings.CutPrefix(uri, "gs://")
	bucket, object, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" || object == "" {
		return "", "", errors.New(uri + " is not gs://BUCKET/OBJECT")
	}
	return bucket, object, nil
}
