package relay_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/redis/cluster/apiv1/clusterpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/pki"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/relaytest"
)

// clusterAPI answers GetCluster as Memorystore for Redis Cluster does, for
// the relay's resolver: a three-primary cluster with in-transit encryption
// (its own CA) and IAM authentication, its discovery endpoint a node of the
// cluster.
type clusterAPI struct {
	clusterpb.UnimplementedCloudRedisClusterServer
	clusters map[string]*clusterpb.Cluster
	caPEM    string
}

func (a *clusterAPI) GetClusterCertificateAuthority(_ context.Context, req *clusterpb.GetClusterCertificateAuthorityRequest) (*clusterpb.CertificateAuthority, error) {
	if _, ok := a.clusters[strings.TrimSuffix(req.GetName(), "/certificateAuthority")]; !ok {
		return nil, status.Errorf(codes.NotFound, "%s not found", req.GetName())
	}
	return &clusterpb.CertificateAuthority{Name: req.GetName(), ServerCa: &clusterpb.CertificateAuthority_ManagedServerCa{
		ManagedServerCa: &clusterpb.CertificateAuthority_ManagedCertificateAuthority{
			CaCerts: []*clusterpb.CertificateAuthority_ManagedCertificateAuthority_CertChain{{Certificates: []string{a.caPEM}}},
		},
	}}, nil
}

func (a *clusterAPI) GetCluster(_ context.Context, req *clusterpb.GetClusterRequest) (*clusterpb.Cluster, error) {
	c, ok := a.clusters[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "cluster %s not found", req.GetName())
	}
	return c, nil
}

// TestMemorystoreCluster: a relay given a Memorystore for Redis Cluster's
// name resolves its discovery endpoint and CA through the clusters API,
// reaches every node over TLS verified against that CA, authenticates
// every connection with an IAM access token and delivers
// through the cluster (its inboxes hash-tagged on the shards). Without
// credentials for IAM authentication it is not ready and says why.
func TestMemorystoreCluster(t *testing.T) {
	e := newEnv(t)
	const token = "ya29.iam-access-token-for-the-relay"
	ca, err := pki.LoadOrCreateCA(t.TempDir(), "cluster CA")
	if err != nil {
		t.Fatal(err)
	}
	rd := relaytest.NewRedisWith(t, relaytest.RedisOptions{Shards: 3, Password: token, CA: ca})
	host, port, _ := net.SplitHostPort(rd.Addr)
	var p int32
	if _, err := fmt.Sscan(port, &p); err != nil {
		t.Fatalf("redis cluster address %s: %v", rd.Addr, err)
	}
	const name = "projects/p/locations/region-a/clusters/relay-a"
	api := &clusterAPI{clusters: map[string]*clusterpb.Cluster{name: {
		Name: name, State: clusterpb.Cluster_ACTIVE,
		AuthorizationMode:     clusterpb.AuthorizationMode_AUTH_MODE_IAM_AUTH,
		TransitEncryptionMode: clusterpb.TransitEncryptionMode_TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION,
		DiscoveryEndpoints:    []*clusterpb.DiscoveryEndpoint{{Address: host, Port: p}},
	}}, caPEM: string(ca.PEM)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	clusterpb.RegisterCloudRedisClusterServer(gs, api)
	go func() { _ = gs.Serve(ln) }() // ends with Stop
	t.Cleanup(gs.Stop)
	resolver := func(withToken bool) *relay.MemorystoreResolver {
		r, err := relay.NewMemorystoreResolver(context.Background(), ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() }) // the test's end
		if withToken {
			r.IAMToken = func(context.Context) (string, error) { return token, nil }
		}
		return r
	}

	noCreds := relaytest.NewRelay(t, e.v, "a", "", nil, func(c *relay.Config) {
		c.RedisAddr, c.RedisInstance, c.Resolver = "", name, resolver(false)
	})
	waitFor(t, 5*time.Second, "the detailed readiness naming IAM authentication", func() bool {
		code, body := get(t, "http://"+noCreds.OpsAddr+"/ready")
		return code == 503 && strings.Contains(body, "IAM authentication")
	})

	r := relaytest.NewRelay(t, e.v, "a", "", nil, func(c *relay.Config) {
		c.RedisAddr, c.RedisInstance, c.Resolver = "", name, resolver(true)
	})
	waitAllRedisUp(t, r.OpsAddr)
	alice := e.dial("alice", r.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 5 {
		if _, err := alice.Send(ctx, "bob", fmt.Sprintf("m%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	rc := relaytest.Client(rd)
	defer func() { _ = rc.Close() }() // the test's end
	if n := rc.XLen(ctx, relaytest.Key(rd, "relay:inbox:", "bob")).Val(); n != 5 {
		t.Fatalf("bob's hash-tagged inbox holds %d entries, want 5", n)
	}
	bob := e.dial("bob", r.URL)
	for i := range 5 {
		if got := recv(t, bob, 5*time.Second); got.ID != fmt.Sprintf("m%d", i) {
			t.Fatalf("got %s, want m%d", got.ID, i)
		}
	}
}
