package resources_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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

func TestAccRelayFailoverGroup_notifications(t *testing.T) {
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
  }`, receiver.URL, broken.URL)
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
					func(*terraform.State) error {
						if broken.requests != 8 {
							return fmt.Errorf("the broken webhook got %d requests, want 4 attempts for each of 2 events", broken.requests)
						}
						return receiver.got("failover_started:asia-east1:", "failover_ended:asia-east1:succeeded")
					}),
			},
			{ // the return, ramped: a second failover
				Config: e.groupHCL(nil, false, hooks),
				Check: func(*terraform.State) error {
					return receiver.got("failover_started:asia-east1:", "failover_ended:asia-east1:succeeded",
						"failover_started:asia-east1:", "failover_ended:asia-east1:succeeded")
				},
			},
		},
	})
}
