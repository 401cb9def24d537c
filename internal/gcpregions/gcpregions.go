// Package gcpregions knows Google Cloud's region names, so that the provider
// refuses a mistyped region at plan and localcloud refuses it as Google's
// APIs do.
package gcpregions

import (
	"regexp"
	"slices"
	"strings"
)

// regions are Google Cloud's regions, as Google lists them:
// https://cloud.google.com/memorystore/docs/redis/regions (Memorystore for
// Redis, which is in every region), with asia-southeast3 from
// https://docs.cloud.google.com/memorystore/docs/cluster/locations and
// europe-north2 and northamerica-south1 from
// https://cloud.google.com/workload-manager/docs/evaluate/locations.
// A region newer than this list is accepted through the provider's
// additional_regions (see internal/resources/regions.go).
var regions = []string{
	"africa-south1",
	"asia-east1", "asia-east2",
	"asia-northeast1", "asia-northeast2", "asia-northeast3",
	"asia-south1", "asia-south2",
	"asia-southeast1", "asia-southeast2", "asia-southeast3",
	"australia-southeast1", "australia-southeast2",
	"europe-central2",
	"europe-north1", "europe-north2",
	"europe-southwest1",
	"europe-west1", "europe-west2", "europe-west3", "europe-west4", "europe-west6",
	"europe-west8", "europe-west9", "europe-west10", "europe-west12",
	"me-central1", "me-central2", "me-west1",
	"northamerica-northeast1", "northamerica-northeast2", "northamerica-south1",
	"southamerica-east1", "southamerica-west1",
	"us-central1",
	"us-east1", "us-east4", "us-east5",
	"us-south1",
	"us-west1", "us-west2", "us-west3", "us-west4",
}

// Regions lists Google Cloud's regions, sorted.
func Regions() []string {
	out := slices.Clone(regions)
	slices.Sort(out)
	return out
}

// Known reports whether region is one of Google Cloud's regions or of extra.
func Known(region string, extra ...string) bool {
	return slices.Contains(regions, region) || slices.Contains(extra, region)
}

var (
	// shapeRE is what every region name looks like: words joined by
	// hyphens, the last one ending in a number (us-east1, europe-west12).
	shapeRE = regexp.MustCompile(`^[a-z]+(-[a-z]+)+[0-9]+$`)
	// zoneRE is a zone: its region and a letter (us-east1-b).
	zoneRE = regexp.MustCompile(`^([a-z]+(-[a-z]+)+[0-9]+)-[a-z]$`)
)

// Shaped reports whether s has the shape of a region name.
func Shaped(s string) bool { return shapeRE.MatchString(s) }

// ZoneRegion returns the region of s when s is a zone name (us-east1-b:
// us-east1).
func ZoneRegion(s string) (string, bool) {
	m := zoneRE.FindStringSubmatch(s)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// Nearest is the known region (of the list or of extra) closest to s by
// edit distance, when it is close enough to be a typo of it; "" otherwise.
func Nearest(s string, extra ...string) string {
	best, bestDist := "", 4 // at most 3 edits
	for _, r := range append(slices.Clone(regions), extra...) {
		if d := distance(s, r); d < bestDist {
			best, bestDist = r, d
		}
	}
	return best
}

// distance is the Damerau-Levenshtein (optimal string alignment) distance:
// a swap of two neighbours ("us-eats1") counts as one edit.
func distance(a, b string) int {
	a, b = strings.ToLower(a), strings.ToLower(b)
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
