// Package storage emulates the Cloud Storage JSON API for localcloud by
// embedding github.com/fsouza/fake-gcs-server/fakestorage. Buckets and objects
// are stored on disk under <DataDir>/gcs and survive restarts.
//
// The handler is mounted on localcloud's single listener; it answers the JSON
// API (/storage/v1/...), uploads (/upload/storage/v1/..., including
// resumable uploads at /upload/resumable/...), JSON downloads
// (/download/storage/v1/...) and the XML-style reads the Go client uses
// (GET /{bucket}/{object}).
//
// # Configuring the official Go client
//
// With localcloud listening on ADDR (for example 127.0.0.1:8790):
//
//	client, err := storage.NewClient(ctx,
//		option.WithEndpoint("http://ADDR/storage/v1/"),
//		option.WithoutAuthentication())
//
// Reads, writes (simple and resumable), Attrs, bucket and object listing and
// deletes all work this way: the client derives the read host from the
// endpoint, and localcloud rewrites the Host of every storage request to its
// own address, so "localhost:PORT" works as well as "127.0.0.1:PORT".
// Setting STORAGE_EMULATOR_HOST=ADDR (scheme optional, http is assumed) and
// calling storage.NewClient(ctx) without options works too, but it affects
// every storage client in the process, so the explicit options are
// preferred. Do not use storage.NewGRPCClient: localcloud serves the JSON
// API only.
//
// Writing an object through WriteObject or through HTTP holds the object
// in memory once while fake-gcs-server stores it; reads are streamed from
// disk. LinkFile and LinkObject move files in and out of the storage folder
// by hard link (see files.go), which is how Memorystore exports and imports
// snapshots.
package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// Errors returned by the helpers.
var (
	ErrBucketNotFound = errors.New("bucket not found")
	ErrObjectNotFound = errors.New("object not found")
	ErrInvalidURI     = errors.New("invalid Cloud Storage URI")
)

// Service is the embedded Cloud Storage emulator.
type Service struct {
	srv  *fakestorage.Server
	host string
	log  *slog.Logger
	root string
	// xattrMeta: object metadata is in an extended attribute of the
	// object's file, not in a file next to it.
	xattrMeta bool
	// OnMutation, if set before Handler is called, is told about every
	// completed mutating request (bucket and object inserts, updates and
	// deletes).
	OnMutation func(Mutation)
}

// New creates the emulator storing its data under root. addr is the
// host:port localcloud listens on; it is used as the public host and in
// resumable-upload locations.
func New(root, addr string, logger *slog.Logger) (*Service, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("storage: create %s: %w", root, err)
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	removeTempFiles(root)
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		StorageRoot: root,
		Scheme:      "http",
		NoListener:  true,
		PublicHost:  addr,
		ExternalURL: "http://" + addr,
	})
	if err != nil {
		return nil, fmt.Errorf("storage: start fake-gcs-server: %w", err)
	}
	return &Service{srv: srv, host: addr, log: logger, root: root, xattrMeta: xattrMetadataSupported(root)}, nil
}

// Handler serves the Cloud Storage HTTP APIs.
func (s *Service) Handler() http.Handler {
	h := audit(checkNames(s.accessControl(s.anonymousReads(s.srv.HTTPHandler()))), s.OnMutation)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// fake-gcs-server routes XML reads (/{bucket}/{object}) by matching
		// the Host against its public host.
		r.Host = s.host
		h.ServeHTTP(w, r)
	})
}

// Close stops the emulator.
func (s *Service) Close() { s.srv.Stop() }

var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$`)

// ValidBucketName reports whether name is an acceptable bucket name.
func ValidBucketName(name string) bool {
	return bucketRE.MatchString(name) && !strings.Contains(name, "..")
}

// ParseURI splits gs://bucket/object. The error wraps ErrInvalidURI and says
// what is wrong.
func ParseURI(uri string) (bucket, object string, err error) {
	rest, ok := strings.CutPrefix(uri, "gs://")
	if !ok {
		return "", "", fmt.Errorf("%w %q: must start with gs:// and have the form gs://BUCKET/OBJECT", ErrInvalidURI, uri)
	}
	bucket, object, ok = strings.Cut(rest, "/")
	if !ok || object == "" {
		return "", "", fmt.Errorf("%w %q: no object name; the form is gs://BUCKET/OBJECT", ErrInvalidURI, uri)
	}
	if !ValidBucketName(bucket) {
		return "", "", fmt.Errorf("%w %q: %q is not a valid bucket name (3-222 characters: lowercase letters, digits, '-', '_', '.')", ErrInvalidURI, uri, bucket)
	}
	if err := ValidObjectName(object); err != nil || strings.HasSuffix(object, "/") {
		return "", "", fmt.Errorf("%w %q: %q is not a valid object name", ErrInvalidURI, uri, object)
	}
	return bucket, object, nil
}

// BucketExists reports whether the bucket exists.
func (s *Service) BucketExists(bucket string) bool {
	if !ValidBucketName(bucket) {
		return false
	}
	_, err := s.srv.Backend().GetBucket(bucket)
	return err == nil
}

// CreateBucket creates a bucket (no error if it already exists).
func (s *Service) CreateBucket(bucket string) error {
	if !ValidBucketName(bucket) {
		return fmt.Errorf("storage: %q is not a valid bucket name", bucket)
	}
	s.srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	return nil
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Bucket, Name string
	Size         int64
	Generation   int64
	// CRC32C and MD5 are base64, as the JSON API reports them.
	CRC32C, MD5 string
}

// StatObject returns the object's size, or an error wrapping
// ErrBucketNotFound / ErrObjectNotFound.
func (s *Service) StatObject(bucket, object string) (ObjectInfo, error) {
	r, info, err := s.OpenObject(bucket, object)
	if err != nil {
		return ObjectInfo{}, err
	}
	r.Close()
	return info, nil
}

// OpenObject opens the object for streaming reads.
func (s *Service) OpenObject(bucket, object string) (io.ReadCloser, ObjectInfo, error) {
	if !s.BucketExists(bucket) {
		return nil, ObjectInfo{}, fmt.Errorf("%w: gs://%s does not exist", ErrBucketNotFound, bucket)
	}
	obj, err := s.srv.GetObjectStreaming(bucket, object)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "not found") || strings.Contains(err.Error(), "no such file") {
			return nil, ObjectInfo{}, fmt.Errorf("%w: gs://%s/%s does not exist", ErrObjectNotFound, bucket, object)
		}
		return nil, ObjectInfo{}, fmt.Errorf("storage: open gs://%s/%s: %w", bucket, object, err)
	}
	if obj.Content == nil {
		return nil, ObjectInfo{}, fmt.Errorf("%w: gs://%s/%s does not exist", ErrObjectNotFound, bucket, object)
	}
	return obj.Content, ObjectInfo{Bucket: bucket, Name: object, Size: obj.Size, Generation: obj.Generation, CRC32C: obj.Crc32c, MD5: obj.Md5Hash}, nil
}

// WriteFile stores the file at path as gs://bucket/object. The bucket must
// exist (ErrBucketNotFound otherwise).
func (s *Service) WriteFile(bucket, object, path, contentType string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return s.WriteObject(bucket, object, f, contentType)
}

// WriteObject stores content as gs://bucket/object. The bucket must exist.
func (s *Service) WriteObject(bucket, object string, content io.ReadSeeker, contentType string) error {
	if !s.BucketExists(bucket) {
		return fmt.Errorf("%w: gs://%s does not exist", ErrBucketNotFound, bucket)
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	err := s.srv.CreateObjectStreaming(fakestorage.StreamingObject{
		ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: object, ContentType: contentType},
		Content:     nopCloser{content},
	})
	if err != nil {
		return fmt.Errorf("storage: write gs://%s/%s: %w", bucket, object, err)
	}
	return nil
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }
