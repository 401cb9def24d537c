package resources_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
)

// statusFollowsGroupHCL is a status page whose region components follow the
// failover group and a health probe of each region through the front door.
func (e *relayEnv) statusFollowsGroupHCL(t *testing.T) string {
	tok, _ := e.keys.Token("status-probe", 2*time.Hour)
	return fmt.Sprintf(`
# count, not for_each: terraform-plugin-testing's state reads only
# numbered instances.
data "agentnet_relay_health" "region" {
  count       = length(agentnet_relay_failover_group.global.regions)
  url         = agentnet_relay_failover_group.global.front_door_url
  token       = %q
  region      = agentnet_relay_failover_group.global.regions[count.index].region
  server_name = "relay.example.com"
  timeout     = "5s"
}

locals {
  group = agentnet_relay_failover_group.global
}

resource "agentnet_status_page" "status" {
  bucket = %q
  prefix = %q
  title  = "AI Agent Network status"
  components = concat(
    [for i, r in local.group.regions : {
      name    = "Relay ${r.region}"
      group   = "region"
      state   = r.state == "drained" || contains(local.group.unhealthy_regions, r.region) || !data.agentnet_relay_health.region[i].healthy ? "degraded" : "operational"
      message = r.state == "drained" ? "Drained: agents reconnect to the other regions" : null
    }],
    [%s
    ],
  )
  incidents = [
%s
  ]
}
`, tok, statusSiteBucket, statusPrefix, strings.TrimSuffix(fmt.Sprintf(statusDependencies, "operational"), ","),
		statusIncident("asia-east1-errors", "identified", "Relay asia-east1"))
}

// TestAccStatusPage_browserFollowsFailover applies three regions, a
// failover group and a status page following it, and reads the page in
// Chromium as localcloud serves it: every component and the open incident,
// then, after an apply that drains a region, that region degraded. The
// bucket is Google's recommended kind: uniform bucket-level access, public
// through its IAM policy.
func TestAccStatusPage_browserFollowsFailover(t *testing.T) {
	e := newRelayEnv(t)
	e.publicUniformBucket(t, statusSiteBucket, true)
	withJS, withoutJS := newBrowser(t, true), newBrowser(t, false)
	pageURL := func(s *terraform.State) string {
		return s.RootModule().Resources["agentnet_status_page.status"].Primary.Attributes["url"]
	}
	componentState := func(b *browser, name, want string) error {
		got, err := b.text(fmt.Sprintf(`li[data-component=%q] .state`, name))
		if err != nil {
			return fmt.Errorf("component %s: %w", name, err)
		}
		if !strings.Contains(got, want) {
			return fmt.Errorf("component %s shows %q, want %q", name, got, want)
		}
		return nil
	}
	components := []string{"Relay us-central1", "Relay europe-west1", "Relay asia-east1", "Identity provider", "Calendar", "Language model API"}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{ // every region active: every component operational, the open incident shown
				Config: e.groupHCL(nil, false, "") + e.statusFollowsGroupHCL(t),
				Check: func(s *terraform.State) error {
					url := pageURL(s)
					doc, err := withJS.open(url)
					if err != nil {
						return err
					}
					if doc.Status != 200 || doc.Headers["Content-Type"] != "text/html; charset=utf-8" || doc.Headers["Cache-Control"] != "public, max-age=60" {
						return fmt.Errorf("%s answered %+v", url, doc)
					}
					for _, c := range components {
						if err := componentState(withJS, c, "Operational"); err != nil {
							return err
						}
					}
					incident, err := withJS.text(`#open-heading ~ article[data-incident="asia-east1-errors"]`)
					if err != nil {
						return fmt.Errorf("open incident: %w", err)
					}
					for _, want := range []string{"Relay asia-east1 unreachable", "Identified", "Estimated resolution", "Initial incident notification", "Recovery in progress"} {
						if !strings.Contains(incident, want) {
							return fmt.Errorf("open incident shows %q, lacking %q", incident, want)
						}
					}
					// The whole page is one small file.
					size, _ := strconv.Atoi(s.RootModule().Resources["agentnet_status_page.status"].Primary.Attributes["html_bytes"])
					if size == 0 || size > 14*1024 {
						return fmt.Errorf("index.html is %d bytes, want at most 14 KiB (one round trip)", size)
					}
					t.Logf("index.html: %d bytes, six components and one open incident", size)
					return e.readableWithoutJS(withoutJS, url, components)
				},
			},
			{ // drain asia-east1: the apply that moves traffic also degrades its component
				Config: e.groupHCL(map[string]string{"asia-east1": "drained"}, false, "") + e.statusFollowsGroupHCL(t),
				Check: func(s *terraform.State) error {
					if _, err := withJS.open(pageURL(s)); err != nil {
						return err
					}
					if err := componentState(withJS, "Relay asia-east1", "Degraded"); err != nil {
						return err
					}
					for _, c := range []string{"Relay us-central1", "Relay europe-west1"} {
						if err := componentState(withJS, c, "Operational"); err != nil {
							return err
						}
					}
					if banner, err := withJS.text("#overall"); err != nil || !strings.Contains(banner, "degraded") {
						return fmt.Errorf("banner %q (%v), want it to say degraded", banner, err)
					}
					if msg, err := withJS.text(`li[data-component="Relay asia-east1"] small`); err != nil || !strings.Contains(msg, "Drained") {
						return fmt.Errorf("drained region's message %q (%v)", msg, err)
					}
					// localcloud's guard still refuses a cross-site request for the page.
					req, _ := http.NewRequest(http.MethodGet, pageURL(s), nil)
					req.Header.Set("Sec-Fetch-Site", "cross-site")
					req.Header.Set("Sec-Fetch-Mode", "no-cors")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						return err
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusForbidden {
						return fmt.Errorf("a cross-site request for the page got %d, want 403", resp.StatusCode)
					}
					return nil
				},
			},
		},
	})
}

// readableWithoutJS reads the page with JavaScript off, as assistive
// technology gets it: landmarks, headings, and each component with its
// state in words.
func (e *relayEnv) readableWithoutJS(b *browser, url string, components []string) error {
	if _, err := b.open(url); err != nil {
		return err
	}
	tree, err := b.accessibilityTree()
	if err != nil {
		return err
	}
	roles := map[string]bool{}
	var text strings.Builder
	for _, n := range tree {
		roles[n.Role] = true
		text.WriteString(n.Name + "\n")
	}
	for _, landmark := range []string{"banner", "main", "contentinfo", "heading", "region", "article"} {
		if !roles[landmark] {
			return fmt.Errorf("without JavaScript the page has no %s (roles: %v)", landmark, roles)
		}
	}
	for _, want := range append(components, "Operational", "Open incidents", "Relay asia-east1 unreachable") {
		if !strings.Contains(text.String(), want) {
			return fmt.Errorf("without JavaScript the page does not say %q:\n%s", want, text.String())
		}
	}
	return nil
}
