// Package resname finds the region a Google Cloud API request is about, from
// its resource names (projects/P/locations/R/...) or, for Compute Engine's
// REST API, its path (/compute/v1/projects/P/regions/R/...). The provider
// uses it to tell one region's outage from another's, and localcloud to
// fail the requests of a region that is down.
package resname

import (
	"regexp"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

var (
	locationRE      = regexp.MustCompile(`^projects/[^/]+/locations/([^/]+)(/|$)`)
	computeRegionRE = regexp.MustCompile(`^/compute/v1/projects/[^/]+/regions/([^/]+)(/|$)`)
)

// RegionOf returns the region of a resource name or parent under
// projects/{p}/locations/{region}, or "" (global, or not a location).
func RegionOf(name string) string {
	m := locationRE.FindStringSubmatch(name)
	if m == nil || m[1] == "global" || m[1] == "-" {
		return ""
	}
	return m[1]
}

// ComputeRegion returns the region of a Compute Engine REST path, or ""
// for a global one.
func ComputeRegion(path string) string {
	if m := computeRegionRE.FindStringSubmatch(path); m != nil {
		return m[1]
	}
	return ""
}

// Names lists a request's resource names: its top-level name, parent or
// resource fields, and the name of a top-level message field (such as
// UpdateServiceRequest.service).
func Names(m proto.Message) []string {
	if m == nil {
		return nil
	}
	return names(m.ProtoReflect())
}

func names(m protoreflect.Message) []string {
	var out []string
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if f.IsList() || f.IsMap() {
			continue
		}
		switch f.Kind() {
		case protoreflect.StringKind:
			switch f.Name() {
			case "name", "parent", "resource":
				if v := m.Get(f).String(); strings.HasPrefix(v, "projects/") {
					out = append(out, v)
				}
			}
		case protoreflect.MessageKind:
			if !m.Has(f) {
				continue
			}
			sub := m.Get(f).Message()
			if nf := sub.Descriptor().Fields().ByName("name"); nf != nil && nf.Kind() == protoreflect.StringKind && !nf.IsList() {
				if v := sub.Get(nf).String(); strings.HasPrefix(v, "projects/") {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// RegionOfRequest returns the region of the first resource name of req
// that has one, or "".
func RegionOfRequest(req any) string {
	m, ok := req.(proto.Message)
	if !ok {
		return ""
	}
	for _, n := range Names(m) {
		if r := RegionOf(n); r != "" {
			return r
		}
	}
	return ""
}
