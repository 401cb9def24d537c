package resources_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/googleapis/gax-go/v2"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/proto"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
	"github.com/agentnet/terraform-provider-agentnet/internal/recoveryrecord"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/client"
)

var groupRegions = []string{"us-central1", "europe-west1", "asia-east1"}

// groupHCL declares three regions (Redis, relay service peered with the
// others) and a failover group over them.
func (e *relayEnv) groupHCL(states map[string]string, automatic bool, extra string) string {
	var b strings.Builder
	for _, region := range groupRegions {
		var peers []string
		for _, other := range groupRegions {
			if other != region {
				peers = append(peers, fmt.Sprintf("agentnet_redis_instance.%s.id", regionKey(other)))
			}
		}
		// Agents and health checks come through the front door only; the
		// group manages minimum instances.
		b.WriteString(e.regionHCLWith(region, "1.0", 1, "["+strings.Join(peers, ", ")+"]", "", `
  invoker_iam_disabled = true
  ingress              = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
  lifecycle {
    ignore_changes = [min_instances]
  }`))
	}
	var regions []string
	for _, region := range groupRegions {
		state := states[region]
		if state == "" {
			state = "active"
		}
		regions = append(regions, fmt.Sprintf(`    { region = %q, service = agentnet_relay_service.%s.id, state = %q }`,
			region, regionKey(region), state))
	}
	tok, _ := e.keys.Token("health-probe", 2*time.Hour)
	fmt.Fprintf(&b, `
resource "agentnet_relay_failover_group" "global" {
  name    = "relay"
  regions = [
%s
  ]
  capacity = {
    total_min_instances    = 6
    baseline_min_instances = 1
  }
  health_check = {
    token_wo         = %q
    token_wo_version = 1
    timeout          = "3s"
  }
  automatic_failover = %t
  reintroduction = {
    steps = [10, 50, 100]
    soak  = "1s"
  }
  drain_grace_period = "300ms"
  tls = {
    managed_domains = ["relay.example.com"]
  }
  %s
}
`, strings.Join(regions, ",\n"), tok, automatic, extra)
	return e.config(b.String())
}

func frontDoor(s *terraform.State) string {
	return s.RootModule().Resources["agentnet_relay_failover_group.global"].Primary.Attributes["front_door_url"]
}

// dialFront connects an agent through the front door, trusting
// localcloud's CA.
func (e *relayEnv) dialFront(t testing.TB, ctx context.Context, url, subject string, opts ...client.Option) (*client.Client, error) {
	return client.Dial(ctx, []string{url}, e.token(t, subject), append([]client.Option{client.WithRootCAs(e.lc.FrontDoorCA(t))}, opts...)...)
}

// regionsReached dials n agents through the front door and counts the
// regions they land in.
func (e *relayEnv) regionsReached(t testing.TB, url string, n int) (map[string]int, error) {
	got := map[string]int{}
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := e.dialFront(t, ctx, url, fmt.Sprintf("visitor-%d", i))
		cancel()
		if err != nil {
			return got, fmt.Errorf("connection %d through the front door: %w", i, err)
		}
		_, region := c.Instance()
		got[region]++
		c.Close()
	}
	return got, nil
}

// oplogSeq returns the sequence number of the first log entry after seq
// matching method and resource (substring), or -1.
func (e *relayEnv) oplogSeq(t testing.TB, after int64, method, resource string) int64 {
	for _, l := range e.lc.Oplog(t) {
		if l.Seq > after && l.Phase == "call" && l.Method == method && strings.Contains(l.Resource, resource) {
			return l.Seq
		}
	}
	return -1
}

func (e *relayEnv) lastSeq(t testing.TB) int64 {
	log := e.lc.Oplog(t)
	if len(log) == 0 {
		return 0
	}
	return log[len(log)-1].Seq
}

func TestAccRelayFailoverGroup_drainAndReturn(t *testing.T) {
	e := newRelayEnv(t)
	ctx := context.Background()
	var stay *stream
	var asiaAgent *client.Client
	var mark int64
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{ // three active regions behind one front door
				Config: e.groupHCL(nil, false, ""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "effective_weights.asia-east1", "100"),
					resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "min_instances.us-central1", "2"),
					func(s *terraform.State) error {
						got, err := e.regionsReached(t, frontDoor(s), 30)
						if err != nil {
							return err
						}
						if got["us-central1"] == 0 || got["europe-west1"] == 0 || got["asia-east1"] == 0 {
							return fmt.Errorf("30 connections reached %v: want every region", got)
						}
						// An agent in asia streams to one in europe through the drain.
						for i := 0; asiaAgent == nil && i < 30; i++ {
							c, err := e.dialFront(t, ctx, frontDoor(s), "asia-agent")
							if err != nil {
								return err
							}
							if _, region := c.Instance(); region == "asia-east1" {
								asiaAgent = c
							} else {
								c.Close()
							}
						}
						if asiaAgent == nil {
							return fmt.Errorf("no connection reached asia-east1")
						}
						peer, err := e.dialFront(t, ctx, frontDoor(s), "peer-agent")
						if err != nil {
							return err
						}
						stay = startStream(t, asiaAgent, peer)
						mark = e.lastSeq(t)
						return nil
					},
				),
			},
			{ // import by the group's name: the load balancer's state comes back
				ResourceName:  "agentnet_relay_failover_group.global",
				ImportState:   true,
				ImportStateId: "relay",
				ImportStateCheck: func(states []*terraform.InstanceState) error {
					if len(states) != 1 {
						return fmt.Errorf("imported %d states", len(states))
					}
					a := states[0].Attributes
					if a["id"] != "projects/"+testProject+"/global/urlMaps/relay" || a["effective_weights.asia-east1"] != "100" ||
						!strings.HasPrefix(a["front_door_url"], "https://127.0.0.1:") {
						return fmt.Errorf("imported attributes: %v", a)
					}
					return nil
				},
			},
			{ // drain asia: capacity first, then weights; its agents move away
				Config: e.groupHCL(map[string]string{"asia-east1": "drained"}, false, ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("agentnet_relay_failover_group.global", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "effective_weights.asia-east1", "0"),
					resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "min_instances.us-central1", "3"),
					resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "min_instances.asia-east1", "1"),
					func(s *terraform.State) error {
						patch := e.oplogSeq(t, mark, "compute.urlMaps.patch", "urlMaps/relay")
						for _, region := range []string{"us-central1", "europe-west1"} {
							scale := e.oplogSeq(t, mark, "google.cloud.run.v2.Services.UpdateService", region)
							if scale < 0 || patch < 0 || scale > patch {
								return fmt.Errorf("capacity of %s raised at log entry %d, URL map changed at %d: capacity must come first", region, scale, patch)
							}
						}
						got, err := e.regionsReached(t, frontDoor(s), 30)
						if err != nil {
							return err
						}
						if got["asia-east1"] != 0 {
							return fmt.Errorf("drained asia-east1 still got %d of 30 new connections", got["asia-east1"])
						}
						if err := stay.finish(); err != nil {
							return err
						}
						if _, region := asiaAgent.Instance(); region == "asia-east1" {
							return fmt.Errorf("the agent connected to asia-east1 is still there after the drain")
						}
						return nil
					},
				),
			},
			{ // draining every region is refused at plan time
				Config: e.groupHCL(map[string]string{"us-central1": "drained", "europe-west1": "standby", "asia-east1": "drained"}, false, ""),
				ExpectError: errorText("Refused by the failover group's safety rules",
					"refusing to drain the last healthy region"),
			},
			{ // asia returns through the ramp
				PreConfig: func() { mark = e.lastSeq(t) },
				Config:    e.groupHCL(nil, false, ""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "effective_weights.asia-east1", "100"),
					func(s *terraform.State) error {
						patches := 0
						for _, l := range e.lc.Oplog(t) {
							if l.Seq > mark && l.Phase == "call" && l.Method == "compute.urlMaps.patch" {
								patches++
							}
						}
						if patches < 3 {
							return fmt.Errorf("asia-east1 returned in %d URL map change(s), want the 3 ramp steps", patches)
						}
						return nil
					},
				),
			},
			{ // a weight edited behind Terraform's back (in the route agents take) shows up in the next plan
				PreConfig: func() {
					um, err := e.clients.Compute.URLMaps.Get(ctx, &computepb.GetUrlMapRequest{Project: testProject, UrlMap: "relay"})
					if err != nil {
						t.Fatal(err)
					}
					if len(um.GetPathMatchers()) != 1 {
						t.Fatalf("URL map has %d path matchers, want the group's one", len(um.GetPathMatchers()))
					}
					for _, wb := range um.GetPathMatchers()[0].GetDefaultRouteAction().GetWeightedBackendServices() {
						if strings.HasSuffix(wb.GetBackendService(), "relay-asia-east1") {
							wb.Weight = proto.Uint32(7)
						}
					}
					op, err := e.clients.Compute.URLMaps.Patch(ctx, &computepb.PatchUrlMapRequest{Project: testProject, UrlMap: "relay",
						UrlMapResource: &computepb.UrlMap{Fingerprint: um.Fingerprint, PathMatchers: um.PathMatchers}})
					if err == nil {
						err = op.Wait(ctx)
					}
					if err != nil {
						t.Fatal(err)
					}
				},
				Config: e.groupHCL(nil, false, ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("agentnet_relay_failover_group.global", plancheck.ResourceActionUpdate),
				}},
				Check: resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "effective_weights.asia-east1", "100"),
			},
			{ // a minimum instance count changed behind Terraform's back is drift too
				PreConfig: func() {
					svc, err := e.clients.Run.GetService(ctx, &runpb.GetServiceRequest{Name: serviceID("us-central1")})
					if err != nil {
						t.Fatal(err)
					}
					svc.Scaling.MinInstanceCount = 5
					op, err := e.clients.Run.UpdateService(ctx, &runpb.UpdateServiceRequest{Service: svc})
					if err == nil {
						_, err = op.Wait(ctx)
					}
					if err != nil {
						t.Fatal(err)
					}
				},
				Config: e.groupHCL(nil, false, ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("agentnet_relay_failover_group.global", plancheck.ResourceActionUpdate),
				}},
				Check: resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "min_instances.us-central1", "2"),
			},
			{ // drain asia again, then let it fail during its return soak: rolled back
				Config: e.groupHCL(map[string]string{"asia-east1": "drained"}, false, ""),
			},
			{
				PreConfig: func() {
					mark = e.lastSeq(t)
					go func() { // kill asia once its first ramp step is in place
						deadline := time.Now().Add(60 * time.Second)
						for time.Now().Before(deadline) {
							if e.oplogSeq(t, mark, "compute.urlMaps.patch", "urlMaps/relay") > 0 {
								e.lc.FaultService(t, "service-kill", serviceID("asia-east1"), map[string]any{"hold": true})
								return
							}
							time.Sleep(10 * time.Millisecond)
						}
					}()
				},
				Config:      e.groupHCL(nil, false, ""),
				ExpectError: errorText("Region asia-east1 rolled back", "failed its health check", "rolled back to weight 0"),
			},
			{
				PreConfig: func() {
					e.lc.FaultService(t, "service-release", serviceID("asia-east1"), nil)
				},
				Config: e.groupHCL(map[string]string{"asia-east1": "drained"}, false, ""),
				Check:  resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "effective_weights.asia-east1", "0"),
			},
		},
	})
}

// Automatic failover: an outage makes the next plan non-empty, and the
// apply is the failover. Its recovery record counts from the first
// unhealthy probe and data.agentnet_recovery_records reads it back.
func TestAccRelayFailoverGroup_automaticFailover(t *testing.T) {
	e := newRelayEnv(t)
	var outageAt time.Time
	records := fmt.Sprintf(`
  records_prefix      = "gs://%s/records/"
  recovery_objectives = { rto = "1h", rpo = "5m" }`, testBucket)
	failedOver := e.groupHCL(nil, true, records) + `
data "agentnet_recovery_records" "failovers" {
  prefix     = "gs://` + testBucket + `/records/"
  kind       = "failover"
  limit      = 1
  depends_on = [agentnet_relay_failover_group.global]
}
`
	recorded := ""
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{Config: e.groupHCL(nil, true, records)},
			{
				PreConfig: func() {
					outageAt = time.Now()
					e.lc.FaultRegion(t, "region-down", "europe-west1")
				},
				Config:             e.groupHCL(nil, true, records),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				Config: failedOver,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "effective_weights.europe-west1", "0"),
					resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "unhealthy_regions.0", "europe-west1"),
					resource.TestCheckResourceAttrWith("agentnet_relay_failover_group.global", "min_instances.europe-west1", func(v string) error {
						recorded = v
						return nil
					}),
					func(s *terraform.State) error {
						got, err := e.regionsReached(t, frontDoor(s), 30)
						if err != nil {
							return err
						}
						if got["europe-west1"] != 0 || got["us-central1"]+got["asia-east1"] != 30 {
							return fmt.Errorf("after the failover 30 connections reached %v", got)
						}
						t.Logf("automatic failover: outage to every new connection served by healthy regions in %v (plan, then apply)", time.Since(outageAt).Round(time.Millisecond))
						return nil
					},
					e.checkFailoverRecord(t, "data.agentnet_recovery_records.failovers"),
				),
			},
			{ // failed over: while the region stays down, the next plan is empty
				Config:   failedOver,
				PlanOnly: true,
			},
			{ // the region comes back with the capacity state recorded (no drift), and the next plan ramps it in
				PreConfig: func() {
					e.lc.FaultRegion(t, "region-up", "europe-west1")
					svc, err := e.clients.Run.GetService(context.Background(), &runpb.GetServiceRequest{
						Name: fmt.Sprintf("projects/%s/locations/europe-west1/services/relay", testProject)})
					if err != nil {
						t.Fatal(err)
					}
					if got := fmt.Sprint(svc.GetScaling().GetMinInstanceCount()); got != recorded {
						t.Errorf("state recorded min_instances.europe-west1 = %s during the outage, the service has %s: drift once the region answers", recorded, got)
					}
				},
				Config: e.groupHCL(nil, true, records),
				Check:  resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "effective_weights.europe-west1", "100"),
			},
		},
	})
}

func TestAccRelayFailoverGroup_invalidInput(t *testing.T) {
	e := newRelayEnv(t)
	withTLS := func(regions, tls, extra string) string {
		return e.config(fmt.Sprintf(`
resource "agentnet_relay_failover_group" "bad" {
  name    = "bad"
  regions = [%s]
  health_check = { token = "x" }
  %s
  %s
}
`, regions, tls, extra))
	}
	group := func(regions, extra string) string {
		return withTLS(regions, `tls = { managed_domains = ["relay.example.com"] }`, extra)
	}
	us := `{ region = "us-central1", service = "projects/p/locations/us-central1/services/relay" }`
	eu := `{ region = "europe-west1", service = "projects/p/locations/europe-west1/services/relay" }`
	step := func(cfg string, want ...string) resource.TestStep {
		return resource.TestStep{Config: cfg, PlanOnly: true, ExpectError: errorText(want...)}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			step(group(`{ region = "us-central1", service = "projects/p/locations/us-central1/services/relay", state = "paused" }`, ""),
				`value must be one of: ["active" "drained" "standby"]`),
			step(group(`{ region = "us-central1", service = "projects/p/locations/us-central1/services/relay", weight = 1001 }`, ""),
				"weight value must be between 0 and 1000, got: 1001"),
			step(group(us+", "+us, ""), "Duplicate region us-central1", "Region us-central1 is declared twice"),
			step(group(`{ region = "us-central1", service = "projects/p/locations/europe-west1/services/relay" }`, ""),
				"Service of region us-central1 in another region", "Region us-central1 declares the service projects/p/locations/europe-west1/services/relay, which is in europe-west1"),
			step(group(us+", "+eu, `capacity = { total_min_instances = 0 }`), "total_min_instances below the active regions",
				"capacity.total_min_instances is 0 but 2 region(s) are active (us-central1, europe-west1)"),
			step(group(us+", "+eu, `capacity = { total_min_instances = 1 }`), "must be at least 2"),
			step(strings.Replace(group(us, ""), `token = "x"`, `token = ""`, 1), "health_check.token", "must be a non-empty bearer token"),
			step(group(`{ region = "us-central1", service = "projects/p/locations/us-central1/services/relay", state = "drained" },
			  { region = "europe-west1", service = "projects/p/locations/europe-west1/services/relay", state = "standby" }`, ""),
				"Refused by the failover group's safety rules", "us-central1 is drained; europe-west1 is standby"),
			step(group(us+", "+eu, `reintroduction = { steps = [10, 50] }`), "Ramp must end at 100"),
			step(group(us+", "+eu, `min_active_regions = 3`), "min_active_regions is 3 but the group has 2 region(s)"),
			step(withTLS(us, "", ""), `The argument "tls" is required`),
			step(withTLS(us, `tls = { managed_domains = ["relay.example.com"], certificate_map = "projects/p/locations/global/certificateMaps/m" }`, ""),
				"Exactly one certificate source", "tls sets 2 of certificates, certificate_map and managed_domains"),
			step(withTLS(us, `tls = { managed_domains = ["*.example.com"] }`, ""), "must be a fully qualified domain name without wildcard"),
			step(withTLS(us, `tls = { certificates = ["my-cert"] }`, ""), "must be an SSL certificate"),
			step(group(us, `address = "10.0.0.1"`), "must be a global address"),
		},
	})
}

// A regions list built from a variable, as a module builds it: OpenTofu
// validates a configuration with every variable unknown.
func TestAccRelayFailoverGroup_regionsFromVariable(t *testing.T) {
	e := newEnv(t)
	cfg := e.config(`
variable "regions" {
  type = map(string)
  default = {
    "us-central1"  = "projects/agentnet-test/locations/us-central1/services/relay"
    "europe-west1" = "projects/agentnet-test/locations/europe-west1/services/relay"
  }
}

variable "total_min_instances" {
  type    = number
  default = null
}

resource "agentnet_relay_failover_group" "g" {
  name     = "g"
  regions  = [for r in sort(keys(var.regions)) : { region = r, service = var.regions[r] }]
  capacity = var.total_min_instances == null ? null : { total_min_instances = var.total_min_instances }
  health_check = { token = "x" }
  tls          = { managed_domains = ["relay.example.com"] }
}
`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{{
			Config:             cfg,
			PlanOnly:           true,
			ExpectNonEmptyPlan: true,
		}},
	})
}

// The front door is HTTPS on a static address: agents connect with wss://
// and verify localcloud's CA, port 80 redirects to HTTPS, and the region
// header reaches one region only, which is how health checks go through it.
func TestAccRelayFailoverGroup_httpsFrontDoor(t *testing.T) {
	e := newRelayEnv(t)
	ctx := context.Background()
	tok, _ := e.keys.Token("health-probe", time.Hour)
	cfg := e.groupHCL(nil, false, "") + fmt.Sprintf(`
data "agentnet_relay_health" "europe" {
  url         = agentnet_relay_failover_group.global.front_door_url
  token_file  = %[1]q
  region      = "europe-west1"
  server_name = "relay.example.com"
}

data "agentnet_relay_health" "wrong_name" {
  url         = agentnet_relay_failover_group.global.front_door_url
  token_file  = %[1]q
  server_name = "relay.example.org"
  timeout     = "3s"
}
`, tokenFile(t, tok))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{{
			Config: cfg,
			Check: resource.ComposeAggregateTestCheckFunc(
				noTokenInState(tok),
				resource.TestMatchResourceAttr("agentnet_relay_failover_group.global", "front_door_url", regexp.MustCompile(`^https://127\.0\.0\.1:\d+$`)),
				resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "ip_address", "127.0.0.1"),
				resource.TestCheckResourceAttr("data.agentnet_relay_health.europe", "healthy", "true"),
				// Verification is never skipped: a name the certificate lacks fails.
				resource.TestCheckResourceAttr("data.agentnet_relay_health.wrong_name", "healthy", "false"),
				resource.TestMatchResourceAttr("data.agentnet_relay_health.wrong_name", "error", regexp.MustCompile(`certificate`)),
				func(s *terraform.State) error {
					// Capacity before traffic, and the URL map (with its
					// region routes) before the front door the health gate
					// goes through.
					insert := e.oplogSeq(t, 0, "compute.urlMaps.insert", "urlMaps/relay")
					for _, region := range groupRegions {
						if scale := e.oplogSeq(t, 0, "google.cloud.run.v2.Services.UpdateService", region); scale < 0 || scale > insert {
							return fmt.Errorf("capacity of %s raised at log entry %d, URL map created at %d: capacity must come first", region, scale, insert)
						}
					}
					if rule := e.oplogSeq(t, 0, "compute.globalForwardingRules.insert", "forwardingRules/relay"); rule < insert {
						return fmt.Errorf("forwarding rule created at log entry %d, before the URL map (%d)", rule, insert)
					}
					front := frontDoor(s)
					wss := "wss" + strings.TrimPrefix(front, "https") + "/ws"
					// A round trip through the front door, verifying localcloud's CA.
					if err := e.probeFront(t, front); err != nil {
						return err
					}
					pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
					defer cancel()
					// Without the CA the certificate is not trusted.
					if _, err := client.Dial(pctx, []string{wss}, e.token(t, "no-ca")); err == nil || !strings.Contains(err.Error(), "certificate") {
						return fmt.Errorf("a client without localcloud's CA got %v, want a certificate error", err)
					}
					// Pinned to one region by the header.
					for i := 0; i < 10; i++ {
						c, err := e.dialFront(t, pctx, front, fmt.Sprintf("pinned-%d", i), client.WithHeader(http.Header{"X-Agentnet-Region": {"asia-east1"}}))
						if err != nil {
							return err
						}
						_, region := c.Instance()
						c.Close()
						if region != "asia-east1" {
							return fmt.Errorf("connection %d pinned to asia-east1 reached %s", i, region)
						}
					}
					// Port 80 of the same address redirects to HTTPS.
					fr, err := e.clients.Compute.ForwardingRules.Get(ctx, &computepb.GetGlobalForwardingRuleRequest{Project: testProject, ForwardingRule: "relay-http"})
					if err != nil {
						return err
					}
					port, _, _ := strings.Cut(fr.GetPortRange(), "-")
					noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
					resp, err := noFollow.Get("http://127.0.0.1:" + port + "/ws?x=1")
					if err != nil {
						return err
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != front+"/ws?x=1" {
						return fmt.Errorf("plain HTTP on the redirect port answered %d, Location %q; want 301 to %s/ws?x=1", resp.StatusCode, resp.Header.Get("Location"), front)
					}
					// Every object carries agentnet's marker.
					um, err := e.clients.Compute.URLMaps.Get(ctx, &computepb.GetUrlMapRequest{Project: testProject, UrlMap: "relay"})
					if err != nil || !strings.HasPrefix(um.GetDescription(), "managed-by: agentnet") {
						return fmt.Errorf("URL map description %q (%v), want agentnet's marker", um.GetDescription(), err)
					}
					cert, err := e.clients.Compute.SSLCertificates.List(ctx, &computepb.ListSslCertificatesRequest{Project: testProject}).Next()
					if err != nil || cert.GetManaged().GetStatus() != "ACTIVE" || !strings.HasPrefix(cert.GetDescription(), "managed-by: agentnet") {
						return fmt.Errorf("managed certificate %v (%v), want ACTIVE and marked", cert, err)
					}
					return nil
				},
			),
		}, {
			// More domains: a new managed certificate is swapped in, the old
			// one deleted, the address kept.
			Config: strings.Replace(cfg, `managed_domains = ["relay.example.com"]`, `managed_domains = ["relay.example.com", "agents.example.com"]`, 1),
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("agentnet_relay_failover_group.global", "ip_address", "127.0.0.1"),
				func(s *terraform.State) error {
					certs := e.sslCertificates(t)
					if len(certs) != 1 || len(certs[0].GetManaged().GetDomains()) != 2 || certs[0].GetManaged().GetStatus() != "ACTIVE" {
						return fmt.Errorf("certificates after the domains changed: %v", certs)
					}
					return e.probeFront(t, frontDoor(s))
				},
			),
		}, {
			// A Certificate Manager map instead: it wins over the proxy's
			// certificate list (kept until destroy), which is no longer served.
			Config: strings.Replace(cfg, `managed_domains = ["relay.example.com"]`,
				`certificate_map = "projects/agentnet-test/locations/global/certificateMaps/relay"`, 1),
			Check: func(s *terraform.State) error {
				for _, c := range e.sslCertificates(t) {
					if c.GetManaged().GetStatus() == "ACTIVE" {
						return fmt.Errorf("certificate %s still served with a certificate map", c.GetName())
					}
				}
				p, err := e.clients.Compute.TargetHTTPSProxies.Get(ctx, &computepb.GetTargetHttpsProxyRequest{Project: testProject, TargetHttpsProxy: "relay"})
				if err != nil || p.GetCertificateMap() != "//certificatemanager.googleapis.com/projects/agentnet-test/locations/global/certificateMaps/relay" {
					return fmt.Errorf("target HTTPS proxy %v (%v)", p, err)
				}
				return e.probeFront(t, frontDoor(s))
			},
		}, {
			// The plain HTTP front door of an earlier version (unmarked) is
			// replaced by the HTTPS one.
			PreConfig: func() { e.downgradeFrontDoor(t) },
			Config:    cfg,
			Check: func(s *terraform.State) error {
				if !strings.HasPrefix(frontDoor(s), "https://") {
					return fmt.Errorf("front_door_url %s after the upgrade", frontDoor(s))
				}
				if _, err := e.clients.Compute.TargetHTTPProxies.Get(ctx, &computepb.GetTargetHttpProxyRequest{Project: testProject, TargetHttpProxy: "relay"}); err == nil {
					return fmt.Errorf("the old target HTTP proxy is still there")
				}
				return e.probeFront(t, frontDoor(s))
			},
		}, {
			// Destroy leaves an object that is not agentnet's (its marker
			// removed here by another team) and says why.
			PreConfig: func() { e.setBackendDescription(t, "relay-asia-east1", "owned by the platform team") },
			Config:    cfg,
			Destroy:   true,
			ExpectError: errorText(`Backend service "relay-asia-east1" was not created by agentnet`,
				"is not deleted"),
		}, {
			PreConfig: func() {
				if _, err := e.clients.Compute.BackendServices.Get(ctx, &computepb.GetBackendServiceRequest{Project: testProject, BackendService: "relay-asia-east1"}); err != nil {
					t.Fatalf("the unmarked backend service is gone: %v", err)
				}
				e.setBackendDescription(t, "relay-asia-east1", "managed-by: agentnet")
			},
			Config: cfg,
			Check:  resource.TestMatchResourceAttr("agentnet_relay_failover_group.global", "front_door_url", regexp.MustCompile(`^https://`)),
		}},
	})
}

// Creating a group over a URL map that agentnet did not create fails with
// the import hint and changes nothing.
func TestAccRelayFailoverGroup_refusesForeignURLMap(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	wait := waiter(t)
	wait(e.clients.Compute.BackendServices.Insert(ctx, &computepb.InsertBackendServiceRequest{Project: testProject,
		BackendServiceResource: &computepb.BackendService{Name: proto.String("production"), LoadBalancingScheme: proto.String("EXTERNAL_MANAGED")}}))
	wait(e.clients.Compute.URLMaps.Insert(ctx, &computepb.InsertUrlMapRequest{Project: testProject,
		UrlMapResource: &computepb.UrlMap{Name: proto.String("relay"), DefaultService: proto.String("global/backendServices/production")}}))
	before, err := e.clients.Compute.URLMaps.Get(ctx, &computepb.GetUrlMapRequest{Project: testProject, UrlMap: "relay"})
	if err != nil {
		t.Fatal(err)
	}
	var mark int64
	cfg := e.config(`
resource "agentnet_relay_failover_group" "global" {
  name    = "relay"
  regions = [
    { region = "us-central1", service = "projects/agentnet-test/locations/us-central1/services/relay" },
  ]
  health_check = { token = "x" }
  tls          = { managed_domains = ["relay.example.com"] }
}
`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{{
			PreConfig: func() {
				if log := e.lc.Oplog(t); len(log) > 0 {
					mark = log[len(log)-1].Seq
				}
			},
			Config: cfg,
			ExpectError: errorText(`URL map "relay" already exists and was not created by agentnet`,
				"tofu import agentnet_relay_failover_group.<name> projects/agentnet-test/global/urlMaps/relay"),
		}, {
			// Nothing changed: the URL map as it was, nothing created (the
			// group is still to be created).
			RefreshState:       true,
			ExpectNonEmptyPlan: true,
			Check: func(*terraform.State) error {
				after, err := e.clients.Compute.URLMaps.Get(ctx, &computepb.GetUrlMapRequest{Project: testProject, UrlMap: "relay"})
				if err != nil {
					return err
				}
				if !proto.Equal(before, after) {
					return fmt.Errorf("the URL map changed:\nbefore %v\nafter  %v", before, after)
				}
				for _, l := range e.lc.Oplog(t) {
					if l.Seq > mark && l.Phase == "call" {
						return fmt.Errorf("the refused create still called %s on %s", l.Method, l.Resource)
					}
				}
				return nil
			},
		}},
	})
}

// setBackendDescription changes a backend service's description, as another
// tool would.
func (e *relayEnv) setBackendDescription(t testing.TB, name, description string) {
	t.Helper()
	ctx := context.Background()
	bs, err := e.clients.Compute.BackendServices.Get(ctx, &computepb.GetBackendServiceRequest{Project: testProject, BackendService: name})
	if err != nil {
		t.Fatal(err)
	}
	op, err := e.clients.Compute.BackendServices.Patch(ctx, &computepb.PatchBackendServiceRequest{Project: testProject, BackendService: name,
		BackendServiceResource: &computepb.BackendService{Fingerprint: bs.Fingerprint, Description: proto.String(description)}})
	if err == nil {
		err = op.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func (e *relayEnv) sslCertificates(t testing.TB) []*computepb.SslCertificate {
	t.Helper()
	var out []*computepb.SslCertificate
	it := e.clients.Compute.SSLCertificates.List(context.Background(), &computepb.ListSslCertificatesRequest{Project: testProject})
	for {
		c, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

// probeFront makes a wss round trip through the front door, trusting
// localcloud's CA.
func (e *relayEnv) probeFront(t testing.TB, front string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	wss := "wss" + strings.TrimPrefix(front, "https") + "/ws"
	if _, err := client.Probe(ctx, wss, e.token(t, "tls-probe"), client.WithRootCAs(e.lc.FrontDoorCA(t))); err != nil {
		return fmt.Errorf("wss round trip through %s: %w", wss, err)
	}
	return nil
}

// waiter returns a function that waits for a Compute Engine operation as
// an insert or delete returns it, failing the test if it cannot be started
// or fails.
func waiter(t testing.TB) func(op interface {
	Wait(context.Context, ...gax.CallOption) error
}, err error) {
	return func(op interface {
		Wait(context.Context, ...gax.CallOption) error
	}, err error) {
		t.Helper()
		if err == nil {
			err = op.Wait(context.Background())
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// downgradeFrontDoor puts back the front door an earlier version made: an
// unmarked forwarding rule of the group's name on a target HTTP proxy of
// the URL map.
func (e *relayEnv) downgradeFrontDoor(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	c := e.clients.Compute
	wait := waiter(t)
	wait(c.ForwardingRules.Delete(ctx, &computepb.DeleteGlobalForwardingRuleRequest{Project: testProject, ForwardingRule: "relay"}))
	wait(c.TargetHTTPProxies.Insert(ctx, &computepb.InsertTargetHttpProxyRequest{Project: testProject, TargetHttpProxyResource: &computepb.TargetHttpProxy{
		Name: proto.String("relay"), UrlMap: proto.String("global/urlMaps/relay")}}))
	wait(c.ForwardingRules.Insert(ctx, &computepb.InsertGlobalForwardingRuleRequest{Project: testProject, ForwardingRuleResource: &computepb.ForwardingRule{
		Name: proto.String("relay"), Target: proto.String("global/targetHttpProxies/relay"), PortRange: proto.String("80"),
		LoadBalancingScheme: proto.String("EXTERNAL_MANAGED")}}))
}

// checkFailoverRecord checks the newest failover record, listed: the
// automatic failover's, the group's last_record, timed from the probe that
// found europe-west1 unhealthy (before the apply started) to serving again,
// within the RTO.
func (e *relayEnv) checkFailoverRecord(t *testing.T, listed string) resource.TestCheckFunc {
	const group = "agentnet_relay_failover_group.global"
	return resource.ComposeAggregateTestCheckFunc(
		resource.TestCheckResourceAttr(listed, "records.#", "1"),
		resource.TestCheckResourceAttrPair(listed, "records.0.uri", group, "last_record"),
		resource.TestCheckResourceAttr(listed, "records.0.moved.0", "europe-west1 drained: its traffic went to asia-east1, us-central1"),
		resource.TestCheckResourceAttr(listed, "records.0.passed", "true"),
		resource.TestCheckResourceAttr(listed, "records.0.recovery_from", "first unhealthy probe"),
		func(s *terraform.State) error {
			var rec recoveryrecord.Record
			if err := json.Unmarshal([]byte(e.readObject(t, s.RootModule().Resources[listed].Primary.Attributes["records.0.uri"])), &rec); err != nil {
				return err
			}
			if !rec.FirstUnhealthy.Before(rec.Started) || rec.Recovery() <= rec.ServingAgain.Sub(rec.Started) {
				return fmt.Errorf("the record counts from %s, the apply started at %s: not from the plan's unhealthy probe", rec.FirstUnhealthy, rec.Started)
			}
			if len(rec.Metrics) != 1 || rec.Metrics[0].Name != "RTO: first unhealthy probe → serving again" || !*rec.Metrics[0].Met {
				return fmt.Errorf("the record's comparison with the RTO: %+v", rec.Metrics)
			}
			t.Logf("failover record: first unhealthy probe %s before the apply started, recovery %s",
				rec.Started.Sub(rec.FirstUnhealthy).Round(time.Millisecond), rec.Recovery().Round(time.Millisecond))
			return nil
		},
	)
}
