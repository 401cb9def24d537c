package gcpclient

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"cloud.google.com/go/redis/apiv1/redispb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func fastPolicy() Policy {
	p := testPolicy()
	p.RequestTimeout = 3 * time.Second
	return p
}

// serviceAccountJSON is a service account key file made up for the test.
func serviceAccountJSON(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	b, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "p",
		"private_key_id": "k1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "deployer@p.iam.gserviceaccount.com",
		"client_id":      "1",
		"token_uri":      "https://oauth2.googleapis.com/token",
	})
	return string(b)
}

func TestAuthOptions(t *testing.T) {
	key := serviceAccountJSON(t)
	keyFile := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		cfg      Config
		want     Identity
		wantAttr string // ConfigError attribute expected, if any
	}{
		{name: "emulator wins", cfg: Config{EmulatorHost: "127.0.0.1:1", Credentials: "{bad", AccessToken: "t"}, want: Identity{Source: "emulator"}},
		{name: "key contents", cfg: Config{Credentials: key}, want: Identity{Source: "credentials"}},
		{name: "key path", cfg: Config{Credentials: keyFile}, want: Identity{Source: "credentials"}},
		{name: "key impersonating", cfg: Config{Credentials: key, ImpersonateServiceAccount: "runner@p.iam.gserviceaccount.com",
			ImpersonateServiceAccountDelegates: []string{"hop@p.iam.gserviceaccount.com"}},
			want: Identity{Source: "credentials", Impersonating: "runner@p.iam.gserviceaccount.com"}},
		{name: "token", cfg: Config{AccessToken: "ya29.token"}, want: Identity{Source: "access_token"}},
		{name: "quota project", cfg: Config{AccessToken: "t", Project: "p", UserProjectOverride: true, BillingProject: "bill"},
			want: Identity{Source: "access_token", QuotaProject: "bill"}},
		{name: "quota project defaults to project", cfg: Config{AccessToken: "t", Project: "p", UserProjectOverride: true},
			want: Identity{Source: "access_token", QuotaProject: "p"}},
		{name: "billing project without override", cfg: Config{AccessToken: "t", Project: "p", BillingProject: "bill"},
			want: Identity{Source: "access_token"}},
		{name: "both", cfg: Config{Credentials: key, AccessToken: "t"}, wantAttr: "credentials"},
		{name: "not JSON", cfg: Config{Credentials: "{not json"}, wantAttr: "credentials"},
		{name: "missing file", cfg: Config{Credentials: "/nonexistent/key.json"}, wantAttr: "credentials"},
		{name: "refused type", cfg: Config{Credentials: `{"type":"gdch_service_account"}`}, wantAttr: "credentials"},
		{name: "delegates alone", cfg: Config{AccessToken: "t", ImpersonateServiceAccountDelegates: []string{"a@p.iam.gserviceaccount.com"}},
			wantAttr: "impersonate_service_account_delegates"},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts, id, _, err := authOptions(c.cfg)
			if c.wantAttr != "" {
				var cerr *ConfigError
				if !errors.As(err, &cerr) || cerr.Attribute != c.wantAttr {
					t.Fatalf("err %v; want a ConfigError on %s", err, c.wantAttr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id != c.want {
				t.Errorf("identity %+v, want %+v", id, c.want)
			}
			if len(opts) == 0 {
				t.Error("no client options")
			}
		})
	}
}

// roundTripFunc fakes a remote HTTP API.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A pipeline that impersonates runs agentnet as the target: the API sees
// the impersonated account's token, with the quota project, and 503s are
// retried.
func TestImpersonationQuotaProjectAndRESTRetries(t *testing.T) {
	var iamCalls atomic.Int32
	iam := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		iamCalls.Add(1)
		// (A given IAM client is used as is: production's is built from
		// the base credentials, so no Authorization header here.)
		if !strings.Contains(r.URL.Path, "/serviceAccounts/runner@p.iam.gserviceaccount.com:generateAccessToken") {
			t.Errorf("IAM credentials call %s %s", r.Method, r.URL)
		}
		body := `{"accessToken":"runner-token","expireTime":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
	})}
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer runner-token" {
			t.Errorf("API called with %q, want the impersonated account's token", got)
		}
		if got := r.Header.Get("X-Goog-User-Project"); got != "bill" {
			t.Errorf("X-Goog-User-Project %q, want bill", got)
		}
		if calls.Add(1) <= 2 {
			http.Error(w, `{"error":{"code":503,"message":"try again"}}`, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"name":"relay"}`) // a short body fails the client's decode
	}))
	defer srv.Close()

	c, err := New(context.Background(), Config{
		Project: "p", ComputeEndpoint: srv.URL, AccessToken: "pipeline-token",
		ImpersonateServiceAccount: "runner@p.iam.gserviceaccount.com",
		UserProjectOverride:       true, BillingProject: "bill",
		Policy: fastPolicy(), iamClient: iam,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	um, err := c.Compute.URLMaps.Get(context.Background(), &computepb.GetUrlMapRequest{Project: "p", UrlMap: "relay"})
	if err != nil || um.GetName() != "relay" {
		t.Fatalf("URL map %v, err %v", um, err)
	}
	if calls.Load() != 3 || iamCalls.Load() == 0 {
		t.Errorf("%d API calls (want 3: two 503s retried), %d IAM calls", calls.Load(), iamCalls.Load())
	}
	if c.Identity.Impersonating != "runner@p.iam.gserviceaccount.com" || c.Identity.QuotaProject != "bill" {
		t.Errorf("identity %v", c.Identity)
	}
}

// A Compute Engine region whose API hangs costs one attempt, and reads as
// a region outage.
func TestRESTRegionHang(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/regions/europe-west1/") {
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"name":"x"}`) // a short body fails the client's decode
	}))
	defer srv.Close()
	c, err := New(context.Background(), Config{Project: "p", ComputeEndpoint: srv.URL, AccessToken: "t", Policy: fastPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Compute.URLMaps.Get(ctx, &computepb.GetUrlMapRequest{Project: "p", UrlMap: "m"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Compute.NEGs.Get(ctx, &computepb.GetRegionNetworkEndpointGroupRequest{Project: "p", Region: "europe-west1", NetworkEndpointGroup: "n"})
	if !IsRegionOutage(err) {
		t.Fatalf("hung region: %v; want a region outage", err)
	}
	if took := time.Since(start); took > 3*fastPolicy().ReadAttemptTimeout {
		t.Fatalf("hung region took %v", took)
	}
	if !strings.Contains(c.Describe(APICompute, err), "europe-west1") {
		t.Errorf("description %q does not name the region", c.Describe(APICompute, err))
	}
}

// fakeRedis answers GetInstance: UNAVAILABLE twice then the instance in
// us-central1, never in europe-west1.
type fakeRedis struct {
	redispb.UnimplementedCloudRedisServer
	flaky atomic.Int32
}

func (f *fakeRedis) GetInstance(ctx context.Context, req *redispb.GetInstanceRequest) (*redispb.Instance, error) {
	switch {
	case strings.Contains(req.Name, "/europe-west1/"):
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	case f.flaky.Add(1) <= 2:
		return nil, status.Error(codes.Unavailable, "blip")
	}
	return &redispb.Instance{Name: req.Name}, nil
}

func TestGRPCRetriesAndRegionHang(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	fake := &fakeRedis{}
	redispb.RegisterCloudRedisServer(srv, fake)
	go func() {
		// nil once Stop is called; anything else is the server failing.
		if err := srv.Serve(ln); err != nil {
			t.Error(err)
		}
	}()
	defer srv.Stop()

	c, err := New(context.Background(), Config{Project: "p", EmulatorHost: ln.Addr().String(), Policy: fastPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	inst, err := c.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: "projects/p/locations/us-central1/instances/i"})
	if err != nil || fake.flaky.Load() != 3 {
		t.Fatalf("instance %v, err %v after %d attempts; want it on the third", inst, err, fake.flaky.Load())
	}
	start := time.Now()
	_, err = c.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: "projects/p/locations/europe-west1/instances/i"})
	if status.Code(err) != codes.DeadlineExceeded || !IsRegionOutage(err) {
		t.Fatalf("hung region: %v; want DEADLINE_EXCEEDED, a region outage", err)
	}
	if took := time.Since(start); took > 3*fastPolicy().ReadAttemptTimeout {
		t.Fatalf("hung region took %v", took)
	}
}
