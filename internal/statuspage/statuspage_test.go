package statuspage

import (
	"encoding/json"
	"encoding/xml"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func incident(id, status string, at time.Time) Incident {
	eta := at.Add(30 * time.Minute)
	inc := Incident{ID: id, Title: "Relay outage in asia-east1", Status: status, Components: []string{"Relay asia-east1"}, StartedAt: at, EstimatedResolution: &eta}
	text, _ := Compose(InitialNotification, inc, "")
	inc.Updates = []Update{{Template: InitialNotification, At: at, Text: text}}
	return inc
}

func samplePage() Page {
	return Page{
		Title: "AI Agent Network status", BaseURL: "https://storage.googleapis.com/b/status/", Published: t0,
		Components: []Component{
			{Name: "Relay us-central1", Group: GroupRegion, State: Operational},
			{Name: "Relay asia-east1", Group: GroupRegion, State: Degraded, Message: "Drained"},
			{Name: "Calendar", Group: GroupDependency, State: Operational},
		},
		Incidents: []Incident{incident("asia-1", Identified, t0), incident("old", Resolved, t0.Add(-48*time.Hour))},
	}
}

func TestCompose_templatesNameComponentsAndEstimate(t *testing.T) {
	inc := incident("x", Investigating, t0)
	got, err := Compose(InitialNotification, inc, "Traffic moves to other regions.")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Relay asia-east1", "2026-03-01 10:30 UTC", "Traffic moves to other regions."} {
		if !strings.Contains(got, want) {
			t.Errorf("initial notification %q lacks %q", got, want)
		}
	}
	inc.Components = []string{"Relay asia-east1", "Calendar"}
	if got, _ := Compose(ServiceRestoration, inc, ""); !strings.HasPrefix(got, "Relay asia-east1 and Calendar are operating normally") {
		t.Errorf("service restoration: %q", got)
	}
	if _, err := Compose(PostIncidentSummary, inc, " "); err == nil {
		t.Error("a post-incident summary without a message was accepted")
	}
	if _, err := Compose("apology", inc, ""); err == nil || !strings.Contains(err.Error(), "initial_notification, recovery_in_progress") {
		t.Errorf("unknown template: %v", err)
	}
}

func TestHTML_accessibleAndWithoutScript(t *testing.T) {
	b, err := HTML(samplePage())
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	for _, want := range []string{
		`<html lang="en">`, "<main>", "<header>", "<footer>", `<h1>AI Agent Network status</h1>`,
		`<h2 id="open-heading">Open incidents</h2>`, `<h2 id="past-heading">Past incidents</h2>`,
		`data-component="Relay asia-east1" data-state="degraded"`, "▲ Degraded", // a word and a shape, not only colour
		"Some components are degraded", `data-incident="asia-1" data-status="identified"`,
		`href="feed.atom"`, `href="feed.json"`, "Estimated resolution",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(html, "<script") {
		t.Error("page has a script")
	}
	open, past := strings.Index(html, "Open incidents"), strings.Index(html, "Past incidents")
	if i := strings.Index(html, `data-incident="old"`); i < past {
		t.Error("the resolved incident is not under Past incidents")
	}
	if i := strings.Index(html, `data-incident="asia-1"`); i < open || i > past {
		t.Error("the open incident is not under Open incidents")
	}
	if len(b) > 14*1024 {
		t.Errorf("page is %d bytes: more than one initial congestion window (14 KiB)", len(b))
	}
}

func TestHTML_escapesConfiguration(t *testing.T) {
	p := samplePage()
	p.Components[0].Message = `<img src=x onerror=alert(1)>`
	b, _ := HTML(p)
	if strings.Contains(string(b), "<img") {
		t.Error("a component message was not escaped")
	}
}

func TestFeeds_oneItemPerUpdateNewestFirst(t *testing.T) {
	p := samplePage()
	p.Incidents[0].Updates = append(p.Incidents[0].Updates, Update{Template: RecoveryInProgress, At: t0.Add(10 * time.Minute), Text: "moving"})
	b, err := JSONFeed(p)
	if err != nil {
		t.Fatal(err)
	}
	var f jsonFeed
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if f.Version != "https://jsonfeed.org/version/1.1" || len(f.Items) != 3 || f.Items[0].Content != "moving" ||
		f.FeedURL != "https://storage.googleapis.com/b/status/feed.json" {
		t.Fatalf("JSON feed: %+v", f)
	}
	a, err := AtomFeed(p)
	if err != nil {
		t.Fatal(err)
	}
	var af atomFeed
	if err := xml.Unmarshal(a, &af); err != nil {
		t.Fatal(err)
	}
	if len(af.Entries) != 3 || af.Entries[0].Content.Body != "moving" || af.Updated != "2026-03-01T10:00:00Z" ||
		!strings.Contains(string(a), `xmlns="http://www.w3.org/2005/Atom"`) {
		t.Fatalf("Atom feed: %s", a)
	}
}

func TestMerge_keepsHistoryAndPrefersDeclared(t *testing.T) {
	prev := samplePage()
	b, _ := JSONFeed(prev)
	// asia-1 is declared again, resolved; "old" left configuration.
	now := incident("asia-1", Resolved, t0)
	got, err := Merge([]Incident{now}, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "asia-1" || got[0].Status != Resolved || got[1].ID != "old" {
		t.Fatalf("merged %+v", got)
	}
	if got, _ := Merge(nil, nil); len(got) != 0 {
		t.Fatalf("first publication: %+v", got)
	}
	for _, bad := range []string{"not json", `{"version":"https://jsonfeed.org/version/1.1"}`, `{"_agentnet_status":{"version":99}}`} {
		if _, err := Merge(nil, []byte(bad)); err == nil {
			t.Errorf("previous feed %q accepted", bad)
		}
	}
}

func TestMerge_historyIsBounded(t *testing.T) {
	p := samplePage()
	p.Incidents = nil
	for i := 0; i < MaxHistory+10; i++ {
		p.Incidents = append(p.Incidents, incident(strings.Repeat("x", i+1), Resolved, t0.Add(time.Duration(i)*time.Hour)))
	}
	b, _ := JSONFeed(p)
	got, err := Merge(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxHistory || got[0].ID != strings.Repeat("x", MaxHistory+10) {
		t.Fatalf("kept %d, newest %q", len(got), got[0].ID)
	}
}

func TestOverall_worstState(t *testing.T) {
	p := samplePage()
	if p.Overall() != Degraded {
		t.Fatal(p.Overall())
	}
	p.Components[2].State = Outage
	if p.Overall() != Outage {
		t.Fatal(p.Overall())
	}
}

// TestColoursContrast checks every text colour of the page's style against
// its white background: WCAG 2 asks 4.5:1 for normal text (1.4.3).
func TestColoursContrast(t *testing.T) {
	colours := regexp.MustCompile(`(?:^|[;{])color:#([0-9a-f]{6})`).FindAllStringSubmatch(pageTemplate, -1)
	if len(colours) < 5 || !strings.Contains(pageTemplate, "background:#fff") {
		t.Fatalf("found %d text colours on a white background, want the body's, the three states' and the links'", len(colours))
	}
	for _, c := range colours {
		if r := contrast(c[1], "ffffff"); r < 4.5 {
			t.Errorf("#%s on white: contrast %.2f:1, want at least 4.5:1", c[1], r)
		}
	}
}

// contrast is WCAG 2's contrast ratio of two sRGB colours (hex RRGGBB).
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func luminance(hex string) float64 {
	v, _ := strconv.ParseUint(hex, 16, 32)
	var l float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		c := float64(v>>(16-8*i)&0xff) / 255
		if c <= 0.04045 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += w * c
	}
	return l
}

func TestChanged_newOrEditedIncidentsOnly(t *testing.T) {
	prev := samplePage()
	published, err := Published(must(JSONFeed(prev)))
	if err != nil {
		t.Fatal(err)
	}
	same := prev.Incidents[0]
	if got := Changed([]Incident{same}, published); len(got) != 0 {
		t.Errorf("an unchanged incident counts as changed: %v", got)
	}
	resolved := incident("asia-1", Resolved, t0)
	fresh := incident("calendar", Investigating, t0)
	later := incident("old", Resolved, t0.Add(-48*time.Hour))
	later.Updates = append(later.Updates, Update{Template: PostIncidentSummary, At: t0, Text: "summary"})
	got := Changed([]Incident{resolved, fresh, later}, published)
	if len(got) != 3 || got[0].ID != "asia-1" || got[1].ID != "calendar" || got[2].Latest().Template != PostIncidentSummary {
		t.Errorf("changed: %+v", got)
	}
	if got := Changed([]Incident{fresh}, nil); len(got) != 1 {
		t.Errorf("first publication: %v", got)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
