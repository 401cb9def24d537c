package profile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	p, err := Load("default", 0)
	if err != nil || p.Name != "default" || len(p.Delays) != 0 {
		t.Fatalf("default: %+v, %v", p, err)
	}
	if _, err := Load("gcp", 0); err != nil {
		t.Fatalf("gcp: %v", err)
	}
	if _, err := Load("nope", 0); err == nil || !strings.Contains(err.Error(), "accepted values are default, gcp or a JSON file") {
		t.Fatalf("unknown profile: %v", err)
	}
	if _, err := Load("gcp", -1); err == nil || !strings.Contains(err.Error(), "time scale") {
		t.Fatalf("negative scale: %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "p.json")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p, err := Load(write(`{"name":"slow","base":"gcp","scale":20,"delays":{"compute.urlmap_propagation":{"duration":"90s","source":"https://example.test/measured"}}}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "slow" || p.Scale != 20 || p.Delay(URLMapPropagation).For(0) != 90*time.Second {
		t.Fatalf("loaded %+v", p)
	}
	if p.Scaled(90*time.Second) != 4500*time.Millisecond {
		t.Fatalf("scaled: %v", p.Scaled(90*time.Second))
	}
	for body, want := range map[string]string{
		`{"delays":{"compute.urlmap_propagation":{"duration":"90s"}}}`: "has no source",
		`{"delays":{"compute.nope":{"duration":"1s","source":"x"}}}`:   "unknown delay",
		`{"base":"aws"}`: "accepted values are default or gcp",
		`{"delays":{"compute.urlmap_propagation":{"duration":"soon","source":"x"}}}`: "Go duration",
		`{"colour":"red"}`: "unknown field",
	} {
		if _, err := Load(write(body), 0); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", body, err, want)
		}
	}
}

func TestGCPCitesEveryDelay(t *testing.T) {
	for k, d := range GCP().Delays {
		if !Known(k) || strings.TrimSpace(d.Source) == "" || d.For(0) <= 0 && d.PerGiB <= 0 {
			t.Errorf("%s: %+v: every gcp delay is a known kind with a positive figure and its source", k, d)
		}
	}
}

func TestLedgerWaitScales(t *testing.T) {
	p := Default()
	p.Scale = 1000
	p.Delays[RedisImport] = Delay{Duration: Duration(time.Second), PerGiB: Duration(time.Minute), Source: "test"}
	l := NewLedger(p)
	start := time.Now()
	m, err := l.Wait(context.Background(), RedisImport, "i", 1<<30)
	if err != nil || m != 61*time.Second {
		t.Fatalf("modelled %v, %v", m, err)
	}
	if el := time.Since(start); el < 61*time.Millisecond {
		t.Fatalf("slept %v, want at least 61ms", el)
	}
	if m, _ := l.Wait(context.Background(), RunColdStart, "s", 0); m != 0 {
		t.Fatalf("unmodelled kind: %v", m)
	}
	st := l.Status()
	if len(st.Applied) != 1 || st.Applied[0].Slept.D() != 61*time.Millisecond || st.Applied[0].Source != "test" {
		t.Fatalf("ledger: %+v", st.Applied)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Wait(ctx, RedisImport, "i", 0); err == nil {
		t.Fatal("cancelled wait returned no error")
	}
}
