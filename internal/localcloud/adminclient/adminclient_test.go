package adminclient_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/admin"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/adminclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
)

// TestClient calls a real localcloud: with the token of its data dir (read
// again after a restart, which writes a new one), with the token itself,
// without it, and with answers other than 200.
func TestClient(t *testing.T) {
	lc := localcloudtest.Start(t)
	ctx := t.Context()
	c := adminclient.New(lc.Addr(), lc.DataDir())
	h, err := c.Health(ctx)
	if err != nil || h.Status != "ok" || h.DataDir != lc.DataDir() {
		t.Fatalf("Health = %+v, %v", h, err)
	}

	fr, err := c.Fault(ctx, "volcano", nil)
	var se *adminclient.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest || !strings.Contains(err.Error(), "volcano") {
		t.Fatalf("unknown fault kind: %v, want a 400 naming it", err)
	}
	if !strings.Contains(strings.Join(fr.Accepted, " "), "redis-kill") {
		t.Errorf("unknown fault kind: accepted kinds %v, want redis-kill among them", fr.Accepted)
	}
	if err := c.Get(ctx, "volcano", new(any)); !errors.As(err, &se) || se.Code != http.StatusNotFound {
		t.Errorf("GET of an unknown admin path: %v, want 404", err)
	}

	if _, err := adminclient.WithToken(lc.Addr(), "wrong").Health(ctx); !errors.As(err, &se) || se.Code != http.StatusUnauthorized ||
		!strings.Contains(err.Error(), admin.TokenFile) {
		t.Errorf("wrong token: %v, want 401 naming %s", err, admin.TokenFile)
	}
	if _, err := adminclient.New(lc.Addr(), t.TempDir()).Health(ctx); err == nil || !strings.Contains(err.Error(), admin.TokenFile) {
		t.Errorf("data dir without a token: %v, want an error naming %s", err, admin.TokenFile)
	}
	t.Setenv(admin.EnvToken, "")
	t.Setenv(adminclient.EnvDataDir, "")
	if _, err := adminclient.FromEnv(lc.Addr(), ""); !errors.Is(err, adminclient.ErrNoToken) ||
		!strings.Contains(err.Error(), admin.EnvToken) || !strings.Contains(err.Error(), adminclient.EnvDataDir) {
		t.Errorf("FromEnv without token nor data dir: %v, want ErrNoToken naming both variables", err)
	}

	token, err := admin.ReadToken(lc.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(admin.EnvToken, token)
	fromEnv, err := adminclient.FromEnv(lc.Addr(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fromEnv.Oplog(ctx); err != nil {
		t.Errorf("Oplog with $%s: %v", admin.EnvToken, err)
	}

	lc.Restart(t)
	c = adminclient.New(lc.Addr(), lc.DataDir())
	if _, err := c.Services(ctx); err != nil {
		t.Errorf("Services after a restart: %v", err)
	}
	if _, err := adminclient.WithToken(lc.Addr(), token).Services(ctx); !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Errorf("the token of the previous start: %v, want 401", err)
	}
	if _, err := c.CA(ctx); err != nil {
		t.Errorf("CA: %v", err)
	}
}
