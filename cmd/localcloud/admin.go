package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/admin"
)

// envDataDir names the environment variable that gives the admin commands
// the data directory of the localcloud they talk to (its token is there).
const envDataDir = "LOCALCLOUD_DATA_DIR"

// adminFlags are the flags of every command that uses the admin endpoints.
type adminFlags struct {
	host, dataDir *string
}

func addAdminFlags(fs *flag.FlagSet) adminFlags {
	return adminFlags{
		host:    fs.String("host", defaultHost(), "localcloud address host:port"),
		dataDir: fs.String("data-dir", os.Getenv(envDataDir), "the data directory of that localcloud (its "+admin.TokenFile+" is sent to the admin endpoints)"),
	}
}

// adminAPI calls localcloud's admin endpoints with its token.
type adminAPI struct {
	host   string
	client *http.Client
}

// api checks that the token can be found: $LOCALCLOUD_TOKEN, else
// --data-dir / $LOCALCLOUD_DATA_DIR.
func (f adminFlags) api(timeout time.Duration) (*adminAPI, error) {
	t := &admin.Transport{Token: os.Getenv(admin.EnvToken), DataDir: *f.dataDir}
	if t.Token == "" {
		if t.DataDir == "" {
			return nil, usagef("localcloud's admin endpoints need its token: pass --data-dir DIR (the --data-dir of localcloud serve) or set $%s, or set $%s to the content of DIR/%s", envDataDir, admin.EnvToken, admin.TokenFile)
		}
		if _, err := admin.ReadToken(t.DataDir); err != nil {
			return nil, fmt.Errorf("--data-dir: %w", err)
		}
	}
	return &adminAPI{host: *f.host, client: &http.Client{Timeout: timeout, Transport: t}}, nil
}

// do sends a request to /_localcloud/<what> and returns the body of a 200.
func (a *adminAPI) do(method, what string, body io.Reader) ([]byte, error) {
	req, err := http.NewRequest(method, baseURL(a.host)+"/_localcloud/"+what, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach localcloud at %s (--host, $AGENTNET_EMULATOR_HOST): %w", a.host, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var r struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(out, &r) == nil && r.Error != "" {
			return nil, &statusError{status: resp.Status, msg: r.Error}
		}
		return nil, &statusError{status: resp.Status, msg: strings.TrimSpace(string(out))}
	}
	return out, nil
}

// statusError is an answer other than 200 from an admin endpoint.
type statusError struct{ status, msg string }

func (e *statusError) Error() string { return e.status + ": " + e.msg }

// get decodes GET /_localcloud/<what>.
func (a *adminAPI) get(what string, v any) error {
	b, err := a.do(http.MethodGet, what, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errors.New(what + ": " + err.Error())
	}
	return nil
}
