package compute

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// spec describes one emulated collection.
type spec struct {
	collection string
	regional   bool
	api        string // method prefix in the operation log: compute.<api>.<verb>
	kind       string
	listKind   string
	newMsg     func() proto.Message
	patch      bool
	update     bool
	// fingerprintRequired: patch and update must carry the current fingerprint.
	fingerprintRequired bool
	// prepare validates m (to be stored under r) and normalizes its
	// references; old is the current version on patch/update, else nil.
	prepare func(s *Service, r ref, m, old proto.Message) error
	// refs returns the relative names m references.
	refs func(m proto.Message) []string
	// present, when set, turns a stored copy into what GET and list answer
	// (output-only fields computed from the current state, secrets
	// removed). Called with s.mu held on a clone.
	present func(s *Service, m proto.Message)
}

var specs = []*spec{
	{collection: "networkEndpointGroups", regional: true, api: "regionNetworkEndpointGroups",
		kind: "compute#networkEndpointGroup", listKind: "compute#networkEndpointGroupList",
		newMsg:  func() proto.Message { return &computepb.NetworkEndpointGroup{} },
		prepare: prepareNEG, refs: func(proto.Message) []string { return nil }},
	{collection: "backendServices", api: "backendServices",
		kind: "compute#backendService", listKind: "compute#backendServiceList",
		newMsg: func() proto.Message { return &computepb.BackendService{} }, patch: true, update: true,
		prepare: prepareBackendService, refs: backendServiceRefs},
	{collection: "urlMaps", api: "urlMaps",
		kind: "compute#urlMap", listKind: "compute#urlMapList",
		newMsg: func() proto.Message { return &computepb.UrlMap{} }, patch: true, update: true, fingerprintRequired: true,
		prepare: prepareURLMap, refs: urlMapRefs},
	{collection: "targetHttpProxies", api: "targetHttpProxies",
		kind: "compute#targetHttpProxy", listKind: "compute#targetHttpProxyList",
		newMsg: func() proto.Message { return &computepb.TargetHttpProxy{} }, patch: true,
		prepare: prepareProxy, refs: func(m proto.Message) []string {
			p, _ := m.(*computepb.TargetHttpProxy) // the table passes one: nil refers to nothing
			return relRefs(p.GetUrlMap())
		}},
	{collection: "targetHttpsProxies", api: "targetHttpsProxies",
		kind: "compute#targetHttpsProxy", listKind: "compute#targetHttpsProxyList",
		newMsg: func() proto.Message { return &computepb.TargetHttpsProxy{} }, patch: true,
		prepare: prepareHTTPSProxy, refs: func(m proto.Message) []string {
			p, _ := m.(*computepb.TargetHttpsProxy) // as above
			return relRefs(append([]string{p.GetUrlMap()}, p.GetSslCertificates()...)...)
		}},
	{collection: "sslCertificates", api: "sslCertificates",
		kind: "compute#sslCertificate", listKind: "compute#sslCertificateList",
		newMsg:  func() proto.Message { return &computepb.SslCertificate{} },
		prepare: prepareSSLCertificate, refs: func(proto.Message) []string { return nil },
		present: presentSSLCertificate},
	{collection: "addresses", api: "globalAddresses",
		kind: "compute#address", listKind: "compute#addressList",
		newMsg:  func() proto.Message { return &computepb.Address{} },
		prepare: prepareAddress, refs: func(proto.Message) []string { return nil },
		present: presentAddress},
	{collection: "forwardingRules", api: "globalForwardingRules",
		kind: "compute#forwardingRule", listKind: "compute#forwardingRuleList",
		newMsg: func() proto.Message { return &computepb.ForwardingRule{} }, patch: true,
		prepare: prepareForwardingRule, refs: func(m proto.Message) []string {
			fr, _ := m.(*computepb.ForwardingRule) // as above
			return relRefs(fr.GetTarget(), fr.GetIPAddress())
		},
		present: presentForwardingRule},
}

func specFor(regional bool, collection string) *spec {
	for _, sp := range specs {
		if sp.regional == regional && sp.collection == collection {
			return sp
		}
	}
	return nil
}

// Generic access to the fields every resource has.

func field(m proto.Message, name string) (protoreflect.Message, protoreflect.FieldDescriptor) {
	r := m.ProtoReflect()
	return r, r.Descriptor().Fields().ByName(protoreflect.Name(name))
}

func getString(m proto.Message, name string) string {
	r, fd := field(m, name)
	if fd == nil || !r.Has(fd) {
		return ""
	}
	return r.Get(fd).String()
}

func setString(m proto.Message, name, v string) {
	if r, fd := field(m, name); fd != nil {
		r.Set(fd, protoreflect.ValueOfString(v))
	}
}

func clearField(m proto.Message, name string) {
	if r, fd := field(m, name); fd != nil {
		r.Clear(fd)
	}
}

func getID(m proto.Message) uint64 {
	r, fd := field(m, "id")
	if fd == nil || !r.Has(fd) {
		return 0
	}
	return r.Get(fd).Uint()
}

func setID(m proto.Message, id uint64) {
	if r, fd := field(m, "id"); fd != nil {
		r.Set(fd, protoreflect.ValueOfUint64(id))
	}
}

func hasField(m proto.Message, name string) bool {
	_, fd := field(m, name)
	return fd != nil
}

func newID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) >> 1
}

func newFingerprint() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

func timestamp(t time.Time) string { return t.Format("2006-01-02T15:04:05.000-07:00") }
