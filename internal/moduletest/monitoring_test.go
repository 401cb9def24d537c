package moduletest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/envelope"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// googleModules need the google provider, which cannot be installed here
// (no registry): they are formatted and parse-checked instead of tested.
var googleModules = []string{"monitoring", "state-backend"}

// TestGoogleModulesParse checks modules/monitoring and modules/state-backend
// as far as this machine can: `tofu fmt -check`; every file parses, holds
// only configuration blocks and refers only to what its folder declares;
// every variable has a description, every non-bool one a validation, and
// the README names each; the dashboard is JSON.
func TestGoogleModulesParse(t *testing.T) {
	t.Parallel()
	tf := setup(t)
	for _, name := range googleModules {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(tf.root, "modules", name)
			if out, code := tf.exec(t, tf.env(t), "fmt", "-check", "-diff", "-no-color", dir); code != 0 {
				t.Errorf("modules/%s is not formatted (tofu fmt):\n%s", name, out)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*.tf"))
			if len(files) == 0 {
				t.Fatalf("modules/%s has no .tf file", name)
			}
			parseFolder(t, files).checkReferences(t)
			readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range moduleVariables(t, files) {
				if !v.described {
					t.Errorf("%s: variable %q has no description", v.rng, v.name)
				}
				if !v.validated && v.typ != "bool" {
					t.Errorf("%s: variable %q has no validation block", v.rng, v.name)
				}
				if !strings.Contains(string(readme), "`"+v.name+"`") {
					t.Errorf("modules/%s/README.md does not document variable `%s`", name, v.name)
				}
			}
		})
	}
	raw, err := os.ReadFile(filepath.Join(tf.root, "modules", "monitoring", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		MosaicLayout struct {
			Tiles []json.RawMessage `json:"tiles"`
		} `json:"mosaicLayout"`
	}
	if err := json.Unmarshal(raw, &dashboard); err != nil || len(dashboard.MosaicLayout.Tiles) == 0 {
		t.Errorf("modules/monitoring/dashboard.json should be a dashboard with mosaicLayout tiles: %v", err)
	}
}

type moduleVariable struct {
	name, typ            string
	described, validated bool
	rng                  hcl.Range
}

func moduleVariables(t *testing.T, files []string) []moduleVariable {
	t.Helper()
	var out []moduleVariable
	p := hclparse.NewParser()
	for _, name := range files {
		f, diags := p.ParseHCLFile(name)
		if diags.HasErrors() {
			continue // reported by parseFolder
		}
		for _, b := range syntaxBody(t, f.Body).Blocks {
			if b.Type != "variable" {
				continue
			}
			v := moduleVariable{name: b.Labels[0], rng: b.DefRange()}
			if a := b.Body.Attributes["type"]; a != nil {
				v.typ = hcl.ExprAsKeyword(a.Expr)
			}
			if a := b.Body.Attributes["description"]; a != nil {
				d, _ := a.Expr.Value(nil)
				v.described = d.IsKnown() && !d.IsNull() && strings.TrimSpace(d.AsString()) != ""
			}
			for _, inner := range b.Body.Blocks {
				v.validated = v.validated || inner.Type == "validation"
			}
			out = append(out, v)
		}
	}
	return out
}

// relayMetricRef matches a Managed Service for Prometheus metric type:
// prometheus.googleapis.com/<Prometheus name>/<kind>.
var relayMetricRef = regexp.MustCompile(`prometheus\.googleapis\.com/([^/"\\\s]+)/([^/"\\\s]+)`)

// unreadQueries are the query languages whose metric names the check
// does not extract (dashboard widgets and alert conditions).
var unreadQueries = []string{"prometheusQuery", "timeSeriesQueryLanguage", "condition_prometheus_query_language", "condition_monitoring_query_language"}

// promKinds maps the kind suffix Managed Service for Prometheus appends to
// the Prometheus type it comes from.
var promKinds = map[string]dto.MetricType{
	"counter":   dto.MetricType_COUNTER,
	"gauge":     dto.MetricType_GAUGE,
	"histogram": dto.MetricType_HISTOGRAM,
	"summary":   dto.MetricType_SUMMARY,
}

// TestMonitoringMetricsExported checks that every relay metric the
// dashboard and the alert policies of modules/monitoring query is one a
// running relay exports on its /metrics, with the kind the query names, so
// that a renamed metric fails here rather than leaving an empty chart or
// an alert that never fires.
func TestMonitoringMetricsExported(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	files, _ := filepath.Glob(filepath.Join(root, "modules", "monitoring", "*.tf"))
	files = append(files, filepath.Join(root, "modules", "monitoring", "dashboard.json"))
	queried := map[string][]string{} // "name/kind" -> files
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// The check reads metric types from filters; a PromQL or MQL query
		// would name metrics it cannot see.
		for _, q := range unreadQueries {
			if strings.Contains(string(src), q) {
				t.Errorf("%s uses %s: query the relay's metrics with a filter on prometheus.googleapis.com/<name>/<kind>, which this test checks", filepath.Base(f), q)
			}
		}
		for _, m := range relayMetricRef.FindAllStringSubmatch(string(src), -1) {
			key := m[1] + "/" + m[2]
			if n := len(queried[key]); n == 0 || queried[key][n-1] != filepath.Base(f) {
				queried[key] = append(queried[key], filepath.Base(f))
			}
		}
	}
	if len(queried) == 0 {
		t.Fatal("modules/monitoring queries no prometheus.googleapis.com metric: the relay's metrics are not watched")
	}

	exported := scrapeRelay(t, func(families map[string]*dto.MetricFamily) bool {
		for key := range queried {
			if families[strings.Split(key, "/")[0]] == nil {
				return false
			}
		}
		return true
	})
	keys := make([]string, 0, len(queried))
	for k := range queried {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		name, kind, _ := strings.Cut(key, "/")
		want, known := promKinds[kind]
		fam := exported[name]
		switch {
		case !known:
			t.Errorf("%s queries prometheus.googleapis.com/%s: kind %q is none of counter, gauge, histogram, summary", strings.Join(queried[key], ", "), key, kind)
		case fam == nil:
			t.Errorf("%s queries prometheus.googleapis.com/%s, but the relay exports no metric %q", strings.Join(queried[key], ", "), key, name)
		case fam.GetType() != want:
			t.Errorf("%s queries prometheus.googleapis.com/%s, but the relay's %s is a %s", strings.Join(queried[key], ", "), key, name, strings.ToLower(fam.GetType().String()))
		}
	}
	t.Logf("%d relay metrics queried, checked against a relay's /metrics", len(keys))
}

// scrapeRelay starts a relay on a real Redis, with a peer Redis that does
// not answer (so the per-Redis error and up series exist), refuses one
// malformed envelope (so the refusal and close series exist), and returns
// its /metrics once done says every wanted family is there, or after ten
// seconds.
func scrapeRelay(t *testing.T, done func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	keys := relaytest.DevKeys(t)
	rd := relaytest.NewRedis(t)
	deadPort, err := relaytest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	r := relaytest.NewRelay(t, relaytest.Verifier(t, keys), "r1", rd.Addr, []string{fmt.Sprintf("127.0.0.1:%d", deadPort)}, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, r.URL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + relaytest.Token(t, keys, "mallory")}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Write(ctx, websocket.MessageBinary, []byte{byte(envelope.TypeSend), 1, 0, 0}); err != nil {
		t.Fatal(err)
	}
	_, _, _ = ws.Read(ctx) // the relay closes the connection
	_ = ws.CloseNow()      // already closed by the relay: nothing left to report

	var families map[string]*dto.MetricFamily
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		get(t, "http://"+r.OpsAddr+"/ready") // checks every Redis now
		body := get(t, "http://"+r.OpsAddr+"/metrics")
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err = parser.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("relay /metrics does not parse: %v", err)
		}
		if done(families) || time.Now().After(deadline) {
			return families
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := acctest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}
