package resources_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
	"github.com/agentnet/terraform-provider-agentnet/internal/notify"
)

const statusPrefix = "status/"

// statusDependencies are the external dependencies of the plan's External
// Dependency Failure procedure, as status page components.
const statusDependencies = `
    { name = "Identity provider", group = "dependency", state = "operational" },
    { name = "Calendar", group = "dependency", state = "operational" },
    { name = "Language model API", group = "dependency", state = %q, message = "Fallback responses are in use" },`

// statusPageHCL declares a page with the given components (HCL list
// elements), incidents (HCL list elements) and blocks.
func statusPageHCL(components, incidents string, blocks ...string) string {
	return fmt.Sprintf(`
resource "agentnet_status_page" "status" {
  bucket = %q
  prefix = %q
  title  = "AI Agent Network status"
  components = [
%s
  ]
  incidents = [
%s
  ]
%s
}
`, testBucket, statusPrefix, components, incidents, strings.Join(blocks, "\n"))
}

// statusIncident is an incident in HCL with an initial notification and,
// when resolved, a restoration and a summary.
func statusIncident(id, status, component string) string {
	updates := `{ template = "initial_notification", at = "2026-03-01T10:02:00Z" },
      { template = "recovery_in_progress", at = "2026-03-01T10:05:00Z", message = "Traffic is moving to the other regions." },`
	if status == "resolved" {
		updates += `
      { template = "service_restoration", at = "2026-03-01T10:20:00Z" },
      { template = "post_incident_summary", at = "2026-03-02T09:00:00Z", message = "A zone failure took the region out; failover took 4 minutes." },`
	}
	return fmt.Sprintf(`    {
      id                   = %q
      title                = "%s unreachable"
      status               = %q
      components           = [%q]
      started_at           = "2026-03-01T10:00:00Z"
      estimated_resolution = "2026-03-01T10:30:00Z"
      updates = [
      %s
      ]
    },`, id, component, status, component, updates)
}

// readPublished reads an object of the page with the official client.
func (e *env) readPublished(name string) (string, *storage.ObjectAttrs, error) {
	ctx := context.Background()
	o := e.clients.Storage.Bucket(testBucket).Object(statusPrefix + name)
	attrs, err := o.Attrs(ctx)
	if err != nil {
		return "", nil, err
	}
	r, err := o.NewReader(ctx)
	if err != nil {
		return "", nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), attrs, err
}

// publishedHolds checks that the page and both feeds hold each string.
func (e *env) publishedHolds(want ...string) resource.TestCheckFunc {
	return e.objectsHold([]string{"index.html", "feed.json", "feed.atom"}, want...)
}

// objectsHold checks that each of the page's objects holds each string.
func (e *env) objectsHold(names []string, want ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		for _, name := range names {
			body, _, err := e.readPublished(name)
			if err != nil {
				return err
			}
			for _, w := range want {
				if !strings.Contains(body, w) {
					return fmt.Errorf("%s lacks %q:\n%s", name, w, body)
				}
			}
		}
		return nil
	}
}

func TestAccStatusPage_publishesAndKeepsHistory(t *testing.T) {
	e := newEnv(t)
	regions := `    { name = "Relay us-central1", group = "region", state = "operational" },
    { name = "Relay asia-east1", group = "region", state = "degraded", message = "Drained: agents reconnect elsewhere" },`
	components := regions + fmt.Sprintf(statusDependencies, "degraded")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			for _, name := range []string{"index.html", "feed.json", "feed.atom"} {
				if _, _, err := e.readPublished(name); !errors.Is(err, storage.ErrObjectNotExist) {
					return fmt.Errorf("%s after destroy: %v, want it deleted", name, err)
				}
			}
			return nil
		},
		Steps: []resource.TestStep{
			{ // an open incident: public objects with Google's metadata
				Config: e.config(statusPageHCL(components, statusIncident("asia-outage", "identified", "Relay asia-east1"))),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_status_page.status", "id", "gs://"+testBucket+"/"+statusPrefix),
					resource.TestCheckResourceAttr("agentnet_status_page.status", "url", "http://"+e.lc.Addr()+"/"+testBucket+"/status/index.html"),
					resource.TestCheckResourceAttrSet("agentnet_status_page.status", "published_at"),
					e.publishedHolds("Relay asia-east1 unreachable", "Traffic is moving to the other regions.", "2026-03-01 10:30 UTC"),
					func(*terraform.State) error {
						for name, ct := range map[string]string{"index.html": "text/html; charset=utf-8", "feed.json": "application/feed+json", "feed.atom": "application/atom+xml"} {
							_, a, err := e.readPublished(name)
							if err != nil {
								return err
							}
							public := false
							for _, rule := range a.ACL {
								public = public || (rule.Entity == storage.AllUsers && rule.Role == storage.RoleReader)
							}
							if a.ContentType != ct || a.CacheControl != "public, max-age=60" || !public {
								return fmt.Errorf("%s: content type %q, cache control %q, ACL %v", name, a.ContentType, a.CacheControl, a.ACL)
							}
						}
						html, _, _ := e.readPublished("index.html")
						if !strings.Contains(html, `data-component="Language model API" data-state="degraded"`) || strings.Contains(html, "No open incidents") {
							return fmt.Errorf("page: %s", html)
						}
						return nil
					},
				),
			},
			{ // resolved: the summary is published, the incident is past
				Config: e.config(statusPageHCL(components, statusIncident("asia-outage", "resolved", "Relay asia-east1"))),
				Check: resource.ComposeAggregateTestCheckFunc(
					e.publishedHolds("A zone failure took the region out", "Relay asia-east1 is operating normally again"),
					e.objectsHold([]string{"index.html"}, "No open incidents"),
				),
			},
			{ // removed from configuration, another declared: history keeps the first
				Config: e.config(statusPageHCL(components, statusIncident("calendar-errors", "investigating", "Calendar"))),
				Check: resource.ComposeAggregateTestCheckFunc(
					e.publishedHolds("Relay asia-east1 unreachable", "Calendar unreachable"),
					func(*terraform.State) error {
						feed, _, err := e.readPublished("feed.json")
						if err != nil {
							return err
						}
						var f struct {
							Items  []struct{ ID string }
							Status struct {
								Incidents []struct{ ID, Status string }
							} `json:"_agentnet_status"`
						}
						if err := json.Unmarshal([]byte(feed), &f); err != nil {
							return err
						}
						got := fmt.Sprint(f.Status.Incidents)
						if got != "[{calendar-errors investigating} {asia-outage resolved}]" || len(f.Items) != 6 {
							return fmt.Errorf("feed record %s with %d items", got, len(f.Items))
						}
						return nil
					},
				),
			},
		},
	})
}

func TestAccStatusPage_invalidInput(t *testing.T) {
	e := newEnv(t)
	ok := `    { name = "Relay us-central1", group = "region", state = "operational" },`
	cases := []struct {
		name, components, incidents string
		want                        []string
	}{
		{"state", `    { name = "Relay us-central1", group = "region", state = "down" },`, "",
			[]string{`components[0].state`, `value must be one of:`, `"operational"`, `"degraded"`, `"outage"`}},
		{"group", `    { name = "Relay us-central1", group = "zone", state = "operational" },`, "",
			[]string{`components[0].group`, `"region"`, `"dependency"`}},
		{"unknown component", ok, statusIncident("x", "identified", "Calendar"),
			[]string{`incidents[0].components[0]`, `"Calendar" is not a declared component; accepted values: Relay us-central1`}},
		{"status", ok, statusIncident("x", "fixed", "Relay us-central1"),
			[]string{`incidents[0].status`, `"investigating"`, `"identified"`, `"monitoring"`, `"resolved"`}},
		{"user data", `    { name = "Relay us-central1", group = "region", state = "degraded", message = "ask ops@example.com" },`, "",
			[]string{`components[0].message`, `must not contain '@'`}},
		{"time", ok, strings.Replace(statusIncident("x", "identified", "Relay us-central1"), "2026-03-01T10:00:00Z", "yesterday", 1),
			[]string{`incidents[0].started_at`, `must be an RFC 3339 time`}},
		{"template", ok, strings.Replace(statusIncident("x", "identified", "Relay us-central1"), "initial_notification", "apology", 1),
			[]string{`incidents[0].updates[0].template`, `"initial_notification"`, `"post_incident_summary"`}},
	}
	var steps []resource.TestStep
	for _, c := range cases {
		steps = append(steps, resource.TestStep{
			Config: e.config(statusPageHCL(c.components, c.incidents)), PlanOnly: true,
			ExpectError: errorText(c.want...),
		})
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps:                    steps,
		CheckDestroy: func(*terraform.State) error {
			if _, _, err := e.readPublished("index.html"); !errors.Is(err, storage.ErrObjectNotExist) {
				return fmt.Errorf("a refused configuration published the page: %v", err)
			}
			return nil
		},
	})
}

// incidentsNotified lists the events the webhook accepted as
// "subject: status".
func (w *webhook) incidentsNotified() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, ev := range w.events {
		out = append(out, ev.Subject+": "+ev.Details["status"])
	}
	return strings.Join(out, ", ")
}

func TestAccStatusPage_notifiesIncidentChanges(t *testing.T) {
	e := newEnv(t)
	good, broken := newWebhook(t, 0), newWebhook(t, http.StatusInternalServerError)
	components := `    { name = "Relay asia-east1", group = "region", state = "degraded" },` + fmt.Sprintf(statusDependencies, "operational")
	hook := func(url string) string {
		return fmt.Sprintf("  notification {\n    url_wo = %q\n    format = \"json\"\n  }", url)
	}
	expect := func(want string) resource.TestCheckFunc {
		return func(*terraform.State) error {
			if got := good.incidentsNotified(); got != want {
				return fmt.Errorf("the webhook received [%s], want [%s]", got, want)
			}
			return nil
		}
	}
	asia := func(status string) string { return statusIncident("asia-outage", status, "Relay asia-east1") }
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{Config: e.config(statusPageHCL(components, asia("identified"), hook(good.URL))),
				Check: expect("asia-outage: identified")},
			{Config: e.config(statusPageHCL(components, asia("resolved"), hook(good.URL))),
				Check: expect("asia-outage: identified, asia-outage: resolved")},
			{ // a failing webhook is a warning: the page is published, the other webhook told
				Config: e.config(statusPageHCL(components, asia("resolved")+statusIncident("calendar-errors", "investigating", "Calendar"),
					hook(broken.URL), hook(good.URL))),
				Check: resource.ComposeAggregateTestCheckFunc(
					expect("asia-outage: identified, asia-outage: resolved, calendar-errors: investigating"),
					e.objectsHold([]string{"index.html"}, "Calendar unreachable"),
				),
			},
		},
	})
	if len(good.events) > 0 && (good.events[0].Kind != notify.IncidentUpdated || !strings.Contains(good.events[0].Summary, "Relay asia-east1 unreachable (identified)")) {
		t.Errorf("first event: %+v", good.events[0])
	}
}
