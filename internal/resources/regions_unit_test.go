package resources

import (
	"strings"
	"testing"
)

func TestRegionProblem(t *testing.T) {
	for region, want := range map[string]string{
		"us-east1":     "",
		"us-eats1":     "Did you mean us-east1?",
		"us-east1-b":   "us-east1-b is a zone; use its region us-east1.",
		"US-EAST1":     "Did you mean us-east1?",
		"us-central42": "is not a Google Cloud region",
	} {
		summary, detail := RegionProblem(region, nil)
		if (want == "") != (summary == "") || !strings.Contains(detail, want) {
			t.Errorf("%s: %q / %q, want %q", region, summary, detail, want)
		}
	}
	if s, _ := RegionProblem("us-central42", []string{"us-central42"}); s != "" {
		t.Errorf("an additional region is refused: %s", s)
	}
	if got := SplitRegions(" us-central42, ,me-west9 "); strings.Join(got, "|") != "us-central42|me-west9" {
		t.Errorf("SplitRegions = %q", got)
	}
}
