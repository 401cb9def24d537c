package resources

import (
	"context"
	"crypto/x509"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/hashicorp/terraform-plugin-framework/diag"
)

// Health checks of the failover group's regions: real relay round trips
// through the front door, pinned to one region.

// regionHeader pins a request to one region: the group's URL map routes it
// to that region's backend service only, whatever the weights.
const regionHeader = "X-Agentnet-Region"

// prober runs health checks through the front door, pinned to one region.
type prober struct {
	url        string
	token      string
	timeout    time.Duration
	roots      *x509.CertPool
	serverName string
	// liveTimeout bounds the wait for a URL map change to be live
	// (propagationTimeout when 0).
	liveTimeout time.Duration
}

// newProber checks through m's front door, trusting the system's roots
// (and localcloud's CA when the provider talks to localcloud). The front
// door is reached by its IP address, so the certificate is verified against
// the name it was made for: tls.server_name, else the first managed domain,
// else the first name of the first certificate.
func (r *relayFailoverGroupResource) newProber(ctx context.Context, m *failoverGroupModel) (*prober, error) {
	roots, err := r.clients.FrontDoorRoots(ctx)
	if err != nil {
		return nil, err
	}
	p := &prober{url: m.FrontDoorURL.ValueString(), token: m.probe.token, timeout: m.probe.timeout, roots: roots}
	certs, _, managed := m.tlsCerts(ctx)
	switch {
	case m.TLS != nil && m.TLS.ServerName.ValueString() != "":
		p.serverName = m.TLS.ServerName.ValueString()
	case len(managed) > 0:
		p.serverName = managed[0]
	case len(certs) > 0:
		if parts := strings.Split(certs[0], "/"); len(parts) == 5 {
			cert, err := r.clients.Compute.SSLCertificates.Get(ctx, &computepb.GetSslCertificateRequest{Project: parts[1], SslCertificate: parts[4]})
			if err == nil && len(cert.GetSubjectAlternativeNames()) > 0 {
				p.serverName = cert.GetSubjectAlternativeNames()[0]
			}
		}
	}
	return p, nil
}

func (p *prober) probe(ctx context.Context, region string) error {
	if p.url == "" {
		return errors.New("the front door has no address yet")
	}
	_, err := probeRelay(ctx, p.url, p.token, p.timeout, p.roots, p.serverName, region)
	return err
}

// probeRegions health-checks every region that could take traffic, in
// parallel, through the front door, and returns why each unhealthy one
// failed. A region whose Cloud Run API does not answer is unhealthy for
// that reason. A group without a front door yet (being created) is not
// probed: the apply's health gate decides.
func (r *relayFailoverGroupResource) probeRegions(ctx context.Context, m *failoverGroupModel, specs []regionSpec) (unhealthy map[string]string) {
	probedAt := time.Now().UTC()
	defer func() { m.noteUnhealthy(probedAt, unhealthy) }()
	returning := map[string]bool{}
	if prior := m.EffectiveWeights; !prior.IsNull() && !prior.IsUnknown() {
		for region, w := range int64Map(prior) {
			returning[region] = w == 0
		}
	}
	var candidates []regionSpec
	for _, s := range specs {
		if s.State == regionActive && s.Weight > 0 {
			candidates = append(candidates, s)
		}
	}
	services, unhealthy := r.lookupServices(ctx, candidates)
	if m.FrontDoorURL.IsNull() || m.FrontDoorURL.IsUnknown() || m.FrontDoorURL.ValueString() == "" {
		return unhealthy
	}
	// Only a region the URL map pins can be probed alone; one new to the
	// group gets its route in the apply, which checks it before traffic.
	var diags diag.Diagnostics
	if um, exists := r.getURLMap(ctx, m, &diags); exists {
		pinned := pinnedRegions(um)
		for region := range services {
			if _, ok := pinned[region]; !ok {
				delete(services, region)
			}
		}
	}
	p, err := r.newProber(ctx, m)
	if err != nil {
		for region := range services {
			unhealthy[region] = err.Error()
		}
		return unhealthy
	}
	for region, why := range r.probeServices(ctx, m, p, slices.Collect(maps.Keys(services)), func(region string) int64 {
		if returning[region] {
			return m.HealthCheck.HealthyThreshold.ValueInt64()
		}
		return 1
	}) {
		unhealthy[region] = why
	}
	return unhealthy
}

// probeServices probes the regions through the front door in parallel; it
// returns the failures.
func (r *relayFailoverGroupResource) probeServices(ctx context.Context, m *failoverGroupModel, p *prober, regions []string, needOK func(string) int64) map[string]string {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]string{}
	for _, region := range regions {
		wg.Go(func() {
			if why := r.probeRegion(ctx, m, p, region, needOK(region)); why != "" {
				mu.Lock()
				out[region] = why
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// probeRegion probes one region until it has needOK consecutive successes
// (healthy) or unhealthy_threshold consecutive failures; it returns why it
// is unhealthy, or "".
func (r *relayFailoverGroupResource) probeRegion(ctx context.Context, m *failoverGroupModel, p *prober, region string, needOK int64) string {
	maxFail := m.HealthCheck.UnhealthyThreshold.ValueInt64()
	var ok, failed int64
	var last error
	for ok < needOK && failed < maxFail {
		if err := p.probe(ctx, region); err != nil {
			failed, ok, last = failed+1, 0, err
		} else {
			ok, failed = ok+1, 0
		}
	}
	if ok >= needOK {
		return ""
	}
	return last.Error()
}

// apply brings the load balancer and the relay services to the plan, in the

// soak holds a returning region at its current step, probing it.
func (r *relayFailoverGroupResource) soak(ctx context.Context, m *failoverGroupModel, p *prober, region string, soak time.Duration) string {
	deadline := time.Now().Add(soak)
	for {
		if why := r.probeRegion(ctx, m, p, region, 1); why != "" {
			return why
		}
		left := time.Until(deadline)
		if left <= 0 {
			return ""
		}
		if err := sleepContext(ctx, min(left, time.Second)); err != nil {
			return err.Error()
		}
	}
}
