package resources_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/compute"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
)

// The modelled URL map propagation of TestAccRelayFailoverGroup_waitsForPropagation:
// 30 s at a time scale of 10, so each change reaches the front door 3 s
// after its operation is DONE.
const (
	testPropagation = 30 * time.Second
	testTimeScale   = 10
	testSlept       = testPropagation / testTimeScale
	// sampleSlack covers the poller's interval against the provider's own
	// round trips, and clock reads in two processes.
	sampleSlack = 150 * time.Millisecond
)

// generationSample is what one new connection through the front door saw.
type generationSample struct {
	at         time.Time
	generation int64
}

// generationPoller asks the front door's /ready every 50 ms, a new
// connection each time, and keeps the routing generation of each answer.
type generationPoller struct {
	mu      sync.Mutex
	samples []generationSample
	stop    chan struct{}
	done    chan struct{}
}

func (e *relayEnv) pollGenerations(t *testing.T, frontDoorURL string) *generationPoller {
	tr := &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: e.lc.FrontDoorCA(t), ServerName: "relay.example.com", MinVersion: tls.VersionTLS12}}
	c := &http.Client{Transport: tr, Timeout: 3 * time.Second}
	g := &generationPoller{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(g.done)
		for {
			select {
			case <-g.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			resp, err := c.Get(frontDoorURL + "/ready")
			if err != nil {
				continue
			}
			resp.Body.Close()
			if n, err := strconv.ParseInt(resp.Header.Get("X-Agentnet-Routing-Generation"), 10, 64); err == nil {
				g.mu.Lock()
				g.samples = append(g.samples, generationSample{time.Now(), n})
				g.mu.Unlock()
			}
		}
	}()
	t.Cleanup(g.finish)
	return g
}

func (g *generationPoller) finish() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	<-g.done
}

// firstSeen is when a new connection first carried generation gen or a
// later one; ok false when none did.
func (g *generationPoller) firstSeen(gen int64) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.samples {
		if s.generation >= gen {
			return s.at, true
		}
	}
	return time.Time{}, false
}

// sawOld reports whether a new connection between from and to still
// carried generation gen-1 or older.
func (g *generationPoller) sawOld(gen int64, from, to time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.samples {
		if s.at.After(from) && s.at.Before(to) && s.generation < gen {
			return true
		}
	}
	return false
}

// groupGeneration reads the routing generation the group's URL map carries.
func (e *relayEnv) groupGeneration(t *testing.T) int64 {
	um, err := e.clients.Compute.URLMaps.Get(context.Background(), &computepb.GetUrlMapRequest{Project: testProject, UrlMap: "relay"})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range um.GetPathMatchers()[0].GetHeaderAction().GetResponseHeadersToAdd() {
		if h.GetHeaderName() == "X-Agentnet-Routing-Generation" {
			n, _ := strconv.ParseInt(h.GetHeaderValue(), 10, 64)
			return n
		}
	}
	t.Fatalf("URL map relay carries no routing generation: %v", um.GetPathMatchers()[0].GetHeaderAction())
	return 0
}

// groupPatches are the calls that changed the group's URL map after seq.
func (e *relayEnv) groupPatches(t testing.TB, after int64) []localcloudtest.OplogEntry {
	var out []localcloudtest.OplogEntry
	for _, l := range e.lc.Oplog(t) {
		if l.Seq > after && l.Phase == "call" && l.Method == "compute.urlMaps.patch" && strings.HasSuffix(l.Resource, "urlMaps/relay") {
			out = append(out, l)
		}
	}
	return out
}

// liveAfter checks that the change made by patch (generation gen) reached
// new connections only after the modelled delay, with the old URL map
// serving them meanwhile, and returns when it was first seen.
func (g *generationPoller) liveAfter(patch localcloudtest.OplogEntry, gen int64) (time.Time, error) {
	live, ok := g.firstSeen(gen)
	if !ok {
		return live, fmt.Errorf("no new connection through the front door ever carried generation %d", gen)
	}
	if d := live.Sub(patch.Time); d < testSlept-sampleSlack {
		return live, fmt.Errorf("generation %d reached new connections %s after its change, before the modelled propagation (%s)", gen, d, testSlept)
	}
	if !g.sawOld(gen, patch.Time.Add(sampleSlack), patch.Time.Add(testSlept-sampleSlack)) {
		return live, fmt.Errorf("no new connection during the propagation of generation %d was seen following the previous URL map", gen)
	}
	return live, nil
}

// regionRequests counts the requests the front doors sent to region.
func (e *relayEnv) regionRequests(t testing.TB, region string) int64 {
	var st compute.Status
	if err := e.lc.Admin().Get(context.Background(), "compute", &st); err != nil {
		t.Errorf("front door counts: %v", err)
	}
	var n int64
	for _, d := range st.FrontDoors {
		for _, b := range d.Backends {
			if b.Region == region {
				n += b.Requests
			}
		}
	}
	return n
}

// duringDelay counts the requests region gets from the first change of the
// group's URL map after seq until just before that change is live.
func (e *relayEnv) duringDelay(t *testing.T, after int64, region string) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		defer close(out)
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			if patches := e.groupPatches(t, after); len(patches) > 0 {
				before := e.regionRequests(t, region)
				time.Sleep(time.Until(patches[0].Time.Add(testSlept - 2*sampleSlack)))
				out <- e.regionRequests(t, region) - before
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return out
}

// Under a profile that models URL map propagation, a failover group's
// drain and each ramp step wait until the front door follows the change:
// during the delay new connections follow the old URL map, the drain's
// grace and each step's soak start once the change is live, and the next
// step's change is made only after that.
func TestAccRelayFailoverGroup_waitsForPropagation(t *testing.T) {
	file := filepath.Join(t.TempDir(), "profile.json")
	body := fmt.Sprintf(`{"name":"slow-lb","delays":{%q:{"duration":%q,"source":"modelled for this test"}}}`, profile.URLMapPropagation, testPropagation)
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	e := relayEnvOf(t, newEnvWith(t, localcloudtest.Options{Profile: file, TimeScale: testTimeScale}))
	var url string
	var poller *generationPoller
	var mark, gen0 int64
	var toAsia <-chan int64
	begin := func() {
		mark, gen0 = e.lastSeq(t), e.groupGeneration(t)
		poller = e.pollGenerations(t, url)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: e.groupHCL(nil, false, ""),
				Check: func(s *terraform.State) error {
					url = frontDoor(s)
					return nil
				},
			},
			{ // drain asia: its agents are told to reconnect a grace period after the drain is live
				PreConfig: func() {
					begin()
					toAsia = e.duringDelay(t, mark, "asia-east1")
				},
				Config: e.groupHCL(map[string]string{"asia-east1": "drained"}, false, ""),
				Check: func(*terraform.State) error {
					// The poller's new connections follow the weights: to asia
					// during the drain's propagation, never once it is live.
					n := <-toAsia
					t.Logf("new connections to asia-east1 while its drain propagated: %d", n)
					if n == 0 {
						return fmt.Errorf("no new connection reached asia-east1 while the drain propagated: the old weights did not apply")
					}
					before := e.regionRequests(t, "asia-east1")
					time.Sleep(time.Second)
					if n := e.regionRequests(t, "asia-east1") - before; n != 0 {
						return fmt.Errorf("%d new connections reached asia-east1 after its drain was live", n)
					}
					poller.finish()
					patches := e.groupPatches(t, mark)
					if len(patches) == 0 {
						return fmt.Errorf("the drain changed no URL map")
					}
					live, err := poller.liveAfter(patches[0], gen0+1)
					if err != nil {
						return err
					}
					redeploy := e.oplogSeq(t, patches[0].Seq, "google.cloud.run.v2.Services.UpdateService", "asia-east1")
					for _, l := range e.lc.Oplog(t) {
						if l.Seq == redeploy {
							if l.Time.Before(live.Add(300*time.Millisecond - sampleSlack)) {
								return fmt.Errorf("asia-east1 was redeployed %s after the drain went live: before its grace period (300ms)", l.Time.Sub(live))
							}
							return nil
						}
					}
					return fmt.Errorf("asia-east1 was not redeployed after its drain")
				},
			},
			{ // asia returns: each step waits for the previous one to be live, then for its soak
				PreConfig: begin,
				Config:    e.groupHCL(nil, false, ""),
				Check: func(*terraform.State) error {
					poller.finish()
					patches := e.groupPatches(t, mark)
					if len(patches) < 3 {
						return fmt.Errorf("the return of asia-east1 made %d URL map changes, want its 3 steps", len(patches))
					}
					for k := range 2 {
						live, err := poller.liveAfter(patches[k], gen0+int64(k)+1)
						if err != nil {
							return fmt.Errorf("step %d: %w", k+1, err)
						}
						next := patches[k+1].Time
						t.Logf("step %d: live %s after its change, step %d changed %s after that", k+1,
							live.Sub(patches[k].Time).Round(time.Millisecond), k+2, next.Sub(live).Round(time.Millisecond))
						// The soak is 1s and starts once the step is live.
						if next.Before(live.Add(time.Second - sampleSlack)) {
							return fmt.Errorf("step %d was changed %s after step %d went live: want after its 1s soak, counted from then",
								k+2, next.Sub(live), k+1)
						}
					}
					st, err := e.lc.Admin().Delays(context.Background())
					if err != nil {
						return err
					}
					n := 0
					for _, a := range st.Applied {
						if a.Kind == profile.URLMapPropagation && a.Subject == "projects/"+testProject+"/global/urlMaps/relay" && !a.Start.Before(patches[0].Time.Add(-time.Second)) {
							n++
						}
					}
					if n < 3 {
						return fmt.Errorf("the delays ledger has %d propagations of URL map relay since the ramp began, want one per step: %+v", n, st.Applied)
					}
					return nil
				},
			},
		},
	})
}
