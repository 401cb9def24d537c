package compute

import (
	"regexp"
	"strings"
)

// selfLinkBase prefixes every selfLink and stored reference, as on Google.
const selfLinkBase = "https://www.googleapis.com/compute/v1/"

var (
	nameRE    = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
	projectRE = regexp.MustCompile(`^[a-z0-9][-a-z0-9.:]{0,99}$`)
	regionRE  = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
)

// ref names one resource.
type ref struct {
	project, region, collection, name string // region "" means global
}

func (r ref) rel() string {
	if r.region == "" {
		return "projects/" + r.project + "/global/" + r.collection + "/" + r.name
	}
	return "projects/" + r.project + "/regions/" + r.region + "/" + r.collection + "/" + r.name
}

func (r ref) selfLink() string { return selfLinkBase + r.rel() }

// parseRel parses a relative name projects/p/global/c/n or
// projects/p/regions/r/c/n.
func parseRel(s string) (ref, bool) {
	p := strings.Split(s, "/")
	switch {
	case len(p) == 5 && p[0] == "projects" && p[2] == "global":
		return ref{project: p[1], collection: p[3], name: p[4]}, p[1] != "" && p[3] != "" && p[4] != ""
	case len(p) == 6 && p[0] == "projects" && p[2] == "regions":
		return ref{project: p[1], region: p[3], collection: p[4], name: p[5]}, p[1] != "" && p[3] != "" && p[4] != "" && p[5] != ""
	}
	return ref{}, false
}

// parseRef parses a full or partial URL to a resource; partial URLs without
// a project use project.
func parseRef(s, project string) (ref, bool) {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
		j := strings.Index(s, "/")
		if j < 0 {
			return ref{}, false
		}
		s = s[j:]
	}
	s = strings.TrimPrefix(s, "/")
	for _, v := range []string{"compute/v1/", "compute/beta/", "compute/alpha/"} {
		s = strings.TrimPrefix(s, v)
	}
	if strings.HasPrefix(s, "global/") || strings.HasPrefix(s, "regions/") {
		s = "projects/" + project + "/" + s
	}
	return parseRel(s)
}

func regionURL(project, region string) string {
	return selfLinkBase + "projects/" + project + "/regions/" + region
}

func relRefs(urls ...string) []string {
	var out []string
	for _, u := range urls {
		if r, ok := parseRef(u, ""); ok {
			out = append(out, r.rel())
		}
	}
	return out
}
