package run

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gapi"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// RelayImage is the last path element of the only image localcloud runs.
const RelayImage = "agentnet-relay"

var (
	revisionRE = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
)

// serviceNames are Cloud Run service names,
// projects/{p}/locations/{r}/services/{service_id}.
var serviceNames = gapi.Collection{
	Name: "services",
	Kind: "service",
	ID:   regexp.MustCompile(`^[a-z]([a-z0-9-]{0,47}[a-z0-9])?$`),
	Rule: "it must be 1 to 49 characters of lowercase letters, digits and hyphens, start with a letter and end with a letter or digit",
}

// reservedEnv are set by Cloud Run itself and refused in a container's env.
var reservedEnv = []string{"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"}

// imageName returns the last path element of an image reference without
// its tag or digest: us-docker.pkg.dev/p/r/agentnet-relay:1.4 -> agentnet-relay.
func imageName(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	last := path.Base(image)
	if i := strings.IndexByte(last, ':'); i >= 0 {
		last = last[:i]
	}
	return last
}

// validateSpec checks the user-settable parts of a Service; id is the
// service id (for template.revision).
func validateSpec(sv *runpb.Service, id string) error {
	t := sv.GetTemplate()
	if t == nil {
		return gapi.Invalid("template: required: the revision template with exactly one container running the %s image", RelayImage)
	}
	if err := validateContainers(t.GetContainers()); err != nil {
		return err
	}
	c := t.GetContainers()[0]
	img := c.GetImage()
	if img == "" {
		return gapi.Invalid("template.containers[0].image: required; localcloud runs only the %s image (for example us-docker.pkg.dev/PROJECT/agentnet/%s:TAG or %s:dev)", RelayImage, RelayImage, RelayImage)
	}
	if imageName(img) != RelayImage {
		return gapi.Invalid("template.containers[0].image: %q cannot be run: localcloud runs only the %s image (any image whose last path element is %s, with any tag or digest, for example us-docker.pkg.dev/PROJECT/agentnet/%s:1.4 or %s:dev), which it maps to the relay binary", img, RelayImage, RelayImage, RelayImage, RelayImage)
	}
	if cmd := c.GetCommand(); len(cmd) > 0 && (len(cmd) != 1 || path.Base(cmd[0]) != "relay") {
		return gapi.Invalid("template.containers[0].command: %q: the %s image's entrypoint is the relay binary; leave command empty (or [\"/relay\"]) and pass arguments in args", cmd, RelayImage)
	}
	for i, c := range t.GetContainers() {
		if err := validateEnv(i, c); err != nil {
			return err
		}
		if err := validateProbes(i, c); err != nil {
			return err
		}
	}
	if n := len(c.GetPorts()); n > 1 {
		return gapi.Invalid("template.containers[0].ports: at most one port may be set, got %d", n)
	}
	for i, p := range c.GetPorts() {
		if p.GetContainerPort() < 0 || p.GetContainerPort() > 65535 {
			return gapi.Invalid("template.containers[0].ports[%d].container_port: %d is not a port number 1-65535 (localcloud picks a free loopback port and passes it as PORT)", i, p.GetContainerPort())
		}
	}
	if r := t.GetRevision(); r != "" {
		if !strings.HasPrefix(r, id+"-") || !revisionRE.MatchString(r) {
			return gapi.Invalid("template.revision: %q must start with the service name followed by a hyphen (%s-...) and contain only lowercase letters, digits and hyphens", r, id)
		}
	}
	if err := validateRevisionScaling(t.GetScaling()); err != nil {
		return err
	}
	if err := validateServiceScaling(sv.GetScaling()); err != nil {
		return err
	}
	if c := t.GetMaxInstanceRequestConcurrency(); c < 0 || c > 1000 {
		return gapi.Invalid("template.max_instance_request_concurrency: %d must be between 1 and 1000 (0 means the default, 80)", c)
	}
	for i, tt := range sv.GetTraffic() {
		if tt.GetType() != runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST || tt.GetPercent() != 100 || len(sv.GetTraffic()) != 1 {
			return gapi.Invalid("traffic[%d]: localcloud serves 100%% of the traffic from the latest ready revision; accepted values are an empty list or one target {type: TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST, percent: 100}", i)
		}
	}
	return nil
}

// validateEnv checks the env of containers[i] as Cloud Run does; secrets
// are refused because localcloud emulates no Secret Manager.
func validateEnv(i int, c *runpb.Container) error {
	seen := map[string]bool{}
	for j, e := range c.GetEnv() {
		name := e.GetName()
		if !envNameRE.MatchString(name) {
			return gapi.Invalid("template.containers[%d].env[%d].name: %q is not a valid environment variable name (letters, digits, '_', '.', '-'; not starting with a digit)", i, j, name)
		}
		for _, r := range reservedEnv {
			if name == r {
				return gapi.Invalid("template.containers[%d].env[%d].name: %s is reserved: Cloud Run sets %s itself", i, j, name, strings.Join(reservedEnv, ", "))
			}
		}
		if seen[name] {
			return gapi.Invalid("template.containers[%d].env[%d].name: %s is set twice; each name may appear once", i, j, name)
		}
		seen[name] = true
		if e.GetValueSource() != nil {
			return gapi.Invalid("template.containers[%d].env[%d].value_source: secrets are not emulated by localcloud; set value instead", i, j)
		}
	}
	return nil
}

// validateProbes checks the probes of containers[i] as Cloud Run does
// (field ranges from the API reference), and refuses what localcloud
// cannot run in the ingress container (containers[0]), the only one it
// runs.
func validateProbes(i int, c *runpb.Container) error {
	runs := i == 0
	port := int32(8080)
	if ps := c.GetPorts(); len(ps) > 0 && ps[0].GetContainerPort() != 0 {
		port = ps[0].GetContainerPort()
	}
	for _, pr := range []struct {
		field    string
		p        *runpb.Probe
		maxDelay int32
		maxTime  int32
		tcp      bool
	}{
		{"startup_probe", c.GetStartupProbe(), 240, 240, true},
		{"liveness_probe", c.GetLivenessProbe(), 3600, 3600, false},
		{"readiness_probe", c.GetReadinessProbe(), 3600, 3600, true},
	} {
		p := pr.p
		if p == nil {
			continue
		}
		f := fmt.Sprintf("template.containers[%d].%s", i, pr.field)
		if d := p.GetInitialDelaySeconds(); d < 0 || d > pr.maxDelay {
			return gapi.Invalid("%s.initial_delay_seconds: %d must be between 0 and %d", f, d, pr.maxDelay)
		}
		if t := p.GetTimeoutSeconds(); t < 0 || t > 3600 {
			return gapi.Invalid("%s.timeout_seconds: %d must be between 1 and 3600 (0 means the default, 1)", f, t)
		}
		if t := p.GetPeriodSeconds(); t < 0 || t > pr.maxTime {
			return gapi.Invalid("%s.period_seconds: %d must be between 1 and %d (0 means the default, 10)", f, t, pr.maxTime)
		}
		if p.GetFailureThreshold() < 0 {
			return gapi.Invalid("%s.failure_threshold: %d must be at least 1 (0 means the default, 3)", f, p.GetFailureThreshold())
		}
		timeout, period := max(p.GetTimeoutSeconds(), defaultProbeTimeout), p.GetPeriodSeconds()
		if period == 0 {
			period = defaultProbePeriod
		}
		if timeout > period {
			return gapi.Invalid("%s.timeout_seconds: %d must not exceed period_seconds (%d)", f, timeout, period)
		}
		probePort := int32(0)
		switch t := p.GetProbeType().(type) {
		case *runpb.Probe_HttpGet:
			if path := t.HttpGet.GetPath(); path != "" && !strings.HasPrefix(path, "/") {
				return gapi.Invalid("%s.http_get.path: %q must start with /", f, path)
			}
			probePort = t.HttpGet.GetPort()
		case *runpb.Probe_TcpSocket:
			if !pr.tcp {
				return gapi.Invalid("%s.tcp_socket: a liveness probe is HTTP or gRPC; TCP is accepted for startup probes only", f)
			}
			probePort = t.TcpSocket.GetPort()
		case *runpb.Probe_Grpc:
			if !runs {
				continue
			}
			return gapi.Invalid("%s.grpc: the %s image serves no gRPC health service; use http_get", f, RelayImage)
		default:
			return gapi.Invalid("%s: one of http_get, tcp_socket or grpc is required", f)
		}
		if runs && probePort != 0 && probePort != port {
			return gapi.Invalid("%s: port %d: localcloud probes the container port (%d) only, which it maps to PORT", f, probePort, port)
		}
	}
	return nil
}

func validateRevisionScaling(s *runpb.RevisionScaling) error {
	if s == nil {
		return nil
	}
	if s.MinInstanceCount < 0 {
		return gapi.Invalid("template.scaling.min_instance_count: %d is negative; accepted values are 0 or more (at most template.scaling.max_instance_count)", s.MinInstanceCount)
	}
	if s.MaxInstanceCount < 0 {
		return gapi.Invalid("template.scaling.max_instance_count: %d is negative; accepted values are 0 (default: 100) or more", s.MaxInstanceCount)
	}
	if s.MaxInstanceCount > 0 && s.MinInstanceCount > s.MaxInstanceCount {
		return gapi.Invalid("template.scaling.min_instance_count: %d is greater than template.scaling.max_instance_count (%d); min must be <= max", s.MinInstanceCount, s.MaxInstanceCount)
	}
	return nil
}

func validateServiceScaling(s *runpb.ServiceScaling) error {
	if s == nil {
		return nil
	}
	if s.MinInstanceCount < 0 {
		return gapi.Invalid("scaling.min_instance_count: %d is negative; accepted values are 0 or more (at most scaling.max_instance_count)", s.MinInstanceCount)
	}
	if s.MaxInstanceCount < 0 {
		return gapi.Invalid("scaling.max_instance_count: %d is negative; accepted values are 0 (no service-level limit) or more", s.MaxInstanceCount)
	}
	if s.MaxInstanceCount > 0 && s.MinInstanceCount > s.MaxInstanceCount {
		return gapi.Invalid("scaling.min_instance_count: %d is greater than scaling.max_instance_count (%d); min must be <= max", s.MinInstanceCount, s.MaxInstanceCount)
	}
	switch s.ScalingMode {
	case runpb.ServiceScaling_SCALING_MODE_UNSPECIFIED, runpb.ServiceScaling_AUTOMATIC:
	case runpb.ServiceScaling_MANUAL:
		if s.ManualInstanceCount == nil {
			return gapi.Invalid("scaling.manual_instance_count: required when scaling.scaling_mode is MANUAL")
		}
	default:
		return gapi.Invalid("scaling.scaling_mode: %v is not accepted; accepted values are AUTOMATIC and MANUAL", s.ScalingMode)
	}
	if s.ManualInstanceCount != nil {
		if *s.ManualInstanceCount < 0 {
			return gapi.Invalid("scaling.manual_instance_count: %d is negative; accepted values are 0 or more", *s.ManualInstanceCount)
		}
		if s.MaxInstanceCount > 0 && *s.ManualInstanceCount > s.MaxInstanceCount {
			return gapi.Invalid("scaling.manual_instance_count: %d is greater than scaling.max_instance_count (%d)", *s.ManualInstanceCount, s.MaxInstanceCount)
		}
	}
	return nil
}

// defaultMaxInstances is Cloud Run's default template.scaling.max_instance_count.
const defaultMaxInstances = 100

// instanceCount is how many instances localcloud runs for a service: the
// service-level manual count (MANUAL mode) or min_instance_count if set,
// else the revision's min_instance_count; capped at the service-level or
// revision max; never fewer than 1.
func instanceCount(sv *runpb.Service) int {
	maxN := defaultMaxInstances
	ts := sv.GetTemplate().GetScaling()
	if m := ts.GetMaxInstanceCount(); m > 0 {
		maxN = int(m)
	}
	ss := sv.GetScaling()
	if m := ss.GetMaxInstanceCount(); m > 0 {
		maxN = int(m)
	}
	want := int(ts.GetMinInstanceCount())
	switch {
	case ss.GetScalingMode() == runpb.ServiceScaling_MANUAL && ss.ManualInstanceCount != nil:
		want = int(ss.GetManualInstanceCount())
	case ss.GetMinInstanceCount() > 0:
		want = int(ss.GetMinInstanceCount())
	}
	return max(1, min(want, maxN))
}

// withDefaults returns a copy of the template with the values Cloud Run
// fills in when they are not set, so that templates can be compared.
func withDefaults(t *runpb.RevisionTemplate) *runpb.RevisionTemplate {
	t = proto.CloneOf(t)
	if t.Timeout == nil {
		t.Timeout = durationpb.New(300e9)
	}
	if t.MaxInstanceRequestConcurrency == 0 {
		t.MaxInstanceRequestConcurrency = 80
	}
	for i, c := range t.Containers {
		if c.Resources == nil {
			c.Resources = &runpb.ResourceRequirements{}
		}
		if c.Resources.Limits == nil {
			c.Resources.Limits = map[string]string{}
		}
		if _, ok := c.Resources.Limits["cpu"]; !ok {
			c.Resources.Limits["cpu"] = "1000m"
		}
		if _, ok := c.Resources.Limits["memory"]; !ok {
			c.Resources.Limits["memory"] = "512Mi"
		}
		// Sidecars have no port and no default probe: Cloud Run's default
		// TCP startup probe is on the ingress port.
		if i > 0 {
			continue
		}
		if len(c.Ports) == 0 {
			c.Ports = []*runpb.ContainerPort{{Name: "http1", ContainerPort: 8080}}
		}
		if c.StartupProbe == nil {
			c.StartupProbe = defaultStartupProbe()
		}
		for _, p := range []*runpb.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
			withProbeDefaults(p, c.Ports[0].GetContainerPort())
		}
	}
	return t
}

func templateChanged(a, b *runpb.RevisionTemplate) bool {
	return !proto.Equal(withDefaults(a), withDefaults(b))
}
