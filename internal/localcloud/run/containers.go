package run

import (
	"fmt"
	"regexp"
	"slices"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gapi"
)

// Multi-container (sidecar) revisions, as Cloud Run accepts them
// (https://cloud.google.com/run/docs/deploying#sidecars and the Container
// reference, https://cloud.google.com/run/docs/reference/rest/v2/Container):
// at most maxContainers containers; with more than one, exactly one, the
// ingress container, sets a port, and the sidecars set none; names are
// DNS labels (RFC 1123), unique within the revision; depends_on names other
// containers of the revision, without cycles. localcloud runs the ingress
// container only, and only from containers[0]; it accepts the sidecars, keeps
// them in the revision and records in the operation log that it does not
// run them (noteSidecars).

// maxContainers is Cloud Run's limit of containers per instance (the
// ingress container and up to nine sidecars).
const maxContainers = 10

var containerNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// validateContainers checks the containers of a revision template as a
// set: their number, the ingress container, names and dependencies.
func validateContainers(cs []*runpb.Container) error {
	if len(cs) == 0 {
		return gapi.Invalid("template.containers: required: one container running the %s image (the ingress container), optionally followed by sidecars", RelayImage)
	}
	if len(cs) > maxContainers {
		return gapi.Invalid("template.containers: %d containers; Cloud Run allows at most %d per instance (one ingress container and up to %d sidecars)", len(cs), maxContainers, maxContainers-1)
	}
	names := map[string]int{}
	for i, c := range cs {
		n := c.GetName()
		if n == "" {
			continue
		}
		if !containerNameRE.MatchString(n) {
			return gapi.Invalid("template.containers[%d].name: %q is not a DNS label (RFC 1123): 1 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit", i, n)
		}
		if j, dup := names[n]; dup {
			return gapi.Invalid("template.containers[%d].name: %q is also the name of template.containers[%d]; container names must be unique", i, n, j)
		}
		names[n] = i
	}
	if len(cs) > 1 {
		ingress := -1
		for i, c := range cs {
			if len(c.GetPorts()) == 0 {
				continue
			}
			if ingress >= 0 {
				return gapi.Invalid("template.containers[%d].ports: only the ingress container may set a port, and template.containers[%d] sets one; a sidecar sets no port", i, ingress)
			}
			ingress = i
		}
		if ingress < 0 {
			return gapi.Invalid("template.containers: with %d containers exactly one, the ingress container, must set ports (its container_port receives the requests); none does", len(cs))
		}
		if ingress != 0 {
			return gapi.Invalid("template.containers[%d]: localcloud runs the ingress container only as template.containers[0]; list the %s container first and the sidecars after it", ingress, RelayImage)
		}
	}
	for i, c := range cs {
		for j, d := range c.GetDependsOn() {
			k, ok := names[d]
			switch {
			case !ok:
				return gapi.Invalid("template.containers[%d].depends_on[%d]: %q is not the name of a container of this revision", i, j, d)
			case k == i:
				return gapi.Invalid("template.containers[%d].depends_on[%d]: a container cannot depend on itself", i, j)
			}
		}
	}
	if cycle := dependencyCycle(cs, names); cycle != "" {
		return gapi.Invalid("template.containers: depends_on forms a cycle (%s); the start order must be acyclic", cycle)
	}
	return nil
}

// dependencyCycle returns a cycle of depends_on as "a -> b -> a", or "".
func dependencyCycle(cs []*runpb.Container, names map[string]int) string {
	const (
		unseen = iota
		visiting
		done
	)
	state := make([]int, len(cs))
	var path []int
	var visit func(i int) string
	visit = func(i int) string {
		state[i] = visiting
		path = append(path, i)
		for _, d := range cs[i].GetDependsOn() {
			k := names[d]
			switch state[k] {
			case visiting:
				cycle := ""
				for _, p := range path[slices.Index(path, k):] {
					cycle += cs[p].GetName() + " -> "
				}
				return cycle + d
			case unseen:
				if c := visit(k); c != "" {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[i] = done
		return ""
	}
	for i := range cs {
		if state[i] == unseen {
			if c := visit(i); c != "" {
				return c
			}
		}
	}
	return ""
}

// noteSidecars records in the operation log each sidecar of a revision
// template that localcloud accepts but does not run.
func (s *Service) noteSidecars(name string, t *runpb.RevisionTemplate) {
	cs := t.GetContainers()
	for i := 1; i < len(cs); i++ {
		s.cfg.Ops.Event("localcloud.Run.SidecarNotRun", name, fmt.Sprintf(
			"not emulated: template.containers[%d] %q (image %s) is kept in the revision but not run; localcloud runs only the ingress container's %s image",
			i, cs[i].GetName(), cs[i].GetImage(), RelayImage))
	}
}
