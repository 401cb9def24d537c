package storage

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestBrowsersReadOnlyPublicObjects writes a public and a private object
// with the official client and reads them as a browser and as the client.
func TestBrowsersReadOnlyPublicObjects(t *testing.T) {
	s := serve(t, t.TempDir())
	if err := s.svc.CreateBucket("site"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(name, acl, cacheControl string) {
		w := s.client.Bucket("site").Object(name).NewWriter(ctx)
		w.ContentType, w.CacheControl, w.PredefinedACL = "text/html; charset=utf-8", cacheControl, acl
		if _, err := io.WriteString(w, "<p>"+name+"</p>"); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	put("status/index.html", "publicRead", "public, max-age=60")
	put("status/default.html", "publicRead", "")
	put("private.html", "", "")

	get := func(path string, browser bool) (*http.Response, string) { return httpGet(t, s.addr, path, browser) }
	resp, body := get("/site/status/index.html", true)
	if resp.StatusCode != 200 || body != "<p>status/index.html</p>" ||
		resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || resp.Header.Get("Cache-Control") != "public, max-age=60" {
		t.Fatalf("public object: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp, _ := get("/site/status/default.html", true); resp.Header.Get("Cache-Control") != "public, max-age=3600" {
		t.Errorf("public object without Cache-Control: %v, want Google's default", resp.Header)
	}
	for _, path := range []string{"/site/private.html", "/site/missing.html", "/storage/v1/b/site/o", "/download/storage/v1/b/site/o/private.html?alt=media"} {
		if resp, body := get(path, true); resp.StatusCode != 403 || !strings.Contains(body, "<Code>AccessDenied</Code>") {
			t.Errorf("browser read of %s: %d %s, want 403 AccessDenied", path, resp.StatusCode, body)
		}
	}
	// The provider's own reads (no Fetch Metadata) are not held to ACLs.
	if resp, _ := get("/site/private.html", false); resp.StatusCode != 200 {
		t.Errorf("client read of a private object: %d", resp.StatusCode)
	}
}

// httpGet reads path as a browser (with Fetch Metadata) or as a client.
func httpGet(t *testing.T, addr, path string, browser bool) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if browser {
		req.Header.Set("Sec-Fetch-Mode", "navigate")
		req.Header.Set("Sec-Fetch-Site", "none")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}
