package adminclient

import (
	"net/http"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/admin"
)

// transport adds the admin token to every request: token if set, else the
// one in dataDir, read each time (a restarted localcloud has a new token).
type transport struct {
	token   string
	dataDir string
}

// tokenError is a token that could not be read; Do returns it unwrapped.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return e.err.Error() }

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	token := t.token
	if token == "" {
		var err error
		if token, err = admin.ReadToken(t.dataDir); err != nil {
			if r.Body != nil {
				r.Body.Close()
			}
			return nil, &tokenError{err}
		}
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+token)
	return http.DefaultTransport.RoundTrip(r)
}
