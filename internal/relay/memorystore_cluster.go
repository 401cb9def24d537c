package relay

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"

	"cloud.google.com/go/redis/cluster/apiv1/clusterpb"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// A Memorystore for Redis Cluster is resolved through its own API
// (redis.googleapis.com/v1 projects.locations.clusters): GetCluster for the
// discovery endpoint (a client learns the shards' nodes from it with
// CLUSTER SLOTS), its transit encryption and its authorization mode, and
// GetClusterCertificateAuthority for the CA every node's certificate
// chains to. Such a cluster has no AUTH string: it authenticates with IAM
// (an access token as AUTH password, the service identity needing
// roles/redis.dbConnectionUser) or not at all. IAM authentication is the
// one for production: no secret to keep, tokens that expire, access
// granted per identity; a new connection takes a fresh token (an open one
// stays authenticated when its token expires).

// resolveCluster is Resolve for a cluster. A cluster without a discovery
// endpoint yet (being created) is an error: the caller retries.
func (m *MemorystoreResolver) resolveCluster(ctx context.Context, name string) (RedisTarget, error) {
	c, err := m.cc.GetCluster(ctx, &clusterpb.GetClusterRequest{Name: name})
	if err != nil {
		return RedisTarget{}, fmt.Errorf("GetCluster %s: %w", name, err)
	}
	if c.GetState() != clusterpb.Cluster_ACTIVE && c.GetState() != clusterpb.Cluster_UPDATING {
		return RedisTarget{}, fmt.Errorf("cluster %s is %s", name, c.GetState())
	}
	eps := c.GetDiscoveryEndpoints()
	if len(eps) == 0 || eps[0].GetAddress() == "" || eps[0].GetPort() == 0 {
		return RedisTarget{}, fmt.Errorf("cluster %s has no discovery endpoint yet (state %s)", name, c.GetState())
	}
	t := RedisTarget{Addr: net.JoinHostPort(eps[0].GetAddress(), strconv.Itoa(int(eps[0].GetPort())))}
	if c.GetTransitEncryptionMode() == clusterpb.TransitEncryptionMode_TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION {
		ca, err := m.cc.GetClusterCertificateAuthority(ctx, &clusterpb.GetClusterCertificateAuthorityRequest{Name: name + "/certificateAuthority"})
		if err != nil {
			return RedisTarget{}, fmt.Errorf("GetClusterCertificateAuthority %s: %w", name, err)
		}
		pool := x509.NewCertPool()
		found := false
		for _, chain := range ca.GetManagedServerCa().GetCaCerts() {
			for _, pem := range chain.GetCertificates() {
				found = pool.AppendCertsFromPEM([]byte(pem)) || found
			}
		}
		if !found {
			return RedisTarget{}, fmt.Errorf("cluster %s has in-transit encryption but its certificate authority holds no usable certificate", name)
		}
		t.CAs = pool
	}
	switch mode := c.GetAuthorizationMode(); mode {
	case clusterpb.AuthorizationMode_AUTH_MODE_DISABLED, clusterpb.AuthorizationMode_AUTH_MODE_UNSPECIFIED:
	case clusterpb.AuthorizationMode_AUTH_MODE_IAM_AUTH:
		if m.IAMToken == nil {
			return RedisTarget{}, fmt.Errorf("cluster %s uses IAM authentication and this resolver has no credentials (an emulator)", name)
		}
		t.Token = m.IAMToken
	default:
		return RedisTarget{}, fmt.Errorf("cluster %s: authorization mode %s not supported; accepted: AUTH_MODE_IAM_AUTH, AUTH_MODE_DISABLED", name, mode)
	}
	return t, nil
}

// iamToken gives access tokens of the service identity, refreshed before
// they expire.
func iamToken(ctx context.Context) (func(context.Context) (string, error), error) {
	ts, err := google.DefaultTokenSource(ctx, cloudPlatform)
	if err != nil {
		return nil, fmt.Errorf("credentials for Memorystore for Redis Cluster's IAM authentication: %w", err)
	}
	return tokenOf(ts), nil
}

// metadataToken gives the service identity's access tokens from the
// metadata server named by GCE_METADATA_HOST, which an emulator running
// the relay as a service provides (localcloud's Cloud Run does): never a
// developer's own credentials.
func metadataToken() func(context.Context) (string, error) {
	return tokenOf(google.ComputeTokenSource("", cloudPlatform))
}

const cloudPlatform = "https://www.googleapis.com/auth/cloud-platform"

func tokenOf(ts oauth2.TokenSource) func(context.Context) (string, error) {
	ts = oauth2.ReuseTokenSource(nil, ts)
	return func(context.Context) (string, error) {
		tok, err := ts.Token()
		if err != nil {
			return "", fmt.Errorf("IAM access token: %w", err)
		}
		return tok.AccessToken, nil
	}
}
