package rediscluster

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/redis/cluster/apiv1/clusterpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentnet/terraform-provider-agentnet/internal/clusterform"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gapi"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
)

// ListClusters lists clusters in a region, or in every region with "-".
func (s *Service) ListClusters(_ context.Context, req *clusterpb.ListClustersRequest) (*clusterpb.ListClustersResponse, error) {
	project, region, err := gapi.ParseParent(req.GetParent(), true)
	if err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("projects/%s/locations/%s/clusters/", project, region)
	if region == "-" {
		prefix = fmt.Sprintf("projects/%s/locations/", project)
	}
	s.mu.Lock()
	var all []*clusterpb.Cluster
	for name, c := range s.clusters {
		if strings.HasPrefix(name, prefix) {
			all = append(all, proto.CloneOf(c.pb))
		}
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	page, next, err := gapi.Page(all, req.GetPageToken(), req.GetPageSize(), "ListClusters")
	if err != nil {
		return nil, err
	}
	return &clusterpb.ListClustersResponse{Clusters: page, NextPageToken: next}, nil
}

// GetCluster returns one cluster; NOT_FOUND if it does not exist.
func (s *Service) GetCluster(_ context.Context, req *clusterpb.GetClusterRequest) (*clusterpb.Cluster, error) {
	c, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	return s.snapshot(c), nil
}

// GetClusterCertificateAuthority returns the CA of a cluster with transit
// encryption (FAILED_PRECONDITION without).
func (s *Service) GetClusterCertificateAuthority(_ context.Context, req *clusterpb.GetClusterCertificateAuthorityRequest) (*clusterpb.CertificateAuthority, error) {
	name, ok := strings.CutSuffix(req.GetName(), "/certificateAuthority")
	if !ok {
		return nil, gapi.Invalid("name: %q must have the form projects/{project}/locations/{region}/clusters/{cluster_id}/certificateAuthority", req.GetName())
	}
	c, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	ca := c.ca
	s.mu.Unlock()
	if ca == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "cluster %q has transit_encryption_mode TRANSIT_ENCRYPTION_MODE_DISABLED: it has no certificate authority", name)
	}
	return &clusterpb.CertificateAuthority{Name: req.GetName(), ServerCa: &clusterpb.CertificateAuthority_ManagedServerCa{
		ManagedServerCa: &clusterpb.CertificateAuthority_ManagedCertificateAuthority{
			CaCerts: []*clusterpb.CertificateAuthority_ManagedCertificateAuthority_CertChain{{Certificates: []string{string(ca.PEM)}}},
		},
	}}, nil
}

// CreateCluster validates the request and starts the cluster's nodes.
func (s *Service) CreateCluster(_ context.Context, req *clusterpb.CreateClusterRequest) (op *longrunningpb.Operation, err error) {
	const method = "CreateCluster"
	name := clusterNames.Join(req.GetParent(), req.GetClusterId())
	defer s.cfg.Ops.RecordRefused(MethodPrefix+method, name, &err)
	project, region, err := clusterNames.CheckCreate(req.GetParent(), req.GetClusterId())
	if err != nil {
		return nil, err
	}
	in := proto.CloneOf(req.GetCluster())
	network, err := checkCreate(in)
	if err != nil {
		return nil, err
	}
	if in.GetName() != "" && in.GetName() != name {
		return nil, gapi.Invalid("cluster.name: %q does not match parent and cluster_id (%q); leave it empty", in.GetName(), name)
	}
	replicas := in.GetReplicaCount()
	pb := &clusterpb.Cluster{
		Name:                      name,
		CreateTime:                timestamppb.Now(),
		State:                     clusterpb.Cluster_CREATING,
		Uid:                       rand.Text(),
		ReplicaCount:              &replicas,
		AuthorizationMode:         in.GetAuthorizationMode(),
		TransitEncryptionMode:     in.GetTransitEncryptionMode(),
		ShardCount:                in.ShardCount,
		PscConfigs:                []*clusterpb.PscConfig{{Network: network}},
		NodeType:                  in.GetNodeType(),
		PersistenceConfig:         persistenceWithDefaults(in.GetPersistenceConfig()),
		RedisConfigs:              in.GetRedisConfigs(),
		ZoneDistributionConfig:    in.GetZoneDistributionConfig(),
		DeletionProtectionEnabled: in.DeletionProtectionEnabled,
	}
	if pb.ZoneDistributionConfig == nil {
		pb.ZoneDistributionConfig = &clusterpb.ZoneDistributionConfig{Mode: clusterpb.ZoneDistributionConfig_MULTI_ZONE}
	}
	setSize(pb)
	c := &cluster{name: name, dir: filepath.Join(s.cfg.DataDir, project, region, req.GetClusterId()), pb: pb, busy: "(starting)"}
	for i := range int(pb.GetShardCount()) * (1 + int(replicas)) {
		c.nodes = append(c.nodes, &node{dir: filepath.Join(c.dir, fmt.Sprintf("node-%d", i))})
	}
	if pb.AuthorizationMode == clusterpb.AuthorizationMode_AUTH_MODE_IAM_AUTH {
		c.token = s.cfg.AccessToken
		if c.token == "" {
			c.token = newToken()
		}
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "localcloud is shutting down")
	}
	if _, ok := s.clusters[name]; ok {
		s.mu.Unlock()
		return nil, status.Errorf(codes.AlreadyExists, "cluster %q already exists", name)
	}
	s.clusters[name] = c
	s.mu.Unlock()
	os.RemoveAll(c.dir)
	remove := func() {
		_ = s.stopNodes(c) // its data is being removed
		s.closeGates(c)
		s.mu.Lock()
		delete(s.clusters, name)
		s.mu.Unlock()
		os.RemoveAll(c.dir)
		s.persist()
	}
	defer func() {
		if err != nil {
			remove()
		}
	}()
	if pb.TransitEncryptionMode == clusterpb.TransitEncryptionMode_TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION {
		if err := s.useCA(c); err != nil {
			return nil, status.Errorf(codes.Internal, "%v", err)
		}
	}
	// The endpoints are known from the start: the service reserves the
	// discovery address when the cluster is created.
	if err := s.openGates(c); err != nil {
		return nil, status.Errorf(codes.ResourceExhausted, "%v", err)
	}
	s.persist()
	if c.token != "" {
		s.cfg.Ops.Event(MethodPrefix+method, name, "AUTH_MODE_IAM_AUTH: every node requires AUTH with localcloud's access token (localcloud has no IAM: the one token its metadata server gives Cloud Run relays and its admin endpoint gives tests stands for every identity with roles/redis.dbConnectionUser)")
	}
	return s.begin(method, c, clusterpb.Cluster_STATE_UNSPECIFIED, func(op *operations.Op) (proto.Message, error) {
		_, err := s.cfg.Timing.Wait(op.Context(), profile.ClusterCreate, name, 0)
		if err == nil {
			err = s.launch(op.Context(), c, true)
		}
		if err != nil {
			remove()
			if op.Context().Err() != nil {
				return nil, status.Errorf(codes.Canceled, "creation of %s was cancelled; the cluster was removed", name)
			}
			return nil, status.Errorf(codes.Internal, "cluster %s did not form: %v", name, err)
		}
		s.setState(c, clusterpb.Cluster_ACTIVE)
		return nil, nil
	})
}

// launch starts every node of c and waits for the cluster to be ok,
// forming it first when form (a new cluster; a reloaded one keeps its
// shape in each node's nodes.conf).
func (s *Service) launch(ctx context.Context, c *cluster, form bool) error {
	if err := s.openGates(c); err != nil {
		return err
	}
	var up []clusterform.Node
	anyHeld := false
	for _, n := range c.nodes {
		s.mu.Lock()
		held := n.held
		s.mu.Unlock()
		if held { // kept down by a fault until released
			anyHeld = true
			continue
		}
		if err := s.startNode(ctx, c, n); err != nil {
			return err
		}
		up = append(up, clusterform.Node{Options: s.options(c, n), BusPort: n.busPort})
	}
	s.persist()
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	switch {
	case form:
		return clusterform.Form(ctx, s.formNodes(c), int(c.pb.GetShardCount()))
	case anyHeld:
		return nil // not ok until released: a whole shard may be down
	}
	return clusterform.WaitOK(ctx, up)
}

// DeleteCluster stops the nodes and removes the cluster and its data.
func (s *Service) DeleteCluster(_ context.Context, req *clusterpb.DeleteClusterRequest) (op *longrunningpb.Operation, err error) {
	const method = "DeleteCluster"
	defer s.cfg.Ops.RecordRefused(MethodPrefix+method, req.GetName(), &err)
	c, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	if s.snapshot(c).GetDeletionProtectionEnabled() {
		return nil, status.Errorf(codes.FailedPrecondition, "cluster %q has deletion_protection_enabled; update it to false first", c.name)
	}
	if err := s.claim(c, method); err != nil {
		return nil, err
	}
	return s.begin(method, c, clusterpb.Cluster_DELETING, func(op *operations.Op) (proto.Message, error) {
		err := s.stopNodes(c)
		s.closeGates(c)
		s.mu.Lock()
		delete(s.clusters, c.name)
		s.mu.Unlock()
		os.RemoveAll(c.dir)
		s.persist()
		if err != nil {
			s.log.Warn("cluster deleted; a node had to be killed", "cluster", c.name, "err", err)
		}
		return &emptypb.Empty{}, nil
	})
}

// updatablePaths are the update_mask paths localcloud applies.
var updatablePaths = []string{"deletion_protection_enabled", "redis_configs"}

// notModelled are update_mask paths Google accepts and localcloud does
// not model, with why.
var notModelled = map[string]string{
	"shard_count":        "resharding (moving slots to new or fewer shards)",
	"replica_count":      "adding or removing replicas",
	"node_type":          "changing the node type",
	"size_gb":            "resizing (it follows shard_count and node_type)",
	"persistence_config": "changing persistence on running nodes",
	"psc_configs":        "changing the cluster's network",
}

// UpdateCluster applies the fields named in update_mask.
func (s *Service) UpdateCluster(_ context.Context, req *clusterpb.UpdateClusterRequest) (op *longrunningpb.Operation, err error) {
	const method = "UpdateCluster"
	name := req.GetCluster().GetName()
	defer s.cfg.Ops.RecordRefused(MethodPrefix+method, name, &err)
	c, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		return nil, gapi.Invalid("update_mask: required; accepted paths are %s", strings.Join(updatablePaths, ", "))
	}
	in := req.GetCluster()
	set := map[string]bool{}
	for _, p := range paths {
		if why, ok := notModelled[p]; ok {
			return nil, status.Errorf(codes.Unimplemented, "update_mask: path %q (%s) is not modelled by localcloud; accepted paths are %s", p, why, strings.Join(updatablePaths, ", "))
		}
		ok := false
		for _, a := range updatablePaths {
			ok = ok || a == p
		}
		if !ok {
			return nil, gapi.Invalid("update_mask: path %q cannot be updated; accepted paths are %s", p, strings.Join(updatablePaths, ", "))
		}
		set[p] = true
	}
	if set["redis_configs"] {
		if err := checkConfigs(in.GetRedisConfigs()); err != nil {
			return nil, err
		}
	}
	if err := s.claim(c, method); err != nil {
		return nil, err
	}
	return s.begin(method, c, clusterpb.Cluster_UPDATING, func(op *operations.Op) (proto.Message, error) {
		defer s.setState(c, clusterpb.Cluster_ACTIVE)
		if set["redis_configs"] {
			policy := in.GetRedisConfigs()["maxmemory-policy"]
			if policy == "" {
				policy = "volatile-lru"
			}
			if err := s.configSet(op.Context(), c, "maxmemory-policy", policy); err != nil {
				return nil, status.Errorf(codes.Internal, "apply redis_configs: %v", err)
			}
		}
		s.mu.Lock()
		if set["redis_configs"] {
			c.pb.RedisConfigs = in.GetRedisConfigs()
		}
		if set["deletion_protection_enabled"] {
			c.pb.DeletionProtectionEnabled = in.DeletionProtectionEnabled
		}
		s.mu.Unlock()
		return nil, nil
	})
}

// configSet runs CONFIG SET on every node up (a node down reads the
// setting from its command line when it starts again).
func (s *Service) configSet(ctx context.Context, c *cluster, key, value string) error {
	for _, n := range c.nodes {
		if s.backend(n) == "" {
			continue
		}
		if err := clusterform.Do(ctx, clusterform.Node{Options: s.options(c, n)}, "CONFIG", "SET", key, value); err != nil {
			return err
		}
	}
	return nil
}
