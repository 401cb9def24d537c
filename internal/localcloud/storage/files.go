package storage

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Objects as files. fake-gcs-server's filesystem backend keeps the bytes of
// gs://BUCKET/OBJECT unchanged in <root>/<BUCKET, path-escaped>/<OBJECT>,
// and the object's metadata (JSON) in that file's "user.metadata" extended
// attribute when the root folder supports extended attributes, else in
// <OBJECT>.metadata next to it. Every write replaces the file (a new file
// renamed into place), so a file is never changed once it holds an object.
// LinkObject and LinkFile use this layout directly so that snapshots move
// by hard link instead of through memory; LinkFile checks through
// fake-gcs-server that the object reads back as written.

var errShared = errors.New("the file holds another object")

func (s *Service) hasXattrMeta(path string) bool {
	_, err := unix.Getxattr(path, xattrMetadata, nil)
	return err == nil
}

// ErrNotLinkable is returned when a file cannot be hard-linked between the
// storage folder and another folder (another filesystem, or a filesystem
// without hard links); copy the bytes instead.
var ErrNotLinkable = errors.New("cannot hard-link across these folders")

const (
	xattrMetadata  = "user.metadata"
	metadataSuffix = ".metadata"
	// tmpPrefix names files being prepared in the root folder, where
	// fake-gcs-server only looks at folders (buckets).
	tmpPrefix = ".localcloud-tmp-"
	// timestampFormat is fake-gcs-server's format for stored times.
	timestampFormat = "2006-01-02T15:04:05.999999Z07:00"
)

// objectMeta is the metadata document fake-gcs-server stores for an object
// (its backend.ObjectAttrs; name, bucket and size are not stored).
type objectMeta struct {
	StorageClass         string
	ContentType          string
	ContentEncoding      string
	ContentDisposition   string
	ContentLanguage      string
	CacheControl         string
	Crc32c               string
	Md5Hash              string
	Etag                 string
	ACL                  json.RawMessage
	Metadata             map[string]string
	Created              string
	Deleted              string
	Updated              string
	CustomTime           string
	Generation           int64
	RetentionMode        string
	RetentionRetainUntil string
}

// xattrMetadataSupported tells where fake-gcs-server keeps object metadata
// for this root, with the test it makes itself: reading the attribute on
// the root folder either works or says there is no such attribute.
func xattrMetadataSupported(root string) bool {
	_, err := unix.Getxattr(root+"/", xattrMetadata, nil)
	return err == nil || errors.Is(err, unix.ENODATA)
}

// removeTempFiles removes what an interrupted LinkFile left in root.
func removeTempFiles(root string) {
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) && !e.IsDir() {
			os.Remove(filepath.Join(root, e.Name()))
		}
	}
}

// objectPath is the file that holds the object's bytes.
func (s *Service) objectPath(bucket, object string) (string, error) {
	if ValidObjectName(object) != nil || strings.HasSuffix(object, "/") {
		return "", fmt.Errorf("%w: %q is not a valid object name", ErrObjectNotFound, object)
	}
	return filepath.Join(s.root, url.PathEscape(bucket), filepath.FromSlash(object)), nil
}

func (s *Service) readMeta(linked, objPath string) (objectMeta, error) {
	var b []byte
	var err error
	if s.xattrMeta {
		b, err = getxattr(linked, xattrMetadata)
	} else {
		b, err = os.ReadFile(objPath + metadataSuffix)
	}
	if err != nil {
		return objectMeta{}, err
	}
	var m objectMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return objectMeta{}, fmt.Errorf("metadata of %s: %w", objPath, err)
	}
	return m, nil
}

func getxattr(path, name string) ([]byte, error) {
	buf := make([]byte, 1024)
	for {
		n, err := unix.Getxattr(path, name, buf)
		if errors.Is(err, unix.ERANGE) {
			size, err := unix.Getxattr(path, name, nil)
			if err != nil {
				return nil, err
			}
			buf = make([]byte, size+64)
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// LinkObject makes dst a new hard link to the file that holds the bytes of
// gs://bucket/object, so that they can be read (or kept) without a copy;
// the link keeps exactly those bytes even if the object is replaced or
// deleted afterwards. The returned info describes the linked bytes. It
// fails with an error wrapping ErrNotLinkable, and dst is not created, when
// dst cannot be a link to the storage folder's file (another filesystem):
// read the object with OpenObject then.
func (s *Service) LinkObject(bucket, object, dst string) (ObjectInfo, error) {
	if !s.BucketExists(bucket) {
		return ObjectInfo{}, fmt.Errorf("%w: gs://%s does not exist", ErrBucketNotFound, bucket)
	}
	notFound := fmt.Errorf("%w: gs://%s/%s does not exist", ErrObjectNotFound, bucket, object)
	p, err := s.objectPath(bucket, object)
	if err != nil {
		return ObjectInfo{}, notFound
	}
	if st, err := os.Lstat(p); err != nil || !st.Mode().IsRegular() {
		return ObjectInfo{}, notFound
	}
	if err := os.Link(p, dst); err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return ObjectInfo{}, notFound
		case errors.Is(err, fs.ErrExist):
			return ObjectInfo{}, err
		default:
			return ObjectInfo{}, fmt.Errorf("%w: %v", ErrNotLinkable, err)
		}
	}
	m, err := s.readMeta(dst, p)
	st, serr := os.Stat(dst)
	if err != nil || serr != nil {
		os.Remove(dst)
		if errors.Is(err, unix.ENODATA) || errors.Is(err, fs.ErrNotExist) {
			return ObjectInfo{}, notFound
		}
		return ObjectInfo{}, fmt.Errorf("storage: gs://%s/%s: %w", bucket, object, errors.Join(err, serr))
	}
	return ObjectInfo{Bucket: bucket, Name: object, Size: st.Size(), Generation: m.Generation, CRC32C: m.Crc32c, MD5: m.Md5Hash}, nil
}

// LinkFile stores the file at src as gs://bucket/object (replacing any
// object of that name) by hard-linking it into the storage folder, or by
// copying it when it cannot be linked, with the metadata the API then
// serves: a new generation, size, CRC32C and MD5 (computed in one read of
// the bytes), content type and creation time. The object, its metadata and
// its folder entry are on disk (fsync) when LinkFile returns. src must never
// be modified in place afterwards; replacing it by renaming another file
// over it, as redis-server does with its snapshots, is fine. The bucket must
// exist. known, if not nil, is the digest of src computed by the caller;
// it is used if src is still that file when it is linked.
func (s *Service) LinkFile(bucket, object, src, contentType string, known *KnownDigest) (ObjectInfo, error) {
	if !s.BucketExists(bucket) {
		return ObjectInfo{}, fmt.Errorf("%w: gs://%s does not exist", ErrBucketNotFound, bucket)
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	p, err := s.objectPath(bucket, object)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("%w %q: %v", ErrInvalidURI, "gs://"+bucket+"/"+object, err)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(s.root, tmpPrefix+hex.EncodeToString(rnd[:]))
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	var sums Digest
	err = os.Link(src, tmp)
	if err == nil && s.xattrMeta && s.hasXattrMeta(tmp) {
		// src already holds an object (its metadata is in the file's
		// inode): this object gets a copy of its own.
		os.Remove(tmp)
		err = errShared
	}
	if err == nil {
		f, err := os.Open(tmp)
		if err != nil {
			return ObjectInfo{}, err
		}
		st, err := f.Stat()
		if err == nil && known != nil && known.File != nil && os.SameFile(known.File, st) && known.Digest.Size == st.Size() {
			sums = known.Digest
		} else if err == nil {
			sums, err = hashCopy(nil, f)
		}
		if err == nil {
			err = f.Sync()
		}
		f.Close()
		if err != nil {
			return ObjectInfo{}, fmt.Errorf("storage: read %s: %w", src, err)
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		return ObjectInfo{}, err
	} else {
		if sums, err = copyFile(tmp, src); err != nil {
			return ObjectInfo{}, fmt.Errorf("storage: copy %s: %w", src, err)
		}
	}

	now := time.Now().UTC()
	zero := time.Time{}.Format(timestampFormat)
	m := objectMeta{
		StorageClass: "STANDARD",
		ContentType:  contentType,
		Crc32c:       encodeCRC32C(sums.CRC32C),
		Md5Hash:      base64.StdEncoding.EncodeToString(sums.MD5[:]),
		Created:      now.Format(timestampFormat),
		Deleted:      zero,
		Updated:      now.Format(timestampFormat),
		CustomTime:   zero,
		Generation:   now.UnixNano() / 1000,
	}
	m.Etag = m.Md5Hash
	meta, err := json.Marshal(m)
	if err != nil {
		return ObjectInfo{}, err
	}
	if s.xattrMeta {
		if err := unix.Setxattr(tmp, xattrMetadata, meta, 0); err != nil {
			return ObjectInfo{}, fmt.Errorf("storage: metadata of gs://%s/%s: %w", bucket, object, err)
		}
		// The attribute is part of the file's inode: make it durable.
		if err := syncPath(tmp); err != nil {
			return ObjectInfo{}, err
		}
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ObjectInfo{}, err
	}
	if err := os.Rename(tmp, p); err != nil {
		return ObjectInfo{}, fmt.Errorf("storage: write gs://%s/%s: %w", bucket, object, err)
	}
	ok = true
	if !s.xattrMeta {
		if err := s.writeFileSynced(p+metadataSuffix, meta); err != nil {
			return ObjectInfo{}, fmt.Errorf("storage: metadata of gs://%s/%s: %w", bucket, object, err)
		}
	}
	if err := syncPath(dir); err != nil {
		return ObjectInfo{}, err
	}
	info := ObjectInfo{Bucket: bucket, Name: object, Size: sums.Size, Generation: m.Generation, CRC32C: m.Crc32c, MD5: m.Md5Hash}
	// What the API will serve must be what was written.
	obj, err := s.srv.GetObjectStreaming(bucket, object)
	if err != nil {
		return info, fmt.Errorf("storage: gs://%s/%s does not read back after it was written: %w", bucket, object, err)
	}
	obj.Close()
	if obj.Size != info.Size || obj.Crc32c != info.CRC32C || obj.Md5Hash != info.MD5 || obj.Generation != info.Generation {
		// Another write of the same object may have come in between.
		return info, fmt.Errorf("storage: gs://%s/%s reads back as generation %d, %d bytes, crc32c %s; written: generation %d, %d bytes, crc32c %s",
			bucket, object, obj.Generation, obj.Size, obj.Crc32c, info.Generation, info.Size, info.CRC32C)
	}
	return info, nil
}

func encodeCRC32C(sum uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], sum)
	return base64.StdEncoding.EncodeToString(b[:])
}

// Digest is the size, CRC32C and MD5 of an object's bytes, the checksums
// Cloud Storage keeps.
type Digest struct {
	Size   int64
	CRC32C uint32
	MD5    [md5.Size]byte
}

// Digester computes a Digest of the bytes written to it.
type Digester struct {
	size int64
	crc  uint32
	md5  hash.Hash
}

// NewDigester returns an empty Digester.
func NewDigester() *Digester { return &Digester{md5: md5.New()} }

func (d *Digester) Write(p []byte) (int, error) {
	d.size += int64(len(p))
	d.crc = crc32.Update(d.crc, castagnoli, p)
	return d.md5.Write(p)
}

// Digest returns the digest of what was written so far.
func (d *Digester) Digest() Digest {
	g := Digest{Size: d.size, CRC32C: d.crc}
	d.md5.Sum(g.MD5[:0])
	return g
}

// KnownDigest is the digest of a file, computed by the caller, and the
// file it was computed from (os.SameFile decides whether it applies).
type KnownDigest struct {
	File   os.FileInfo
	Digest Digest
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// hashCopy reads r to the end, writing what it reads to w (if not nil), and
// returns the size, CRC32C and MD5 of the bytes. MD5, the slow one, runs on
// its own goroutine, fed the buffers as they are read.
func hashCopy(w io.Writer, r io.Reader) (Digest, error) {
	const bufSize, nbuf = 1 << 20, 4
	free := make(chan []byte, nbuf)
	for range nbuf {
		free <- make([]byte, bufSize)
	}
	full := make(chan []byte, nbuf)
	var sums Digest
	done := make(chan struct{})
	go func() {
		defer close(done)
		h := md5.New()
		for b := range full {
			h.Write(b)
			free <- b[:cap(b)]
		}
		h.Sum(sums.MD5[:0])
	}()
	var err error
	for {
		b := <-free
		var n int
		n, err = io.ReadFull(r, b)
		if n > 0 {
			sums.Size += int64(n)
			sums.CRC32C = crc32.Update(sums.CRC32C, castagnoli, b[:n])
			if w != nil {
				if _, werr := w.Write(b[:n]); werr != nil {
					err = werr
					break
				}
			}
			full <- b[:n]
		}
		if err != nil {
			break
		}
	}
	close(full)
	<-done
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil
	}
	return sums, err
}

func copyFile(dst, src string) (Digest, error) {
	in, err := os.Open(src)
	if err != nil {
		return Digest{}, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return Digest{}, err
	}
	sums, err := hashCopy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return sums, err
}

func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// writeFileSynced replaces path with data atomically and durably (the
// temporary file is in the root folder, out of every bucket listing).
func (s *Service) writeFileSynced(path string, data []byte) error {
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(s.root, tmpPrefix+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
