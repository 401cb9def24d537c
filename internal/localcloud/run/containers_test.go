package run_test

import (
	"context"
	"strings"
	"testing"

	"cloud.google.com/go/redis/apiv1/redispb"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// withSidecar turns a relay service into Cloud Run's multi-container shape:
// the relay as the ingress container (a port) and a metrics collector
// started after it.
func withSidecar(s *runpb.Service) *runpb.Service {
	relay := s.Template.Containers[0]
	relay.Name = "relay"
	relay.Ports = []*runpb.ContainerPort{{Name: "http1", ContainerPort: 8080}}
	s.Template.Containers = append(s.Template.Containers, &runpb.Container{
		Name:         "metrics-collector",
		Image:        "us-docker.pkg.dev/cloud-ops-agents-artifacts/google-cloud-opentelemetry-collector/otelcol-google:0.130.0",
		DependsOn:    []string{"relay"},
		StartupProbe: &runpb.Probe{ProbeType: &runpb.Probe_HttpGet{HttpGet: &runpb.HTTPGetAction{Path: "/", Port: 13133}}},
	})
	return s
}

func TestMultiContainerValidation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	redis := &redispb.Instance{Host: "127.0.0.1", Port: 1}
	sidecar := func(s *runpb.Service) *runpb.Container { return s.Template.Containers[1] }
	cases := []struct {
		name   string
		mutate func(*runpb.Service)
		want   string
	}{
		{"sidecar with a port", func(s *runpb.Service) {
			sidecar(s).Ports = []*runpb.ContainerPort{{ContainerPort: 9000}}
		}, "template.containers[1].ports: only the ingress container may set a port, and template.containers[0] sets one"},
		{"no ingress container", func(s *runpb.Service) { s.Template.Containers[0].Ports = nil },
			"template.containers: with 2 containers exactly one, the ingress container, must set ports"},
		{"duplicate names", func(s *runpb.Service) { sidecar(s).Name = "relay"; sidecar(s).DependsOn = nil },
			`template.containers[1].name: "relay" is also the name of template.containers[0]`},
		{"name not a DNS label", func(s *runpb.Service) { sidecar(s).Name = "Metrics_Collector" },
			`template.containers[1].name: "Metrics_Collector" is not a DNS label`},
		{"unknown dependency", func(s *runpb.Service) { sidecar(s).DependsOn = []string{"app"} },
			`template.containers[1].depends_on[0]: "app" is not the name of a container`},
		{"self dependency", func(s *runpb.Service) { sidecar(s).DependsOn = []string{"metrics-collector"} },
			"template.containers[1].depends_on[0]: a container cannot depend on itself"},
		{"dependency cycle", func(s *runpb.Service) { s.Template.Containers[0].DependsOn = []string{"metrics-collector"} },
			"depends_on forms a cycle (relay -> metrics-collector -> relay)"},
		{"eleven containers", func(s *runpb.Service) {
			for len(s.Template.Containers) < 11 {
				s.Template.Containers = append(s.Template.Containers, &runpb.Container{Image: "busybox"})
			}
		}, "template.containers: 11 containers; Cloud Run allows at most 10 per instance"},
		{"reserved env in a sidecar", func(s *runpb.Service) {
			sidecar(s).Env = []*runpb.EnvVar{{Name: "K_SERVICE", Values: &runpb.EnvVar_Value{Value: "x"}}}
		}, "template.containers[1].env[0].name: K_SERVICE is reserved"},
		{"sidecar probe out of range", func(s *runpb.Service) { sidecar(s).StartupProbe.PeriodSeconds = 241 },
			"template.containers[1].startup_probe.period_seconds: 241 must be between 1 and 240"},
		{"ingress container not first", func(s *runpb.Service) {
			c := s.Template.Containers
			c[0], c[1] = c[1], c[0]
		}, "template.containers[1]: localcloud runs the ingress container only as template.containers[0]"},
	}
	for _, c := range cases {
		s := withSidecar(relayService("agentnet-relay:dev", redis, e.keys))
		c.mutate(s)
		_, err := e.run.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parentOf("us-central1"), ServiceId: "bad", Service: s})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), c.want) {
			t.Errorf("%s: %v, want INVALID_ARGUMENT with %q", c.name, err, c.want)
		}
	}
}

// A sidecar is accepted, kept in the revision and recorded as not run; the
// relay serves.
func TestSidecarKeptNotRun(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const region = "us-central1"
	redis := e.createRedis(t, region, "sidecar-redis")
	svc := e.createService(t, region, "sidecar", withSidecar(relayService("agentnet-relay:dev", redis, e.keys)))
	got, err := e.run.GetService(context.Background(), &runpb.GetServiceRequest{Name: svc.Name})
	if err != nil {
		t.Fatal(err)
	}
	cs := got.GetTemplate().GetContainers()
	if len(cs) != 2 || cs[1].GetName() != "metrics-collector" || len(cs[1].GetPorts()) != 0 || cs[1].GetStartupProbe().GetHttpGet().GetPort() != 13133 ||
		strings.Join(cs[1].GetDependsOn(), ",") != "relay" {
		t.Fatalf("containers read back: %v", cs)
	}
	if !got.GetReconciling() && got.GetTerminalCondition().GetState() != runpb.Condition_CONDITION_SUCCEEDED {
		t.Fatalf("service not ready: %v", got.GetTerminalCondition())
	}
	noted := false
	for _, l := range e.lc.Oplog(t) {
		if l.Method == "localcloud.Run.SidecarNotRun" && l.Resource == svc.Name && strings.Contains(l.Outcome, `template.containers[1] "metrics-collector"`) {
			noted = true
		}
	}
	if !noted {
		t.Error("the operation log does not say that the sidecar is not run")
	}
}
