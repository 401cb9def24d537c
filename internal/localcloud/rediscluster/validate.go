package rediscluster

import (
	"math"
	"regexp"
	"sort"
	"strings"

	"cloud.google.com/go/redis/cluster/apiv1/clusterpb"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gapi"
)

// clusterNames are the API's cluster names; the id rule is
// CreateClusterRequest.cluster_id's.
var clusterNames = gapi.Collection{
	Name: "clusters",
	Kind: "cluster",
	ID:   regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`),
	Rule: "it must be 1 to 63 characters of lowercase letters, digits and hyphens, start with a letter and end with a letter or digit",
}

// maxNodes bounds the redis-servers one cluster runs on this machine
// (shard_count × (1 + replica_count)): a limit of localcloud, not Google's.
const maxNodes = 24

// maxReplicas is Memorystore for Redis Cluster's replicas per shard.
const maxReplicas = 5

var networkRE = regexp.MustCompile(`^projects/[a-z0-9][a-z0-9.:-]{0,62}/global/networks/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)

// supportedConfigs are the redis_configs keys localcloud applies; Google's
// list of supported configurations is longer, the rest are refused as not
// modelled.
var supportedConfigs = map[string][]string{
	"maxmemory-policy": {"noeviction", "allkeys-lru", "volatile-lru", "allkeys-lfu", "volatile-lfu", "allkeys-random", "volatile-random", "volatile-ttl"},
}

// checkCreate validates a cluster to create and fills in the defaults;
// network is its PSC network.
func checkCreate(in *clusterpb.Cluster) (network string, err error) {
	if in == nil {
		return "", gapi.Invalid("cluster: required")
	}
	if in.ShardCount == nil {
		return "", gapi.Invalid("cluster.shard_count: required (at least 1)")
	}
	if in.GetShardCount() < 1 {
		return "", gapi.Invalid("cluster.shard_count: %d; it must be at least 1", in.GetShardCount())
	}
	if r := in.GetReplicaCount(); r < 0 || r > maxReplicas {
		return "", gapi.Invalid("cluster.replica_count: %d; accepted values are 0 to %d", r, maxReplicas)
	}
	if n := in.GetShardCount() * (1 + in.GetReplicaCount()); n > maxNodes {
		return "", gapi.Invalid("cluster.shard_count: %d shards of %d nodes each are %d redis-servers; localcloud runs at most %d per cluster", in.GetShardCount(), 1+in.GetReplicaCount(), n, maxNodes)
	}
	switch in.GetNodeType() {
	case clusterpb.NodeType_NODE_TYPE_UNSPECIFIED:
		in.NodeType = clusterpb.NodeType_REDIS_HIGHMEM_MEDIUM
	case clusterpb.NodeType_REDIS_SHARED_CORE_NANO, clusterpb.NodeType_REDIS_STANDARD_SMALL, clusterpb.NodeType_REDIS_HIGHMEM_MEDIUM,
		clusterpb.NodeType_REDIS_HIGHMEM_XLARGE, clusterpb.NodeType_REDIS_HIGHCPU_MEDIUM, clusterpb.NodeType_REDIS_STANDARD_LARGE, clusterpb.NodeType_REDIS_HIGHMEM_2XLARGE:
	default:
		return "", gapi.Invalid("cluster.node_type: %s is not accepted; accepted values are %s", in.GetNodeType(), enumNames(clusterpb.NodeType_name, 0))
	}
	switch in.GetTransitEncryptionMode() {
	case clusterpb.TransitEncryptionMode_TRANSIT_ENCRYPTION_MODE_UNSPECIFIED:
		in.TransitEncryptionMode = clusterpb.TransitEncryptionMode_TRANSIT_ENCRYPTION_MODE_DISABLED
	case clusterpb.TransitEncryptionMode_TRANSIT_ENCRYPTION_MODE_DISABLED, clusterpb.TransitEncryptionMode_TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION:
	default:
		return "", gapi.Invalid("cluster.transit_encryption_mode: %s is not accepted; accepted values are TRANSIT_ENCRYPTION_MODE_DISABLED, TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION", in.GetTransitEncryptionMode())
	}
	switch in.GetAuthorizationMode() {
	case clusterpb.AuthorizationMode_AUTH_MODE_UNSPECIFIED:
		in.AuthorizationMode = clusterpb.AuthorizationMode_AUTH_MODE_DISABLED
	case clusterpb.AuthorizationMode_AUTH_MODE_DISABLED, clusterpb.AuthorizationMode_AUTH_MODE_IAM_AUTH:
	default:
		return "", gapi.Invalid("cluster.authorization_mode: %s is not accepted; accepted values are AUTH_MODE_DISABLED, AUTH_MODE_IAM_AUTH", in.GetAuthorizationMode())
	}
	if len(in.GetPscConfigs()) != 1 {
		return "", gapi.Invalid("cluster.psc_configs: exactly one PSC config is required (its network: projects/{project}/global/networks/{network}); got %d", len(in.GetPscConfigs()))
	}
	network = in.GetPscConfigs()[0].GetNetwork()
	if network == "" {
		return "", gapi.Invalid("cluster.psc_configs[0].network: required, in the form projects/{project}/global/networks/{network}")
	}
	if !networkRE.MatchString(network) {
		return "", gapi.Invalid("cluster.psc_configs[0].network: %q is not in the form projects/{project}/global/networks/{network}", network)
	}
	if err := checkConfigs(in.GetRedisConfigs()); err != nil {
		return "", err
	}
	if err := checkPersistence(in.GetPersistenceConfig()); err != nil {
		return "", err
	}
	if in.GetGcsSource() != nil || in.GetManagedBackupSource() != nil {
		return "", gapi.Invalid("cluster.import_sources: creating a cluster from a backup is not modelled by localcloud")
	}
	if in.GetCrossClusterReplicationConfig() != nil {
		return "", gapi.Invalid("cluster.cross_cluster_replication_config: not modelled by localcloud")
	}
	return network, nil
}

func checkConfigs(cfgs map[string]string) error {
	keys := make([]string, 0, len(cfgs))
	for k := range cfgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vals, ok := supportedConfigs[k]
		if !ok {
			return gapi.Invalid("cluster.redis_configs: %q is not a configuration localcloud applies; accepted keys are maxmemory-policy", k)
		}
		found := false
		for _, v := range vals {
			found = found || v == cfgs[k]
		}
		if !found {
			return gapi.Invalid("cluster.redis_configs[%q]: %q is not accepted; accepted values are %s", k, cfgs[k], strings.Join(vals, ", "))
		}
	}
	return nil
}

func checkPersistence(p *clusterpb.ClusterPersistenceConfig) error {
	switch p.GetMode() {
	case clusterpb.ClusterPersistenceConfig_PERSISTENCE_MODE_UNSPECIFIED, clusterpb.ClusterPersistenceConfig_DISABLED,
		clusterpb.ClusterPersistenceConfig_RDB, clusterpb.ClusterPersistenceConfig_AOF:
		return nil
	}
	return gapi.Invalid("cluster.persistence_config.mode: %s is not accepted; accepted values are DISABLED, RDB, AOF", p.GetMode())
}

// persistenceWithDefaults is the persistence config a cluster reports:
// DISABLED unless asked for, as Memorystore for Redis Cluster's default.
func persistenceWithDefaults(p *clusterpb.ClusterPersistenceConfig) *clusterpb.ClusterPersistenceConfig {
	if p == nil || p.GetMode() == clusterpb.ClusterPersistenceConfig_PERSISTENCE_MODE_UNSPECIFIED {
		return &clusterpb.ClusterPersistenceConfig{Mode: clusterpb.ClusterPersistenceConfig_DISABLED}
	}
	return p
}

// enumNames lists an enum's names but the unspecified one.
func enumNames(names map[int32]string, skip int32) string {
	var out []string
	for v, n := range names {
		if v != skip {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// nodeSizeGB is the memory of one node of each type, from Google's "Cluster
// and node specification" (total node capacity), which size_gb sums over
// the primaries.
var nodeSizeGB = map[clusterpb.NodeType]float64{
	clusterpb.NodeType_REDIS_SHARED_CORE_NANO: 1.4,
	clusterpb.NodeType_REDIS_STANDARD_SMALL:   6.5,
	clusterpb.NodeType_REDIS_HIGHMEM_MEDIUM:   13,
	clusterpb.NodeType_REDIS_HIGHMEM_XLARGE:   58,
}

// setSize fills size_gb and precise_size_gb for the node types the page
// gives a capacity for.
func setSize(pb *clusterpb.Cluster) {
	per, ok := nodeSizeGB[pb.GetNodeType()]
	if !ok {
		return
	}
	precise := per * float64(pb.GetShardCount())
	size := int32(math.Ceil(precise))
	pb.SizeGb, pb.PreciseSizeGb = &size, &precise
}
