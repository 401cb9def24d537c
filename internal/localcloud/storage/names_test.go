package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTraversalNamesAreRefused sends object names that would leave the
// storage folder through every route that takes a name, and checks each is
// refused with Cloud Storage's error and that nothing is written (or read)
// outside the folder.
func TestTraversalNamesAreRefused(t *testing.T) {
	tmp := t.TempDir()
	root := filepath.Join(tmp, "a", "b", "c", "gcs")
	s := serve(t, root)
	defer s.stop()
	if err := s.svc.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(tmp, "a", "secret.txt")
	check(t, os.WriteFile(secret, []byte("not an object"), 0o600))
	base := "http://" + s.addr
	escape := "../../../x-escape.txt"
	multipartBody := func(name string) (string, string) {
		meta, _ := json.Marshal(map[string]string{"name": name})
		body := "--B\r\nContent-Type: application/json\r\n\r\n" + string(meta) +
			"\r\n--B\r\nContent-Type: text/plain\r\n\r\nescaped\r\n--B--\r\n"
		return body, "multipart/related; boundary=B"
	}
	mpBody, mpType := multipartBody(escape)
	cases := []struct {
		name, method, url, contentType, body string
		xml                                  bool
	}{
		{"media upload", "POST", "/upload/storage/v1/b/bkt/o?uploadType=media&name=" + escape, "text/plain", "escaped", false},
		{"media upload, absolute", "POST", "/upload/storage/v1/b/bkt/o?uploadType=media&name=/tmp/x-escape.txt", "text/plain", "escaped", false},
		{"media upload, NUL", "POST", "/upload/storage/v1/b/bkt/o?uploadType=media&name=x%00-escape.txt", "text/plain", "escaped", false},
		{"media upload, dot", "POST", "/upload/storage/v1/b/bkt/o?uploadType=media&name=.", "text/plain", "escaped", false},
		{"multipart upload", "POST", "/upload/storage/v1/b/bkt/o?uploadType=multipart", mpType, mpBody, false},
		{"resumable upload, name in body", "POST", "/upload/storage/v1/b/bkt/o?uploadType=resumable", "application/json", `{"name":"` + escape + `"}`, false},
		{"resumable upload, name in body, no content type", "POST", "/upload/storage/v1/b/bkt/o?uploadType=resumable", "", `{"name":"` + escape + `"}`, false},
		{"resumable upload, name in query", "POST", "/upload/storage/v1/b/bkt/o?uploadType=resumable&name=" + escape, "application/json", `{}`, false},
		{"resumable upload, bucket in body", "POST", "/upload/storage/v1/b/bkt/o?uploadType=resumable", "application/json", `{"bucket":"..","name":"x-escape.txt"}`, false},
		{"XML upload", "PUT", "/bkt/..%2F..%2F..%2Fx-escape.txt", "text/plain", "escaped", true},
		{"JSON read", "GET", "/storage/v1/b/bkt/o/..%2F..%2F..%2Fsecret.txt", "", "", false},
		{"JSON download", "GET", "/download/storage/v1/b/bkt/o/..%2F..%2F..%2Fsecret.txt?alt=media", "", "", false},
		{"XML read", "GET", "/bkt/..%2F..%2F..%2Fsecret.txt", "", "", true},
		{"JSON delete", "DELETE", "/storage/v1/b/bkt/o/..%2F..%2F..%2Fsecret.txt", "", "", false},
		{"compose", "POST", "/storage/v1/b/bkt/o/x-escape.txt/compose", "application/json", `{"sourceObjects":[{"name":"../../../secret.txt"}],"destination":{"name":"x-escape.txt"}}`, false},
		{"copy", "POST", "/storage/v1/b/bkt/o/..%2F..%2F..%2Fsecret.txt/copyTo/b/bkt/o/x-escape.txt", "", "", false},
		{"bucket insert", "POST", "/storage/v1/b?project=p", "application/json", `{"name":".."}`, false},
	}
	for _, c := range cases {
		req, err := http.NewRequest(c.method, base+c.url, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d %s, want 400", c.name, resp.StatusCode, body)
			continue
		}
		if c.xml {
			if !bytes.Contains(body, []byte("<Code>InvalidObjectName</Code>")) {
				t.Errorf("%s: %s, want an XML InvalidObjectName error", c.name, body)
			}
			continue
		}
		var e struct {
			Error struct {
				Code    int
				Message string
				Errors  []struct{ Reason string }
			}
		}
		if json.Unmarshal(body, &e) != nil || e.Error.Code != 400 || len(e.Error.Errors) != 1 || e.Error.Errors[0].Reason != "invalid" ||
			!strings.Contains(e.Error.Message, "The specified object name is not valid") {
			t.Errorf("%s: %s, want Cloud Storage's invalid object name error", c.name, body)
		}
	}
	// A folder it cannot read is skipped (err), not a finding.
	check(t, filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), "escape") && !strings.HasPrefix(p, root+string(filepath.Separator)) {
			t.Errorf("%s was written outside the storage folder %s", p, root)
		}
		return nil
	}))
	if b, err := os.ReadFile(secret); err != nil || string(b) != "not an object" {
		t.Errorf("%s: %q, %v: changed or removed through the API", secret, b, err)
	}
}

// TestValidNamesStillWork: names with dots that are not whole segments,
// and names with "/", keep working through the official client.
func TestValidNamesStillWork(t *testing.T) {
	s := serve(t, filepath.Join(t.TempDir(), "gcs"))
	defer s.stop()
	if err := s.svc.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{"a..b", "..c/d..", "dir/.hidden", "x/y/z.rdb"} {
		w := s.client.Bucket("bkt").Object(name).NewWriter(ctx)
		w.ChunkSize = 0
		if _, err := io.WriteString(w, name); err != nil {
			t.Fatalf("write %q: %v", name, err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("write %q: %v", name, err)
		}
		if got := readObject(t, s.client, "bkt", name); string(got) != name {
			t.Errorf("read %q: %q", name, got)
		}
	}
	// A resumable upload of a valid name gets its body whole after the check.
	w := s.client.Bucket("bkt").Object("big/object").NewWriter(ctx)
	w.ChunkSize = 256 << 10
	content := bytes.Repeat([]byte("0123456789abcdef"), 64<<10)
	if _, err := w.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readObject(t, s.client, "bkt", "big/object"); !bytes.Equal(got, content) {
		t.Errorf("resumable upload: read %d bytes, want %d", len(got), len(content))
	}
}

func TestValidObjectName(t *testing.T) {
	for _, ok := range []string{"a", "a.b", "..a", "a..", "dir/", "dir/x", ".well", "é"} {
		if err := ValidObjectName(ok); err != nil {
			t.Errorf("ValidObjectName(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "../x", "a/../b", "a/./b", "a/..", "/abs", "a//b", "a\x00b", "a\nb", "a\rb", "\xff", strings.Repeat("x", 1025)} {
		if err := ValidObjectName(bad); !errors.Is(err, ErrInvalidObjectName) {
			t.Errorf("ValidObjectName(%q) = %v, want ErrInvalidObjectName", bad, err)
		}
	}
}

// FuzzObjectName: a name ValidObjectName accepts stays inside its bucket's
// folder and passes the path check; and whatever the name, an upload
// through the HTTP handler writes nothing outside the storage folder.
// Seeds are in testdata/fuzz/FuzzObjectName.
func FuzzObjectName(f *testing.F) {
	tmp := f.TempDir()
	parent := filepath.Join(tmp, "a", "b", "c")
	root := filepath.Join(parent, "gcs")
	svc, err := New(root, "127.0.0.1:1", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	defer svc.Close()
	if err := svc.CreateBucket("bkt"); err != nil {
		f.Fatal(err)
	}
	h := svc.Handler()
	bucketDir := filepath.Join(root, "bkt")
	f.Fuzz(func(t *testing.T, name string) {
		if ValidObjectName(name) == nil {
			p := filepath.Join(bucketDir, filepath.FromSlash(name))
			if rel, err := filepath.Rel(bucketDir, p); err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
				t.Fatalf("valid name %q maps to %s, outside %s", name, p, bucketDir)
			}
			if err := checkPath("/storage/v1/b/bkt/o/" + name); err != nil {
				t.Fatalf("valid name %q refused by the path check: %v", name, err)
			}
		}
		req := httptest.NewRequest("POST", "/upload/storage/v1/b/bkt/o?uploadType=media&name="+url.QueryEscape(name), strings.NewReader("x"))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK && ValidObjectName(name) != nil {
			t.Fatalf("invalid name %q was stored", name)
		}
		for dir, want := range map[string]string{tmp: "a", parent: "gcs", root: "bkt bkt.bucketMetadata"} {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if !slices.Contains(strings.Fields(want), e.Name()) {
					t.Fatalf("uploading %q wrote %s in %s", name, e.Name(), dir)
				}
			}
		}
	})
}
