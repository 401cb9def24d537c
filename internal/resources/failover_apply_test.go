package resources

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"
)

func TestURLMapPinsEveryRegion(t *testing.T) {
	m := &failoverGroupModel{Name: types.StringValue("relay"), Project: types.StringValue("p")}
	backends := map[string]string{
		"us-central1":  m.globalLink("backendServices", "relay-us-central1"),
		"europe-west1": m.globalLink("backendServices", "relay-europe-west1"),
	}
	um := urlMapBody(m, backends, map[string]int64{"us-central1": 100, "europe-west1": 0}, 7)
	if !routesCurrent(um, backends) {
		t.Fatal("the URL map built for two regions does not pin both")
	}
	if !ownedByDescription(um.GetDescription()) {
		t.Fatalf("URL map description %q lacks the marker", um.GetDescription())
	}
	rules := um.GetPathMatchers()[0].GetRouteRules()
	if len(rules) != 2 || rules[0].GetPriority() == rules[1].GetPriority() {
		t.Fatalf("route rules %v: want one per region with distinct priorities", rules)
	}
	got := weightsOf(um, m)
	if got["us-central1"] != 100 || got["europe-west1"] != 0 || len(got) != 2 {
		t.Fatalf("weights read back %v", got)
	}
	if g := generationOf(um); g != 7 {
		t.Fatalf("generation read back %d, want 7", g)
	}
	backends["asia-east1"] = m.globalLink("backendServices", "relay-asia-east1")
	if routesCurrent(um, backends) {
		t.Fatal("a region added to the group must get its route rule")
	}
}

func TestManagedCertNameFollowsDomains(t *testing.T) {
	m := &failoverGroupModel{Name: types.StringValue("relay")}
	a := m.managedCertName([]string{"a.example.com", "b.example.com"})
	if b := m.managedCertName([]string{"B.example.com", "a.example.com"}); a != b {
		t.Fatalf("the same domains named %s and %s", a, b)
	}
	if c := m.managedCertName([]string{"a.example.com"}); c == a || len(c) != len("relay-cert-")+8 {
		t.Fatalf("other domains named %s (first %s)", c, a)
	}
}
