package localcloudtest

import (
	"net/http"
	"testing"
	"time"
)

// UpgradeStatus sends a WebSocket upgrade carrying a bearer token to url
// (a Cloud Run service URL plus path) and returns the status and the
// instance that answered (the X-Localcloud-Instance header; "" when
// localcloud's front end answered itself). 101 means the relay accepted.
func UpgradeStatus(t testing.TB, url, token string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Localcloud-Instance")
}
