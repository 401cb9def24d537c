package gcpregions

import "testing"

func TestKnown(t *testing.T) {
	for _, r := range []string{"us-central1", "us-east1", "europe-west1", "asia-northeast1", "asia-east1", "europe-west12"} {
		if !Known(r) {
			t.Errorf("%s is a Google Cloud region", r)
		}
	}
	for _, r := range []string{"us-eats1", "us-east1-b", "", "global", "us-central2"} {
		if Known(r) {
			t.Errorf("%q is not a Google Cloud region", r)
		}
	}
	if !Known("us-central2", "us-central2") {
		t.Error("an extra region is known")
	}
}

func TestZoneRegion(t *testing.T) {
	if r, ok := ZoneRegion("us-east1-b"); !ok || r != "us-east1" {
		t.Errorf("us-east1-b: %q %v", r, ok)
	}
	for _, s := range []string{"us-east1", "us-east1-bb", "zone"} {
		if _, ok := ZoneRegion(s); ok {
			t.Errorf("%q is not a zone", s)
		}
	}
}

func TestNearest(t *testing.T) {
	for typo, want := range map[string]string{
		"us-eats1":     "us-east1",
		"us-centrall1": "us-central1",
		"europe-wst1":  "europe-west1",
		"us-east-1":    "us-east1",
		"mars-north1":  "",
	} {
		if got := Nearest(typo); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", typo, got, want)
		}
	}
	if got := Nearest("us-centra9", "us-central9"); got != "us-central9" {
		t.Errorf("an extra region is suggested: %q", got)
	}
}

func TestShaped(t *testing.T) {
	for s, want := range map[string]bool{"us-east1": true, "europe-west12": true, "us-east1-b": false, "USEAST1": false, "us": false, "-": false} {
		if Shaped(s) != want {
			t.Errorf("Shaped(%q) = %v", s, !want)
		}
	}
}
