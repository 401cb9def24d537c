package kms

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpregions"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gapi"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/regions"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var (
	projectRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.:-]{0,62}$`)
	// idRE is what a key ring or crypto key id may be: letters, digits,
	// underscores and hyphens, 1 to 63 of them.
	idRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,63}$`)
)

const idRule = "1 to 63 letters, digits, underscores (_) or hyphens (-)"

// multiRegionRE is the shape of Cloud KMS's multi-regions (us, europe,
// asia, nam4, eur4, ...): no hyphen, which every region has.
var multiRegionRE = regexp.MustCompile(`^[a-z]+[0-9]*$`)

func validLocation(l string) bool {
	return l == "global" || multiRegionRE.MatchString(l) || regions.ValidRegion(l)
}

// locationExists refuses, with NOT_FOUND as Cloud KMS does, a region that
// is not one of Google Cloud's (a typo such as us-eats1, or a zone).
// Multi-regions are taken on their shape alone.
func locationExists(field, l string) error {
	if l == "global" || multiRegionRE.MatchString(l) || gcpregions.Known(l) {
		return nil
	}
	return status.Errorf(codes.NotFound, "%s: Cloud KMS is not available in location '%s'.", field, l)
}

// parseLocation checks projects/{project}/locations/{location}.
func parseLocation(field, name string) error {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[2] != "locations" {
		return gapi.Invalid("%s: %q must have the form projects/{project}/locations/{location}", field, name)
	}
	if !projectRE.MatchString(parts[1]) {
		return gapi.Invalid("%s: %q: %q is not a valid project id", field, name, parts[1])
	}
	if !validLocation(parts[3]) {
		return gapi.Invalid("%s: %q: %q is not a Cloud KMS location (global, a multi-region such as us or europe, or a region such as us-east1)", field, name, parts[3])
	}
	return locationExists(field, parts[3])
}

// level is one level of the KMS name hierarchy under a location.
type level struct {
	collection string // keyRings
	field      string // key_ring_id
	numeric    bool   // versions are numbered
}

var (
	keyRingLevel   = level{"keyRings", "key_ring_id", false}
	cryptoKeyLevel = level{"cryptoKeys", "crypto_key_id", false}
	versionLevel   = level{"cryptoKeyVersions", "", true}
)

var hierarchy = []level{keyRingLevel, cryptoKeyLevel, versionLevel}

// parseName checks a name of depth levels under a location (1: key ring,
// 2: crypto key, 3: version).
func parseName(field, name string, depth int) error {
	parts := strings.Split(name, "/")
	want := 4 + 2*depth
	form := "projects/{project}/locations/{location}"
	for _, l := range hierarchy[:depth] {
		form += "/" + l.collection + "/{" + strings.TrimSuffix(l.collection, "s") + "}"
	}
	if len(parts) != want {
		return gapi.Invalid("%s: %q must have the form %s", field, name, form)
	}
	if err := parseLocation(field, strings.Join(parts[:4], "/")); err != nil {
		return err
	}
	for i, l := range hierarchy[:depth] {
		seg, id := parts[4+2*i], parts[5+2*i]
		if seg != l.collection {
			return gapi.Invalid("%s: %q must have the form %s", field, name, form)
		}
		if l.numeric {
			if n, err := strconv.Atoi(id); err != nil || n < 1 || strconv.Itoa(n) != id {
				return gapi.Invalid("%s: %q: version %q is not a positive number", field, name, id)
			}
		} else if !idRE.MatchString(id) {
			return gapi.Invalid("%s: %q: id %q is invalid: %s", field, name, id, idRule)
		}
	}
	return nil
}

// checkID checks the id a Create request asks for.
func checkID(field, id string) error {
	if !idRE.MatchString(id) {
		return gapi.Invalid("%s: %q is invalid: %s", field, id, idRule)
	}
	return nil
}

// parentOf drops the last two segments of a name.
func parentOf(name string) string {
	i := strings.LastIndex(name, "/")
	i = strings.LastIndex(name[:i], "/")
	return name[:i]
}
