package resources

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/proto"
)

// A URL map change's operation is DONE when Google's control plane has it;
// its front ends follow it minutes later. So every change the group makes
// carries a generation, which the URL map's path matcher adds to every
// response as a header, and the apply waits until round trips through the
// front door carry it before it counts the change as live: the soak and
// the drain's grace start then. The same works on Google Cloud and on
// localcloud, which applies header actions as Google documents them.

// generationHeader carries the generation of the URL map that routed a
// response.
const generationHeader = "X-Agentnet-Routing-Generation"

// liveConfirmations is how many new connections in a row must carry the
// generation: Google's front ends take a change one by one, and an
// anycast address may reach several of them.
const liveConfirmations = 3

// propagationTimeout bounds the wait for one change to be live.
const propagationTimeout = 10 * time.Minute

// livePollInterval is the pause between round trips that still carry an
// older generation.
const livePollInterval = 250 * time.Millisecond

func generationAction(generation int64) *computepb.HttpHeaderAction {
	return &computepb.HttpHeaderAction{ResponseHeadersToAdd: []*computepb.HttpHeaderOption{{
		HeaderName: proto.String(generationHeader), HeaderValue: proto.String(strconv.FormatInt(generation, 10)), Replace: proto.Bool(true)}}}
}

// generationOf reads the generation of the group's URL map (0 before the
// first marked change).
func generationOf(um *computepb.UrlMap) int64 {
	for _, pm := range um.GetPathMatchers() {
		if pm.GetName() != regionsMatcher {
			continue
		}
		for _, h := range pm.GetHeaderAction().GetResponseHeadersToAdd() {
			if strings.EqualFold(h.GetHeaderName(), generationHeader) {
				g, _ := strconv.ParseInt(h.GetHeaderValue(), 10, 64)
				return g
			}
		}
	}
	return 0
}

// liveClient makes every round trip a new connection: a change reaches new
// connections only.
func (p *prober) liveClient() *http.Client {
	// http.DefaultTransport is an *http.Transport unless a program
	// replaces it, which the provider never does: else a new one.
	tr, ok := http.DefaultTransport.(*http.Transport)
	if ok {
		tr = tr.Clone()
	} else {
		tr = &http.Transport{Proxy: http.ProxyFromEnvironment}
	}
	tr.DisableKeepAlives = true
	tr.TLSClientConfig = &tls.Config{RootCAs: p.roots, ServerName: p.serverName, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: p.timeout}
}

// routedBy asks the relay's /ready through the front door, pinned to
// region unless it is "", and returns the generation of the URL map that
// routed it (0 when the response carries none: a front door answering by
// itself, or one that predates the marker).
func (p *prober) routedBy(ctx context.Context, c *http.Client, region string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(p.url, "/")+"/ready", nil)
	if err != nil {
		return 0, err
	}
	if region != "" {
		req.Header.Set(regionHeader, region)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	g, _ := strconv.ParseInt(resp.Header.Get(generationHeader), 10, 64)
	return g, nil
}

// awaitLive waits until new connections through the front door are routed
// by generation gen (or a later one): liveConfirmations round trips in a
// row without a region header when unpinned (the weighted route), then
// pinned to each region. A pinned round trip that fails, or that the front
// door answers by itself (no generation: the region is down), says nothing
// about the URL map: that region is left to its health check once the
// weighted route has shown the change. It returns when the change is live,
// or why not once propagationTimeout has passed.
func (p *prober) awaitLive(ctx context.Context, gen int64, unpinned bool, regions []string) (time.Time, error) {
	limit := p.liveTimeout
	if limit <= 0 {
		limit = propagationTimeout
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	c := p.liveClient()
	defer c.CloseIdleConnections()
	targets := slices.Clone(regions)
	if unpinned {
		targets = append([]string{""}, targets...)
	}
	seen := false // a round trip carried gen: the front door follows it
	for _, target := range targets {
		var last string
		for ok := 0; ok < liveConfirmations; {
			g, err := p.routedBy(ctx, c, target)
			switch {
			case err == nil && g >= gen:
				ok, seen = ok+1, true
				continue
			case target != "" && seen && (err != nil || g == 0):
				ok = liveConfirmations // not answering: its health check decides
				continue
			case err != nil:
				last = err.Error()
			default:
				last = fmt.Sprintf("responses still carried generation %d", g)
			}
			ok = 0
			if ctx.Err() != nil || sleepContext(ctx, livePollInterval) != nil {
				what := "new connections"
				if target != "" {
					what = "new connections pinned to " + target
				}
				if parent.Err() != nil {
					return time.Time{}, fmt.Errorf("interrupted while waiting for %s through the front door to follow URL map generation %d (%s)", what, gen, last)
				}
				return time.Time{}, fmt.Errorf("%s through the front door did not follow URL map generation %d within %s (%s)", what, gen, limit, last)
			}
		}
	}
	return time.Now().UTC(), nil
}
