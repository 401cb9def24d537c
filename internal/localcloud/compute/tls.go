package compute

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/proto"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/pki"
)

// frontDoorIP is the only address a front door listens on: every reserved
// global address is this one locally.
const frontDoorIP = "127.0.0.1"

// Google's limits (see docs/gcp-fidelity.md).
const (
	maxManagedDomains  = 100
	maxProxyCerts      = 15
	maxCertChainLength = 5
)

var (
	domainRE         = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?\.?$`)
	certificateMapRE = regexp.MustCompile(`^//certificatemanager\.googleapis\.com/projects/[^/]+/locations/[^/]+/certificateMaps/[^/]+$`)
)

func prepareAddress(s *Service, r ref, msg, _ proto.Message) error {
	m, err := typed[*computepb.Address](msg)
	if err != nil {
		return err
	}
	switch v := m.GetAddressType(); v {
	case "", "EXTERNAL":
		m.AddressType = proto.String("EXTERNAL")
	default:
		return errInvalid("resource.addressType", "'%s'. Only EXTERNAL global addresses (for load balancers) are emulated", v)
	}
	switch v := m.GetIpVersion(); v {
	case "", "IPV4":
		m.IpVersion = proto.String("IPV4")
	default:
		return errInvalid("resource.ipVersion", "'%s'. Only IPV4 is emulated", v)
	}
	if v := m.GetAddress(); v != "" && v != frontDoorIP {
		return errInvalid("resource.address", "'%s'. localcloud reserves %s, the loopback address its front doors listen on; leave address empty", v, frontDoorIP)
	}
	if v := m.GetNetworkTier(); v != "" && v != "PREMIUM" {
		return errInvalid("resource.networkTier", "'%s'. A global address is PREMIUM tier", v)
	}
	m.Address = proto.String(frontDoorIP)
	m.NetworkTier = proto.String("PREMIUM")
	m.Status = nil
	m.Users = nil
	return nil
}

// presentAddress fills status and users: the forwarding rules that use the
// address.
func presentAddress(s *Service, msg proto.Message) {
	m, ok := msg.(*computepb.Address)
	if !ok {
		s.log.Error("present an address: not an address", "message", fmt.Sprintf("%T", msg))
		return
	}
	self := m.GetSelfLink()
	m.Users = nil
	for _, n := range s.namesLocked("forwardingRules", "", "") {
		if fr, ok := s.res[n].(*computepb.ForwardingRule); ok && fr.GetIPAddress() == self {
			m.Users = append(m.Users, fr.GetSelfLink())
		}
	}
	m.Status = proto.String("RESERVED")
	if len(m.Users) > 0 {
		m.Status = proto.String("IN_USE")
	}
}

func prepareSSLCertificate(s *Service, r ref, msg, _ proto.Message) error {
	m, err := typed[*computepb.SslCertificate](msg)
	if err != nil {
		return err
	}
	typ := m.GetType()
	if typ == "" {
		typ = "SELF_MANAGED"
		if m.Managed != nil {
			typ = "MANAGED"
		}
	}
	m.Type = proto.String(typ)
	m.SelfManaged = nil
	switch typ {
	case "SELF_MANAGED":
		if m.Managed != nil {
			return errInvalid("resource.managed", "must not be set for a SELF_MANAGED certificate")
		}
		if m.GetCertificate() == "" {
			return errRequired("resource.certificate")
		}
		if m.GetPrivateKey() == "" {
			return errRequired("resource.privateKey")
		}
		pair, err := tls.X509KeyPair([]byte(m.GetCertificate()), []byte(m.GetPrivateKey()))
		if err != nil {
			return errInvalid("resource.certificate", "the certificate and private key are not a PEM certificate chain and its key: %v", err)
		}
		if len(pair.Certificate) > maxCertChainLength {
			return errInvalid("resource.certificate", "the chain has %d certificates; at most %d are accepted", len(pair.Certificate), maxCertChainLength)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return errInvalid("resource.certificate", "%v", err)
		}
		m.ExpireTime = proto.String(leaf.NotAfter.Format(time.RFC3339))
		m.SubjectAlternativeNames = append([]string(nil), leaf.DNSNames...)
		for _, ip := range leaf.IPAddresses {
			m.SubjectAlternativeNames = append(m.SubjectAlternativeNames, ip.String())
		}
	case "MANAGED":
		if m.GetCertificate() != "" || m.GetPrivateKey() != "" {
			return errInvalid("resource.certificate", "certificate and privateKey must not be set for a MANAGED certificate: Google issues it")
		}
		domains := m.GetManaged().GetDomains()
		if len(domains) == 0 {
			return errRequired("resource.managed.domains")
		}
		if len(domains) > maxManagedDomains {
			return errInvalid("resource.managed.domains", "%d domains; a Google-managed certificate covers at most %d", len(domains), maxManagedDomains)
		}
		for i, d := range domains {
			if strings.Contains(d, "*") {
				return errInvalid(fmt.Sprintf("resource.managed.domains[%d]", i), "'%s'. Google-managed certificates do not support wildcard domains", d)
			}
			if !domainRE.MatchString(strings.ToLower(d)) {
				return errInvalid(fmt.Sprintf("resource.managed.domains[%d]", i), "'%s' is not a fully qualified domain name", d)
			}
		}
		m.Managed = &computepb.SslCertificateManagedSslCertificate{Domains: domains}
		m.ExpireTime, m.SubjectAlternativeNames = nil, nil
	default:
		return errInvalid("resource.type", "'%s'. Must be SELF_MANAGED or MANAGED", typ)
	}
	return nil
}

// presentSSLCertificate hides the private key (Google never returns it) and
// gives a managed certificate its status: ACTIVE once a forwarding rule
// serves it through a target HTTPS proxy, PROVISIONING before.
func presentSSLCertificate(s *Service, msg proto.Message) {
	m, ok := msg.(*computepb.SslCertificate)
	if !ok {
		s.log.Error("present an SSL certificate: not an SSL certificate", "message", fmt.Sprintf("%T", msg))
		return
	}
	m.PrivateKey = nil
	if m.GetType() != "MANAGED" {
		return
	}
	rel := relOrSelf(m.GetSelfLink())
	status := "PROVISIONING"
	if s.servedLocked(rel) {
		status = "ACTIVE"
	}
	m.Managed.Status = proto.String(status)
	m.Managed.DomainStatus = map[string]string{}
	for _, d := range m.GetManaged().GetDomains() {
		m.Managed.DomainStatus[d] = status
	}
	if status == "ACTIVE" {
		if leaf, err := s.managedLeafLocked(rel, m); err == nil {
			m.Certificate = proto.String(string(leaf.CertPEM))
			m.ExpireTime = proto.String(leaf.TLS.Leaf.NotAfter.Format(time.RFC3339))
			m.SubjectAlternativeNames = append(append([]string(nil), m.GetManaged().GetDomains()...), frontDoorIP)
		}
	}
}

// servedLocked reports whether a forwarding rule serves certificate rel.
func (s *Service) servedLocked(rel string) bool {
	for _, n := range s.namesLocked("forwardingRules", "", "") {
		p, ok := s.res[relOrSelf(s.res[n].(*computepb.ForwardingRule).GetTarget())].(*computepb.TargetHttpsProxy)
		if !ok || p.GetCertificateMap() != "" {
			continue
		}
		for _, c := range p.GetSslCertificates() {
			if relOrSelf(c) == rel {
				return true
			}
		}
	}
	return false
}

// managedLeafLocked is the certificate localcloud's CA issued for a managed
// certificate: its domains and the front door's address.
func (s *Service) managedLeafLocked(rel string, m *computepb.SslCertificate) (*pki.Leaf, error) {
	if l := s.leaves[rel]; l != nil {
		return l, nil
	}
	if s.cfg.CA == nil {
		return nil, errors.New("localcloud has no certificate authority for managed certificates")
	}
	l, err := s.cfg.CA.Issue(append(append([]string(nil), m.GetManaged().GetDomains()...), frontDoorIP)...)
	if err != nil {
		return nil, err
	}
	if l.TLS.Leaf == nil {
		l.TLS.Leaf, _ = x509.ParseCertificate(l.TLS.Certificate[0])
	}
	s.leaves[rel] = l
	return l, nil
}

func prepareHTTPSProxy(s *Service, r ref, msg, _ proto.Message) error {
	m, err := typed[*computepb.TargetHttpsProxy](msg)
	if err != nil {
		return err
	}
	u, err := s.proxyURLMapLocked(r, m.GetUrlMap())
	if err != nil {
		return err
	}
	m.UrlMap = proto.String(u.selfLink())
	if err := s.checkRedirectsFor(u.rel(), true); err != nil {
		return err
	}
	if cm := m.GetCertificateMap(); cm != "" {
		// The certificate map wins; sslCertificates are ignored, as on Google.
		if !certificateMapRE.MatchString(cm) {
			return errInvalid("resource.certificateMap", "'%s'. Accepted format is //certificatemanager.googleapis.com/projects/{project}/locations/{location}/certificateMaps/{resourceName}", cm)
		}
		return nil
	}
	certs := m.GetSslCertificates()
	if len(certs) == 0 {
		return errRequired("resource.sslCertificates")
	}
	if len(certs) > maxProxyCerts {
		return errInvalid("resource.sslCertificates", "%d certificates; a target HTTPS proxy takes at most %d", len(certs), maxProxyCerts)
	}
	for i, c := range certs {
		cr, err := s.resolveRefLocked(fmt.Sprintf("resource.sslCertificates[%d]", i), c, r.project, "sslCertificates", false)
		if err != nil {
			return err
		}
		certs[i] = cr.selfLink()
	}
	return nil
}

// checkRedirectsFor refuses an HTTPS redirect in a URL map served by a
// target HTTPS proxy (Google: httpsRedirect only for target HTTP proxies).
func (s *Service) checkRedirectsFor(urlMapRel string, https bool) error {
	um, ok := s.res[urlMapRel].(*computepb.UrlMap)
	if !ok || !https {
		return nil
	}
	if urlMapHasHTTPSRedirect(um) {
		return errInvalid("resource.urlMap", "'%s' redirects to HTTPS (httpsRedirect); that is only allowed in URL maps used by target HTTP proxies", urlMapRel)
	}
	return nil
}

func urlMapHasHTTPSRedirect(m *computepb.UrlMap) bool {
	if m.GetDefaultUrlRedirect().GetHttpsRedirect() {
		return true
	}
	for _, pm := range m.GetPathMatchers() {
		if pm.GetDefaultUrlRedirect().GetHttpsRedirect() {
			return true
		}
		for _, rr := range pm.GetRouteRules() {
			if rr.GetUrlRedirect().GetHttpsRedirect() {
				return true
			}
		}
		for _, pr := range pm.GetPathRules() {
			if pr.GetUrlRedirect().GetHttpsRedirect() {
				return true
			}
		}
	}
	return false
}

// tlsConfig serves the certificates of the target HTTPS proxy of a
// forwarding rule as they are at each handshake: self-managed ones as
// uploaded, managed ones issued by localcloud's CA for their domains and the
// front door's address, and for a certificate map (Certificate Manager is not
// emulated) one issued by localcloud's CA for the name the client asked for.
func (s *Service) tlsConfig(rule string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// WebSockets upgrade over HTTP/1.1.
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.serverCertLocked(rule, hello)
		},
	}
}

func (s *Service) serverCertLocked(rule string, hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	fr, ok := s.res[rule].(*computepb.ForwardingRule)
	if !ok {
		return nil, fmt.Errorf("forwarding rule %s does not exist", rule)
	}
	p, ok := s.res[relOrSelf(fr.GetTarget())].(*computepb.TargetHttpsProxy)
	if !ok {
		return nil, fmt.Errorf("the target of %s is not a target HTTPS proxy", rule)
	}
	if p.GetCertificateMap() != "" {
		key := "certificateMap|" + p.GetCertificateMap() + "|" + hello.ServerName
		if l := s.leaves[key]; l != nil {
			return &l.TLS, nil
		}
		if s.cfg.CA == nil {
			return nil, errors.New("localcloud has no certificate authority")
		}
		hosts := []string{frontDoorIP}
		if hello.ServerName != "" {
			hosts = append([]string{hello.ServerName}, hosts...)
		}
		l, err := s.cfg.CA.Issue(hosts...)
		if err != nil {
			return nil, err
		}
		s.leaves[key] = l
		return &l.TLS, nil
	}
	var chain []*tls.Certificate
	for _, c := range p.GetSslCertificates() {
		rel := relOrSelf(c)
		cm, ok := s.res[rel].(*computepb.SslCertificate)
		if !ok {
			continue
		}
		if cm.GetType() == "MANAGED" {
			l, err := s.managedLeafLocked(rel, cm)
			if err != nil {
				return nil, err
			}
			chain = append(chain, &l.TLS)
			continue
		}
		pair, err := tls.X509KeyPair([]byte(cm.GetCertificate()), []byte(cm.GetPrivateKey()))
		if err != nil {
			continue
		}
		chain = append(chain, &pair)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("target HTTPS proxy of %s has no usable certificate", rule)
	}
	// The first certificate that covers the requested name, else the first.
	for _, c := range chain {
		if hello.SupportsCertificate(c) == nil {
			return c, nil
		}
	}
	return chain[0], nil
}

// presentForwardingRule shows the address a rule listens on (a reserved
// address is stored by reference so that it knows its users).
func presentForwardingRule(s *Service, msg proto.Message) {
	fr, ok := msg.(*computepb.ForwardingRule)
	if !ok {
		s.log.Error("present a forwarding rule: not a forwarding rule", "message", fmt.Sprintf("%T", msg))
		return
	}
	fr.IPAddress = proto.String(frontDoorIP)
}

// redirectCode maps redirectResponseCode to the HTTP status.
func redirectCode(v string) int {
	switch v {
	case "FOUND":
		return http.StatusFound
	case "SEE_OTHER":
		return http.StatusSeeOther
	case "TEMPORARY_REDIRECT":
		return http.StatusTemporaryRedirect
	case "PERMANENT_REDIRECT":
		return http.StatusPermanentRedirect
	}
	return http.StatusMovedPermanently
}
