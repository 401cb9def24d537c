// Package gapi holds the Google API conventions that localcloud's gRPC
// emulations (Memorystore, Cloud Run, long-running operations) share, so
// that every emulated API parses resource names, reports bad arguments and
// pages its lists the same way the real ones do:
//
//   - resource names projects/{project}/locations/{region}/{collection}/{id}
//     (see ParseParent and Collection);
//   - bad requests answered INVALID_ARGUMENT with a message naming the field
//     (see Invalid);
//   - List methods paged by an opaque page_token (see Page).
package gapi

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/regions"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// projectRE is what a project id may look like.
var projectRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.:-]{0,62}$`)

// Invalid is an INVALID_ARGUMENT error; by convention the message starts
// with the request field at fault ("parent: ...").
func Invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// ParseParent splits a location, projects/{p}/locations/{r}. allowWildcard
// permits r == "-" (every region, as List methods accept); any other region
// must pass regions.ValidRegion and exist (regions.CheckExists).
func ParseParent(parent string, allowWildcard bool) (project, region string, err error) {
	parts := strings.Split(parent, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[2] != "locations" {
		return "", "", Invalid("parent: %q must have the form projects/{project}/locations/{region}", parent)
	}
	project, region = parts[1], parts[3]
	if !projectRE.MatchString(project) {
		return "", "", Invalid("parent: %q is not a valid project id (lowercase letters, digits, '-', '.', ':')", project)
	}
	if region == "-" && allowWildcard {
		return project, region, nil
	}
	if !regions.ValidRegion(region) {
		return "", "", Invalid("parent: %q is not a valid region (for example us-central1)", region)
	}
	if err := regions.CheckExists(region); err != nil {
		return "", "", err
	}
	return project, region, nil
}

// Collection is a collection of resources under a location, such as
// Memorystore's instances: their names are
// projects/{p}/locations/{r}/{Name}/{id}.
type Collection struct {
	// Name is the collection's path segment ("instances").
	Name string
	// Kind names one resource in messages ("instance": "instance_id",
	// "instance id").
	Kind string
	// ID is what an id may look like; Rule says it in words.
	ID   *regexp.Regexp
	Rule string
}

// Parse splits a resource name of the collection.
func (c Collection) Parse(name string) (project, region, id string, err error) {
	parts := strings.Split(name, "/")
	if len(parts) != 6 || parts[0] != "projects" || parts[2] != "locations" || parts[4] != c.Name {
		return "", "", "", Invalid("name: %q must have the form projects/{project}/locations/{region}/%s/{%s_id}", name, c.Name, c.Kind)
	}
	if _, _, err := ParseParent(strings.Join(parts[:4], "/"), false); err != nil {
		if status.Code(err) != codes.InvalidArgument { // a location that does not exist
			return "", "", "", err
		}
		return "", "", "", Invalid("name: %q: %s", name, status.Convert(err).Message())
	}
	if !c.ID.MatchString(parts[5]) {
		return "", "", "", Invalid("name: %s id %q is invalid: %s", c.Kind, parts[5], c.Rule)
	}
	return parts[1], parts[3], parts[5], nil
}

// CheckID checks the id a Create request asks for ({kind}_id).
func (c Collection) CheckID(id string) error {
	if !c.ID.MatchString(id) {
		return Invalid("%s_id: %q is invalid: %s", c.Kind, id, c.Rule)
	}
	return nil
}

// Join is the name a Create request under parent asking for id gives its
// resource: {parent}/{Name}/{id}.
func (c Collection) Join(parent, id string) string {
	return parent + "/" + c.Name + "/" + id
}

// CheckCreate checks the parent (no wildcard) and then the id of a Create
// request, and returns the parent's project and region.
func (c Collection) CheckCreate(parent, id string) (project, region string, err error) {
	project, region, err = ParseParent(parent, false)
	if err != nil {
		return "", "", err
	}
	if err := c.CheckID(id); err != nil {
		return "", "", err
	}
	return project, region, nil
}

// Page returns the page of all (already filtered and sorted) that a List
// request asks for, and the token of the next page ("" on the last page).
// A page token is the index of the page's first item; a page holds at most
// pageSize items (1000 when pageSize is 0 or larger). method names the List
// method in the error for a token it did not return.
func Page[T any](all []T, pageToken string, pageSize int32, method string) (page []T, nextPageToken string, err error) {
	start := 0
	if pageToken != "" {
		n, err := strconv.Atoi(pageToken)
		if err != nil || n < 0 || n > len(all) {
			return nil, "", Invalid("page_token: %q is not a token returned by %s", pageToken, method)
		}
		start = n
	}
	size := int(pageSize)
	if size <= 0 || size > 1000 {
		size = 1000
	}
	end := min(start+size, len(all))
	if end < len(all) {
		nextPageToken = strconv.Itoa(end)
	}
	return all[start:end], nextPageToken, nil
}
