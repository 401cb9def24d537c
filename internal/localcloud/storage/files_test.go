package storage

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"errors"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	gcs "cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
)

// served is a Service behind a real HTTP listener, with the official
// client pointed at it.
type served struct {
	svc    *Service
	client *gcs.Client
	addr   string
	stop   func()
}

func serve(t *testing.T, root string) *served {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	svc, err := New(root, addr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: svc.Handler()}
	go func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("storage server: %v", err)
		}
	}()
	client, err := gcs.NewClient(context.Background(), option.WithEndpoint("http://"+addr+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			client.Close()
			hs.Close()
			svc.Close()
		}
	}
	t.Cleanup(stop)
	return &served{svc: svc, client: client, addr: addr, stop: stop}
}

func randomFile(t *testing.T, dir string, size int) (string, []byte) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	path := filepath.Join(dir, "dump.rdb")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, b
}

func readObject(t *testing.T, c *gcs.Client, bucket, object string) []byte {
	t.Helper()
	r, err := c.Bucket(bucket).Object(object).NewReader(context.Background())
	if err != nil {
		t.Fatalf("read gs://%s/%s: %v", bucket, object, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func listObjects(t *testing.T, c *gcs.Client, bucket string) []string {
	t.Helper()
	var names []string
	it := c.Bucket(bucket).Objects(context.Background(), nil)
	for {
		a, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatalf("list gs://%s: %v", bucket, err)
		}
		names = append(names, a.Name)
	}
	slices.Sort(names)
	return names
}

// checkAttrs checks what the API reports for an object against its bytes.
func checkAttrs(t *testing.T, a *gcs.ObjectAttrs, content []byte, info ObjectInfo, notBefore time.Time) {
	t.Helper()
	sum := md5.Sum(content)
	if a.Size != int64(len(content)) || a.CRC32C != crc32.Checksum(content, crc32.MakeTable(crc32.Castagnoli)) || !bytes.Equal(a.MD5, sum[:]) {
		t.Errorf("attrs: size %d crc32c %08x md5 %x; content: %d bytes, crc32c %08x, md5 %x",
			a.Size, a.CRC32C, a.MD5, len(content), crc32.Checksum(content, crc32.MakeTable(crc32.Castagnoli)), sum)
	}
	if a.Generation != info.Generation || a.Generation == 0 {
		t.Errorf("generation %d, LinkFile said %d", a.Generation, info.Generation)
	}
	if a.Created.Before(notBefore.Add(-time.Second)) || a.Created.After(time.Now().Add(time.Second)) || a.Updated.IsZero() {
		t.Errorf("created %v, updated %v; written after %v", a.Created, a.Updated, notBefore)
	}
	if a.ContentType != "application/octet-stream" || a.StorageClass != "STANDARD" {
		t.Errorf("content type %q, storage class %q", a.ContentType, a.StorageClass)
	}
}

func TestLinkFileIsServedByTheAPI(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := serve(t, root)
	if err := s.svc.CreateBucket("snaps"); err != nil {
		t.Fatal(err)
	}
	src, content := randomFile(t, t.TempDir(), 5<<20+123)
	before := time.Now()
	info, err := s.svc.LinkFile("snaps", "relay/us/snap.rdb", src, "", nil)
	if err != nil {
		t.Fatalf("LinkFile: %v", err)
	}
	a, err := s.client.Bucket("snaps").Object("relay/us/snap.rdb").Attrs(ctx)
	if err != nil {
		t.Fatalf("Attrs: %v", err)
	}
	checkAttrs(t, a, content, info, before)
	if info.Size != int64(len(content)) || info.CRC32C != encodeCRC32C(a.CRC32C) {
		t.Errorf("LinkFile info %+v", info)
	}
	// Linked, not copied.
	stSrc, _ := os.Stat(src)
	stObj, _ := os.Stat(filepath.Join(root, "snaps", "relay", "us", "snap.rdb"))
	if !os.SameFile(stSrc, stObj) {
		t.Errorf("the object is not a hard link to the source file")
	}
	if got := readObject(t, s.client, "snaps", "relay/us/snap.rdb"); !bytes.Equal(got, content) {
		t.Fatalf("read %d bytes, wrote %d", len(got), len(content))
	}
	// JSON reads and range reads.
	jc, err := gcs.NewClient(ctx, option.WithEndpoint("http://"+s.addr+"/storage/v1/"), option.WithoutAuthentication(), gcs.WithJSONReads())
	if err != nil {
		t.Fatal(err)
	}
	defer jc.Close()
	if got := readObject(t, jc, "snaps", "relay/us/snap.rdb"); !bytes.Equal(got, content) {
		t.Fatalf("JSON read %d bytes", len(got))
	}
	rr, err := s.client.Bucket("snaps").Object("relay/us/snap.rdb").NewRangeReader(ctx, 1000, 10)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(rr)
	rr.Close()
	if !bytes.Equal(part, content[1000:1010]) {
		t.Errorf("range read %x, want %x", part, content[1000:1010])
	}

	// The same bytes uploaded through the API get the same checksums.
	w := s.client.Bucket("snaps").Object("uploaded.rdb").NewWriter(ctx)
	if _, err := w.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	u, err := s.client.Bucket("snaps").Object("uploaded.rdb").Attrs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.CRC32C != a.CRC32C || !bytes.Equal(u.MD5, a.MD5) || u.Size != a.Size || u.ContentType != a.ContentType || u.StorageClass != a.StorageClass || u.Etag != a.Etag {
		t.Errorf("uploaded: %+v\nlinked: %+v", u, a)
	}

	// Listing shows the objects and nothing else.
	if got := listObjects(t, s.client, "snaps"); !slices.Equal(got, []string{"relay/us/snap.rdb", "uploaded.rdb"}) {
		t.Errorf("objects = %v", got)
	}
	if tmp, _ := filepath.Glob(filepath.Join(root, tmpPrefix+"*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}

	// Replacing the object: a new generation and the new bytes; the
	// source, replaced by a rename as redis-server does, leaves the object
	// alone.
	dir2 := t.TempDir()
	src2, content2 := randomFile(t, dir2, 1<<20)
	before2 := time.Now()
	info2, err := s.svc.LinkFile("snaps", "relay/us/snap.rdb", src2, "application/octet-stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := s.client.Bucket("snaps").Object("relay/us/snap.rdb").Attrs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkAttrs(t, a2, content2, info2, before2)
	if a2.Generation <= a.Generation {
		t.Errorf("generation %d after %d", a2.Generation, a.Generation)
	}
	check(t, os.WriteFile(src2+".new", []byte("a later snapshot"), 0o644))
	check(t, os.Rename(src2+".new", src2))
	if got := readObject(t, s.client, "snaps", "relay/us/snap.rdb"); !bytes.Equal(got, content2) {
		t.Fatalf("object changed with its source")
	}

	// Restart on the same folder: the same object, metadata and all.
	s.stop()
	s2 := serve(t, root)
	a3, err := s2.client.Bucket("snaps").Object("relay/us/snap.rdb").Attrs(ctx)
	if err != nil {
		t.Fatalf("Attrs after restart: %v", err)
	}
	if a3.Generation != a2.Generation || a3.CRC32C != a2.CRC32C || !bytes.Equal(a3.MD5, a2.MD5) || !a3.Created.Equal(a2.Created) || a3.Size != a2.Size {
		t.Errorf("after restart: %+v\nbefore: %+v", a3, a2)
	}
	if got := readObject(t, s2.client, "snaps", "relay/us/snap.rdb"); !bytes.Equal(got, content2) {
		t.Fatalf("read after restart: %d bytes", len(got))
	}
	if got := listObjects(t, s2.client, "snaps"); !slices.Equal(got, []string{"relay/us/snap.rdb", "uploaded.rdb"}) {
		t.Errorf("objects after restart = %v", got)
	}
}

func TestLinkFileKnownDigest(t *testing.T) {
	ctx := context.Background()
	s := serve(t, t.TempDir())
	check(t, s.svc.CreateBucket("snaps"))
	dir := t.TempDir()
	src, content := randomFile(t, dir, 300000)
	other := filepath.Join(dir, "other")
	check(t, os.WriteFile(other, []byte("other"), 0o644))

	d := NewDigester()
	_, _ = d.Write(content) // sums in memory: never fails
	st, _ := os.Stat(src)
	stOther, _ := os.Stat(other)
	wrong := d.Digest()
	wrong.CRC32C++

	// A digest of another file, or of another size, is not used.
	for _, known := range []*KnownDigest{{File: stOther, Digest: wrong}, {File: st, Digest: Digest{Size: 5, CRC32C: 1}}} {
		info, err := s.svc.LinkFile("snaps", "x.rdb", src, "", known)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := s.client.Bucket("snaps").Object("x.rdb").Attrs(ctx)
		checkAttrs(t, a, content, info, time.Now().Add(-time.Minute))
	}
	// The digest of this very file is.
	info, err := s.svc.LinkFile("snaps", "x.rdb", src, "", &KnownDigest{File: st, Digest: d.Digest()})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.client.Bucket("snaps").Object("x.rdb").Attrs(ctx)
	checkAttrs(t, a, content, info, time.Now().Add(-time.Minute))
}

func TestLinkFileTwiceFromOneFile(t *testing.T) {
	ctx := context.Background()
	s := serve(t, t.TempDir())
	check(t, s.svc.CreateBucket("snaps"))
	src, content := randomFile(t, t.TempDir(), 100000)
	info1, err := s.svc.LinkFile("snaps", "one.rdb", src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	a1, _ := s.client.Bucket("snaps").Object("one.rdb").Attrs(ctx)
	time.Sleep(2 * time.Millisecond)
	info2, err := s.svc.LinkFile("snaps", "two.rdb", src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Each object keeps its own metadata.
	b1, _ := s.client.Bucket("snaps").Object("one.rdb").Attrs(ctx)
	b2, _ := s.client.Bucket("snaps").Object("two.rdb").Attrs(ctx)
	if b1.Generation != info1.Generation || b1.Generation != a1.Generation || b2.Generation != info2.Generation || b1.Generation == b2.Generation {
		t.Errorf("generations: one %d (was %d, LinkFile %d), two %d (LinkFile %d)", b1.Generation, a1.Generation, info1.Generation, b2.Generation, info2.Generation)
	}
	checkAttrs(t, b1, content, info1, time.Now().Add(-time.Minute))
	checkAttrs(t, b2, content, info2, time.Now().Add(-time.Minute))
}

func TestLinkFileErrors(t *testing.T) {
	s := serve(t, t.TempDir())
	check(t, s.svc.CreateBucket("snaps"))
	src, _ := randomFile(t, t.TempDir(), 10)
	if _, err := s.svc.LinkFile("nope", "x", src, "", nil); !errors.Is(err, ErrBucketNotFound) {
		t.Errorf("missing bucket: %v", err)
	}
	if _, err := s.svc.LinkFile("snaps", "x", filepath.Join(t.TempDir(), "missing"), "", nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing source: %v", err)
	}
	for _, name := range []string{"../escape", "a/../../b", "/abs", "dir/"} {
		if _, err := s.svc.LinkFile("snaps", name, src, "", nil); err == nil {
			t.Errorf("object name %q accepted", name)
		}
	}
}

// otherFilesystem returns a folder on another filesystem than dir, or
// skips the test.
func otherFilesystem(t *testing.T, dir string) string {
	t.Helper()
	var a, b syscall.Stat_t
	if err := syscall.Stat(dir, &a); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat("/dev/shm", &b); err != nil || a.Dev == b.Dev {
		t.Skip("no second filesystem (/dev/shm) to test copies across filesystems")
	}
	other, err := os.MkdirTemp("/dev/shm", "localcloud-test-") //nolint:usetesting // another filesystem than t.TempDir's
	if err != nil {
		t.Skip("/dev/shm is not writable")
	}
	t.Cleanup(func() { os.RemoveAll(other) })
	return other
}

func TestLinkFileCopiesAcrossFilesystems(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := serve(t, root)
	check(t, s.svc.CreateBucket("snaps"))
	src, content := randomFile(t, otherFilesystem(t, root), 3<<20)
	before := time.Now()
	info, err := s.svc.LinkFile("snaps", "copied.rdb", src, "", nil)
	if err != nil {
		t.Fatalf("LinkFile across filesystems: %v", err)
	}
	a, err := s.client.Bucket("snaps").Object("copied.rdb").Attrs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkAttrs(t, a, content, info, before)
	if got := readObject(t, s.client, "snaps", "copied.rdb"); !bytes.Equal(got, content) {
		t.Fatalf("read %d bytes", len(got))
	}
}

func TestLinkObject(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := serve(t, root)
	check(t, s.svc.CreateBucket("snaps"))
	w := s.client.Bucket("snaps").Object("a/b.rdb").NewWriter(ctx)
	content := []byte(strings.Repeat("snapshot ", 1000))
	if _, err := w.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	a, _ := s.client.Bucket("snaps").Object("a/b.rdb").Attrs(ctx)
	dst := filepath.Join(t.TempDir(), "dump.rdb")
	info, err := s.svc.LinkObject("snaps", "a/b.rdb", dst)
	if err != nil {
		t.Fatalf("LinkObject: %v", err)
	}
	if info.Size != a.Size || info.Generation != a.Generation || info.CRC32C != encodeCRC32C(a.CRC32C) {
		t.Errorf("info %+v, attrs %+v", info, a)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, content) {
		t.Errorf("linked file has %d bytes", len(got))
	}
	// The link keeps the bytes when the object is deleted.
	if err := s.client.Bucket("snaps").Object("a/b.rdb").Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, content) {
		t.Errorf("linked file changed after the delete")
	}
	for _, c := range []struct {
		bucket, object string
		want           error
	}{
		{"nope", "a/b.rdb", ErrBucketNotFound},
		{"snaps", "a/b.rdb", ErrObjectNotFound},
		{"snaps", "a", ErrObjectNotFound},
		{"snaps", "../snaps/a/b.rdb", ErrObjectNotFound},
	} {
		d := filepath.Join(t.TempDir(), "dump.rdb")
		if _, err := s.svc.LinkObject(c.bucket, c.object, d); !errors.Is(err, c.want) {
			t.Errorf("LinkObject(%s, %s) = %v, want %v", c.bucket, c.object, err, c.want)
		}
		if _, err := os.Stat(d); err == nil {
			t.Errorf("LinkObject(%s, %s) left %s", c.bucket, c.object, d)
		}
	}
	// Across filesystems: ErrNotLinkable, nothing created.
	w = s.client.Bucket("snaps").Object("c.rdb").NewWriter(ctx)
	if _, err := w.Write(content); err != nil {
		t.Fatal(err)
	}
	w.Close()
	d := filepath.Join(otherFilesystem(t, root), "dump.rdb")
	if _, err := s.svc.LinkObject("snaps", "c.rdb", d); !errors.Is(err, ErrNotLinkable) {
		t.Errorf("across filesystems: %v", err)
	}
	if _, err := os.Stat(d); err == nil {
		t.Errorf("%s created", d)
	}
}

func TestNewRemovesTemporaryFiles(t *testing.T) {
	root := t.TempDir()
	stale := filepath.Join(root, tmpPrefix+"0123")
	check(t, os.WriteFile(stale, []byte("x"), 0o600))
	s, err := New(root, "127.0.0.1:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(stale); err == nil {
		t.Errorf("%s left", stale)
	}
}

// check fails the test at once on err, for the steps that set a test up.
func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
