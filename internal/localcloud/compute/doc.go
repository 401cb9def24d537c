// Package compute emulates the slice of the Compute Engine REST API (v1) that
// a global external Application Load Balancer in front of Cloud Run needs, and
// runs the load balancer itself: a forwarding rule is a real HTTP(S)/WebSocket
// reverse proxy on a loopback port (the "front door").
//
// Files: doc.go (this), compute.go (Service, Config, persistence), api.go
// (request routing, get, list), mutate.go (insert/patch/update/delete and
// their operations), operations.go, specs.go (the emulated collections),
// refs.go and errors.go (names and Google's error format), resources.go
// (NEGs, backend services, URL maps, proxies, forwarding rules), tls.go
// (addresses, SSL certificates, target HTTPS proxies, the certificates a
// front door serves), routing.go (how a URL map routes one request and its
// header actions), propagation.go (a URL map change reaching the front
// doors after the profile's delay) and frontdoor.go (the listeners and the
// reverse proxy).
//
// # API
//
// Resources, with the methods served (paths relative to /compute/v1):
//
//	projects/{p}/regions/{r}/networkEndpointGroups[/{name}]   insert, get, list, delete (SERVERLESS + cloudRun.service only)
//	projects/{p}/global/backendServices[/{name}]              insert, get, list, patch, update, delete
//	projects/{p}/global/urlMaps[/{name}]                      insert, get, list, patch, update, delete
//	projects/{p}/global/targetHttpProxies[/{name}]            insert, get, list, patch, delete
//	projects/{p}/targetHttpProxies/{name}/setUrlMap           setUrlMap
//	projects/{p}/global/targetHttpsProxies[/{name}]           insert, get, list, patch, delete
//	projects/{p}/targetHttpsProxies/{name}/setUrlMap          setUrlMap
//	projects/{p}/global/sslCertificates[/{name}]              insert, get, list, delete
//	projects/{p}/global/addresses[/{name}]                    insert, get, list, delete
//	projects/{p}/global/forwardingRules[/{name}]              insert, get, list, patch, delete
//	projects/{p}/global/forwardingRules/{name}/setTarget      setTarget
//	projects/{p}/global/operations[/{op}[/wait]]              get, list, delete, wait
//	projects/{p}/regions/{r}/operations[/{op}[/wait]]         get, list, delete, wait
//
// Bodies and answers are the JSON encoding of the computepb messages
// (protojson), errors are Google's JSON error format
// {"error":{"code":400,"message":"...","errors":[{"domain":"global","reason":"invalid","message":"..."}]}}
// with reasons invalid, required, notFound, alreadyExists,
// resourceInUseByAnotherResource, conditionNotMet (HTTP 412, stale
// fingerprint) and unavailable (HTTP 503, region down). Invalid values name
// the field, e.g. "resource.defaultRouteAction.weightedBackendServices[1].weight".
//
// Every mutating call applies its change before it answers and returns a
// compute#operation whose status is already DONE; the operation stays
// readable (GET, and POST .../wait) under global/operations or, for network
// endpoint groups, regions/{r}/operations, because the Go client's
// Operation.Wait always polls it once. Every mutating call, accepted or
// refused, is recorded in the operation log (Config.Ops) as phase "call" with
// method compute.<collection>.<verb> (compute.urlMaps.patch,
// compute.regionNetworkEndpointGroups.insert,
// compute.targetHttpProxies.setUrlMap, compute.globalForwardingRules.insert,
// ...), resource the relative name (projects/p/global/urlMaps/lb) and outcome
// OK or "HTTP <status>: <message>". The entry is written at the moment the
// change takes effect, so the log orders it correctly against other APIs.
//
// References between resources (backends[].group, defaultService,
// weightedBackendServices[].backendService, urlMap, target) may be full URLs
// (any host, e.g. https://www.googleapis.com/compute/v1/projects/...), or
// partial URLs (projects/p/global/backendServices/b, global/backendServices/b,
// regions/r/networkEndpointGroups/n); they are stored and returned as full
// https://www.googleapis.com/compute/v1/... URLs, as Google does. A
// reference to a resource that does not exist is a 400 naming the field;
// deleting a resource that another one references is a 400
// resourceInUseByAnotherResource. URL maps need their current fingerprint on
// patch and update (missing: 400 required; stale: 412 conditionNotMet); for
// the other resources a fingerprint is checked when one is sent.
//
// # Reaching it with the Go client
//
// The REST clients of cloud.google.com/go/compute/apiv1 append
// "/compute/v1/projects/..." to the endpoint's path, so the endpoint is the
// bare origin, scheme included, WITHOUT a path:
//
//	compute.NewUrlMapsRESTClient(ctx, option.WithEndpoint("http://"+addr), option.WithoutAuthentication())
//
// ("http://ADDR/compute/v1/" would make the client ask for
// /compute/v1//compute/v1/projects/...). Mount Handler on the server's mux at
// "/compute/v1/" without http.StripPrefix (paths that were stripped are
// accepted too).
//
// # Regions
//
// Config.RegionAvailable is asked for every regional call (network endpoint
// groups, regional operations): a region that is down answers 503 with a
// message naming the region. Global calls keep working. The front door also
// answers 503 for a connection whose chosen backend is in a region that is
// down. Note that the Go client retries Get and List (and so
// Operation.Wait) on 503 with backoff, up to its default 10 minute timeout:
// callers bound the wait with their context, or pass
// gax.WithRetry(func() gax.Retryer { return nil }) to see the 503 at once.
// Insert, Patch, Update and Delete are not retried by the client.
//
// # HTTPS, certificates and addresses
//
// A target HTTPS proxy takes sslCertificates (1 to 15) or a certificateMap
// (//certificatemanager.googleapis.com/projects/P/locations/L/certificateMaps/N;
// it wins over sslCertificates, as on Google). Its forwarding rule's front
// door serves TLS (1.2+, HTTP/1.1 only, so WebSockets upgrade) with, at each
// handshake, the proxy's current certificate for the requested name (else
// its first): a SELF_MANAGED certificate as uploaded (certificate and
// privateKey, a chain of at most 5, checked on insert; privateKey is never
// returned), a MANAGED one (managed.domains, at most 100, no wildcards)
// issued by Config.CA for its domains and 127.0.0.1, and for a certificate
// map (Certificate Manager is not emulated) one issued by Config.CA for the
// requested name and 127.0.0.1. A MANAGED certificate's managed.status and
// domainStatus read PROVISIONING until a forwarding rule serves it, then
// ACTIVE with its certificate. A URL map used by a target HTTPS proxy may not
// redirect to HTTPS.
//
// A global address (EXTERNAL, IPV4) is always 127.0.0.1 here. A forwarding
// rule whose IPAddress names an address keeps the reference (it is shown as
// 127.0.0.1); the address then reads IN_USE with the rule in users, else
// RESERVED, and deleting it while in use is 400
// resourceInUseByAnotherResource.
//
// # Routing
//
// Every request is routed from the current URL map: the host rule matching
// the Host (exact, then the longest "*.suffix", then "*") picks a path
// matcher, in which route rules are tried by ascending priority (any match
// rule; a match rule is one of prefixMatch, fullPathMatch, regexMatch, plus
// all of its headerMatches: exactMatch, prefixMatch, suffixMatch, regexMatch,
// presentMatch, invertMatch), then path rules (longest match), then the path
// matcher's default; with no host rule matching, the URL map's default. The
// action is a service, weightedBackendServices (each route with its own
// smooth weighted round robin) or a URL redirect (httpsRedirect, hostRedirect,
// pathRedirect, stripQuery, redirectResponseCode; 301 by default). An HTTPS
// redirect goes to the port of the forwarding rule on the same reserved
// address whose target is a target HTTPS proxy: that stands for port 443.
// Each request proxied to Cloud Run carries X-Localcloud-Load-Balancer:
// Config.LoadBalancerSecret (a client's own copy is dropped): localcloud's
// Cloud Run lets internal-and-load-balancer ingress through on it.
//
// # The front door
//
// Inserting a global forwarding rule whose target is a target HTTP or HTTPS
// proxy opens a listener on a free loopback port; the rule reports it as
// IPAddress "127.0.0.1" and portRange "PORT-PORT" (the requested address and
// port are replaced: a local port 80 is neither free nor ours). Deleting the rule
// closes the listener (before the operation is answered) and every
// connection through it. Each request (plain
// HTTP or a WebSocket upgrade) is routed when it arrives, from the CURRENT
// state: forwarding rule -> target proxy -> URL map -> route (see Routing;
// weightedBackendServices are chosen by smooth weighted round robin:
// deterministic, exact proportions, a weight of 0 never gets a request) ->
// backend service -> its first backend's serverless
// NEG -> Config.ResolveRunService(project, NEG region, cloudRun.service) ->
// reverse proxy to that URL. A URL map change applies to the next request;
// an open WebSocket stays on the backend it was routed to, as on a real load
// balancer. There is no retry in another
// region: a region that is down or a service that cannot be resolved answers
// 503, a backend that refuses or fails answers 502. Counts per front door and
// backend (requests, WebSocket upgrades, active, errors) are in Status and
// on AdminHandler; they restart from zero with the process. The backend
// service's protocol is stored but not used: the front door speaks the scheme
// of the URL ResolveRunService returns.
//
// Status (and AdminHandler, GET) is JSON of this shape:
//
// where a URL map's weights are those of its own default route:
//
//	{"urlMaps": [{"name": "projects/p/global/urlMaps/lb", "fingerprint": "...",
//	              "defaultService": "projects/p/global/backendServices/b",   (or)
//	              "weights": [{"backendService": "projects/p/global/backendServices/b", "weight": 100, "region": "us-east1"}]}],
//	 "frontDoors": [{"forwardingRule": "projects/p/global/forwardingRules/fr",
//	                 "targetHttpProxy": "... (the target HTTP or HTTPS proxy)", "https": true, "urlMap": "...",
//	                 "address": "127.0.0.1:PORT", "url": "https://127.0.0.1:PORT",
//	                 "routingErrors": 0, "redirects": 0,
//	                 "backends": [{"backendService": "...", "networkEndpointGroup": "projects/p/regions/r/networkEndpointGroups/n",
//	                               "region": "us-east1", "service": "relay",
//	                               "requests": 50, "websockets": 50, "active": 1, "errors": 0}]}]}
//
// # State
//
// Resources and operations are kept in Config.DataDir/compute.json (package
// state: written atomically after every change). A Service started on the
// same DataDir brings every resource back, and reopens each front door on the
// port it had when that port is free (else on a new free port, reported in
// the forwarding rule's portRange).
package compute
