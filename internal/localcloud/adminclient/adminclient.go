// Package adminclient calls localcloud's admin API (/_localcloud/...): the
// one client the localcloud CLI, the drills and the tests use. It sends the
// admin token (package admin) with every request.
package adminclient

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/admin"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/memorystore"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/rediscluster"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/run"
)

// ErrNoToken is FromEnv's error when it is given no way to find the token.
var ErrNoToken = errors.New("localcloud's admin API needs its token")

// ErrUnreachable is wrapped by the error of a request that got no answer.
var ErrUnreachable = errors.New("cannot reach localcloud")

// EnvDataDir names the environment variable FromEnv reads the data
// directory from (its token file is read), after admin.EnvToken.
const EnvDataDir = "LOCALCLOUD_DATA_DIR"

// Client calls the admin API of one localcloud.
type Client struct {
	addr string
	http *http.Client
}

// New is a client of the localcloud at addr (host:port or a URL) that uses
// dataDir: its token is read from dataDir at each request, since a
// restarted localcloud writes a new one.
func New(addr, dataDir string) *Client {
	return newClient(addr, &transport{dataDir: dataDir})
}

// WithToken is a client of the localcloud at addr that sends token.
func WithToken(addr, token string) *Client {
	return newClient(addr, &transport{token: token})
}

// FromEnv is a client of the localcloud at addr whose token is $LOCALCLOUD_TOKEN
// if set, else the one in dataDir (if empty, $LOCALCLOUD_DATA_DIR). It fails, naming
// both ways, when neither gives a token.
func FromEnv(addr, dataDir string) (*Client, error) {
	if token := os.Getenv(admin.EnvToken); token != "" {
		return WithToken(addr, token), nil
	}
	if dataDir == "" {
		dataDir = os.Getenv(EnvDataDir)
	}
	if dataDir == "" {
		return nil, fmt.Errorf("%w: give the --data-dir of localcloud serve (or set $%s), or set $%s to the content of that directory's %s", ErrNoToken, EnvDataDir, admin.EnvToken, admin.TokenFile)
	}
	if _, err := admin.ReadToken(dataDir); err != nil {
		return nil, err
	}
	return New(addr, dataDir), nil
}

func newClient(addr string, t *transport) *Client {
	return &Client{addr: addr, http: &http.Client{Transport: t}}
}

// url is the address of an admin path such as "faults".
func (c *Client) url(path string) string {
	base := c.addr
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		base = "http://" + base
	}
	return strings.TrimSuffix(base, "/") + "/_localcloud/" + strings.TrimPrefix(path, "/")
}

// StatusError is an answer other than 200 OK.
type StatusError struct {
	Code   int
	Status string
	// Message is the "error" of a JSON answer, else the body.
	Message string
	// Body is the answer as sent.
	Body []byte
}

func (e *StatusError) Error() string { return e.Status + ": " + e.Message }

// Do sends method to the admin path, with body encoded as JSON unless nil,
// and returns the body of a 200 OK; any other answer is a *StatusError.
func (c *Client) Do(ctx context.Context, method, path string, body any) ([]byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var terr *tokenError
		if errors.As(err, &terr) {
			return nil, terr.err
		}
		return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, c.addr, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		se := &StatusError{Code: resp.StatusCode, Status: resp.Status, Message: strings.TrimSpace(string(out)), Body: out}
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(out, &e) == nil && e.Error != "" {
			se.Message = e.Error
		}
		return nil, se
	}
	return out, nil
}

// Get decodes the answer to GET of an admin path into v.
func (c *Client) Get(ctx context.Context, path string, v any) error {
	b, err := c.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Health is GET /_localcloud/health, which answers once localcloud serves.
func (c *Client) Health(ctx context.Context) (admin.Health, error) {
	var h admin.Health
	return h, c.Get(ctx, "health", &h)
}

// Oplog is the operation log, oldest first.
func (c *Client) Oplog(ctx context.Context) ([]operations.LogEntry, error) {
	var out []operations.LogEntry
	return out, c.Get(ctx, "oplog", &out)
}

// Delays are the timing profile in force and the delays it applied.
func (c *Client) Delays(ctx context.Context) (profile.Status, error) {
	var out profile.Status
	return out, c.Get(ctx, "delays", &out)
}

// Services are the Cloud Run services with their instances.
func (c *Client) Services(ctx context.Context) ([]run.ServiceStatus, error) {
	var out []run.ServiceStatus
	return out, c.Get(ctx, "services", &out)
}

// Instances are the Memorystore instances.
func (c *Client) Instances(ctx context.Context) ([]memorystore.Status, error) {
	var out []memorystore.Status
	return out, c.Get(ctx, "instances", &out)
}

// Clusters are the Memorystore for Redis Cluster clusters with their nodes.
func (c *Client) Clusters(ctx context.Context) ([]rediscluster.ClusterStatus, error) {
	var out []rediscluster.ClusterStatus
	return out, c.Get(ctx, "clusters", &out)
}

// ClusterToken is the access token a cluster with IAM authorization
// accepts as AUTH password.
func (c *Client) ClusterToken(ctx context.Context, cluster string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	return out.Token, c.Get(ctx, "cluster-token?cluster="+url.QueryEscape(cluster), &out)
}

// CA is a pool trusting the certificate authority of localcloud's HTTPS
// endpoints (GET /_localcloud/ca.pem) and nothing else.
func (c *Client) CA(ctx context.Context) (*x509.CertPool, error) {
	b, err := c.Do(ctx, http.MethodGet, "ca.pem", nil)
	if err != nil {
		return nil, fmt.Errorf("localcloud CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("localcloud CA: /_localcloud/ca.pem holds no certificate")
	}
	return pool, nil
}

// FaultResponse is localcloud's answer to a fault.
type FaultResponse struct {
	Kind     string          `json:"kind"`
	Instance string          `json:"instance,omitempty"`
	Region   string          `json:"region,omitempty"`
	Result   json.RawMessage `json:"result,omitempty"`
	Error    string          `json:"error,omitempty"`
	Accepted []string        `json:"accepted_kinds,omitempty"`
}

// Fault injects a fault of kind; fields are the kind's own (instance,
// service, region, hold, ...). An answer other than 200 OK is a
// *StatusError, and its decoded body is returned too.
func (c *Client) Fault(ctx context.Context, kind string, fields map[string]any) (FaultResponse, error) {
	body := map[string]any{"kind": kind}
	for k, v := range fields {
		body[k] = v
	}
	var fr FaultResponse
	b, err := c.Do(ctx, http.MethodPost, "faults", body)
	var se *StatusError
	if errors.As(err, &se) {
		// The refusal's body, when it is JSON, says which fault stays held;
		// any other body leaves fr empty and the error says the rest.
		_ = json.Unmarshal(se.Body, &fr)
		return fr, fmt.Errorf("fault %s refused (%w)", kind, err)
	}
	if err != nil {
		return fr, fmt.Errorf("fault %s: %w", kind, err)
	}
	if err := json.Unmarshal(b, &fr); err != nil {
		return fr, fmt.Errorf("fault %s: %w", kind, err)
	}
	return fr, nil
}
