package resources_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
	"github.com/agentnet/terraform-provider-agentnet/internal/notify"
)

// webhook is a local receiver: it records the events it accepts, or
// answers every request with status when status is set.
type webhook struct {
	*httptest.Server
	mu       sync.Mutex
	events   []notify.Event
	requests int
}

func newWebhook(t *testing.T, status int) *webhook {
	w := &webhook{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		w.mu.Lock()
		defer w.mu.Unlock()
		w.requests++
		if status != 0 {
			rw.WriteHeader(status)
			return
		}
		var ev notify.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			rw.WriteHeader(http.StatusBadRequest)
			return
		}
		w.events = append(w.events, ev)
	}))
	t.Cleanup(w.Close)
	return w
}

// got checks the events received so far, in order, by kind and what
// moved.
func (w *webhook) got(want ...string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var got []string
	for _, ev := range w.events {
		got = append(got, ev.Kind+":"+ev.Details["drained"]+ev.Details["returning"]+":"+ev.Details["outcome"])
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		return fmt.Errorf("webhook received %q, want %q", got, want)
	}
	return nil
}

// TestAccRelayFailoverGroup_notificationsAndRecords: the webhooks get the
// start and end of each failover in order, a failing one does not fail the
// apply, and every apply leaves a recovery record that
// data.agentnet_recovery_records reads back.
func TestAccRelayFailoverGroup_notificationsAndRecords(t *testing.T) {
	e := newRelayEnv(t)
	receiver := newWebhook(t, 0)
	broken := newWebhook(t, http.StatusInternalServerError)
	hooks := fmt.Sprintf(`
  notification {
    url_wo = "%s/hooks/secret-path"
    format = "json"
  }
  notification {
    url_wo = "%s/hooks/broken"
  }
  records_prefix      = "gs://%s/records/"
  recovery_objectives = { rto = "1h", rpo = "5m" }`, receiver.URL, broken.URL, testBucket)
	records := `
data "agentnet_recovery_records" "failovers" {
  prefix     = "gs://` + testBucket + `/records/"
  kind       = "failover"
  subject    = "relay"
  depends_on = [agentnet_relay_failover_group.global]
}
`
	const group = "agentnet_relay_failover_group.global"
	const listed = "data.agentnet_recovery_records.failovers"
	noSecret := func(s *terraform.State) error {
		for k, v := range s.RootModule().Resources["agentnet_relay_failover_group.global"].Primary.Attributes {
			if strings.Contains(v, "secret-path") {
				return fmt.Errorf("the webhook URL is in the state as %s", k)
			}
		}
		return nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{ // creating the group moves nothing: no notification
				Config: e.groupHCL(nil, false, hooks),
				Check: resource.ComposeAggregateTestCheckFunc(noSecret, func(*terraform.State) error {
					return receiver.got()
				}),
			},
			{ // a drain: start then end, in order; the broken webhook was retried and the apply succeeded anyway
				Config: e.groupHCL(map[string]string{"asia-east1": "drained"}, false, hooks),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "effective_weights.asia-east1", "0"),
					noSecret,
					resource.TestMatchResourceAttr(group, "last_record", regexp.MustCompile(`^gs://`+testBucket+`/records/failover/\d{8}T[0-9.]+Z-relay\.json$`)),
					func(*terraform.State) error {
						if broken.requests != 8 {
							return fmt.Errorf("the broken webhook got %d requests, want 4 attempts for each of 2 events", broken.requests)
						}
						return receiver.got("failover_started:asia-east1:", "failover_ended:asia-east1:succeeded")
					}),
			},
			{ // the return, ramped: a second failover; three records, newest first
				Config: e.groupHCL(nil, false, hooks) + records,
				Check: resource.ComposeAggregateTestCheckFunc(
					func(*terraform.State) error {
						return receiver.got("failover_started:asia-east1:", "failover_ended:asia-east1:succeeded",
							"failover_started:asia-east1:", "failover_ended:asia-east1:succeeded")
					},
					resource.TestCheckResourceAttr(listed, "records.#", "3"),
					resource.TestCheckResourceAttr(listed, "records.0.moved.0", "asia-east1 returned to traffic"),
					resource.TestCheckResourceAttr(listed, "records.1.moved.0", "asia-east1 drained: its traffic went to europe-west1, us-central1"),
					resource.TestCheckResourceAttr(listed, "records.2.moved.0", "nothing: the traffic stayed where it was"),
					resource.TestCheckResourceAttr(listed, "records.0.passed", "true"),
					resource.TestCheckResourceAttrSet(listed, "records.1.recovery_seconds"),
					resource.TestCheckNoResourceAttr(listed, "records.2.recovery_seconds"),
					resource.TestCheckResourceAttr(listed, "records.1.recovery_from", "apply start (no probe found a drained region unhealthy)"),
					resource.TestMatchResourceAttr(listed, "records.0.ran_by", regexp.MustCompile(`^local on `)),
					resource.TestCheckResourceAttrPair(listed, "records.0.uri", group, "last_record"),
					func(s *terraform.State) error {
						// The Markdown beside the JSON has the steps with their timings and the RTO comparison.
						md := e.readObject(t, s.RootModule().Resources[listed].Primary.Attributes["records.1.markdown_uri"])
						for _, want := range []string{"# Recovery record: failover group relay", "## Steps", "| url_map |", "## Health",
							"RTO: apply start (no probe found a drained region unhealthy) → serving again", "under ("} {
							if !strings.Contains(md, want) {
								return fmt.Errorf("the record's Markdown lacks %q:\n%s", want, md)
							}
						}
						return nil
					},
				),
			},
		},
	})
}

// readObject reads the object at a gs:// URI of the test bucket.
func (e *env) readObject(t *testing.T, uri string) string {
	t.Helper()
	object, ok := strings.CutPrefix(uri, "gs://"+testBucket+"/")
	if !ok {
		t.Fatalf("%q is not in gs://%s/", uri, testBucket)
	}
	r, err := e.clients.Storage.Bucket(testBucket).Object(object).NewReader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
