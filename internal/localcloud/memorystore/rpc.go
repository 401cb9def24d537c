package memorystore

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gapi"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ListInstances lists instances in a region, or in every region with "-".
func (s *Service) ListInstances(_ context.Context, req *redispb.ListInstancesRequest) (*redispb.ListInstancesResponse, error) {
	project, region, err := gapi.ParseParent(req.GetParent(), true)
	if err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("projects/%s/locations/%s/instances/", project, region)
	if region == "-" {
		prefix = fmt.Sprintf("projects/%s/locations/", project)
	}
	s.mu.Lock()
	var all []*redispb.Instance
	for name, inst := range s.instances {
		if strings.HasPrefix(name, prefix) {
			all = append(all, proto.CloneOf(inst.pb))
		}
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	page, next, err := gapi.Page(all, req.GetPageToken(), req.GetPageSize(), "ListInstances")
	if err != nil {
		return nil, err
	}
	return &redispb.ListInstancesResponse{Instances: page, NextPageToken: next}, nil
}

// GetInstance returns one instance; NOT_FOUND if it does not exist.
func (s *Service) GetInstance(_ context.Context, req *redispb.GetInstanceRequest) (*redispb.Instance, error) {
	inst, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	return s.snapshot(inst), nil
}

// CreateInstance validates the request and starts a redis-server.
func (s *Service) CreateInstance(_ context.Context, req *redispb.CreateInstanceRequest) (op *longrunningpb.Operation, err error) {
	const method = "CreateInstance"
	name := instanceNames.Join(req.GetParent(), req.GetInstanceId())
	defer s.cfg.Ops.RecordRefused(methodPrefix+method, name, &err)
	project, region, err := instanceNames.CheckCreate(req.GetParent(), req.GetInstanceId())
	if err != nil {
		return nil, err
	}
	in := req.GetInstance()
	if in == nil {
		return nil, gapi.Invalid("instance: required")
	}
	if err := validateTier(in.GetTier()); err != nil {
		return nil, err
	}
	if err := validateMemory(in.GetMemorySizeGb()); err != nil {
		return nil, err
	}
	version := in.GetRedisVersion()
	if version == "" {
		version = defaultVersion
	}
	if err := validateVersion(version); err != nil {
		return nil, err
	}
	if err := validateConfigs(in.GetRedisConfigs()); err != nil {
		return nil, err
	}
	if err := validateLabels(in.GetLabels()); err != nil {
		return nil, err
	}
	if err := validateMaxmemoryGB(in.GetRedisConfigs(), in.GetMemorySizeGb()); err != nil {
		return nil, err
	}
	if err := validatePersistence(in.GetPersistenceConfig()); err != nil {
		return nil, err
	}
	network, err := networkName(project, in.GetAuthorizedNetwork())
	if err != nil {
		return nil, err
	}
	connect := in.GetConnectMode()
	switch connect {
	case redispb.Instance_CONNECT_MODE_UNSPECIFIED:
		connect = redispb.Instance_DIRECT_PEERING
	case redispb.Instance_DIRECT_PEERING, redispb.Instance_PRIVATE_SERVICE_ACCESS:
	default:
		return nil, gapi.Invalid("instance.connect_mode: %s is not accepted; accepted values are DIRECT_PEERING, PRIVATE_SERVICE_ACCESS", connect)
	}
	if err := validateReservedRange(connect, in.GetReservedIpRange()); err != nil {
		return nil, err
	}
	reserved := in.GetReservedIpRange()
	if reserved == "" && connect == redispb.Instance_DIRECT_PEERING {
		reserved = "127.0.0.0/29" // the service picks a free /29; localcloud's is loopback
	}
	transit := in.GetTransitEncryptionMode()
	switch transit {
	case redispb.Instance_TRANSIT_ENCRYPTION_MODE_UNSPECIFIED:
		transit = redispb.Instance_DISABLED
	case redispb.Instance_DISABLED, redispb.Instance_SERVER_AUTHENTICATION:
	default:
		return nil, gapi.Invalid("instance.transit_encryption_mode: %s is not accepted; accepted values are SERVER_AUTHENTICATION, DISABLED", transit)
	}
	if err := validateCustomerManagedKey(in.GetCustomerManagedKey()); err != nil {
		return nil, err
	}
	if in.GetName() != "" && in.GetName() != name {
		return nil, gapi.Invalid("instance.name: %q does not match parent and instance_id (%q); leave it empty", in.GetName(), name)
	}
	loc := in.GetLocationId()
	if loc == "" {
		loc = region + "-a"
	} else if !strings.HasPrefix(loc, region+"-") {
		return nil, gapi.Invalid("instance.location_id: %q is not a zone of region %s (for example %s-a)", loc, region, region)
	}
	alt := in.GetAlternativeLocationId()
	if in.GetTier() == redispb.Instance_STANDARD_HA && alt == "" {
		alt = region + "-b"
		if loc == alt {
			alt = region + "-c"
		}
	}
	if alt != "" && !strings.HasPrefix(alt, region+"-") {
		return nil, gapi.Invalid("instance.alternative_location_id: %q is not a zone of region %s", alt, region)
	}
	persistence := persistenceWithDefaults(in.GetPersistenceConfig())
	pb := &redispb.Instance{
		Name:                   name,
		DisplayName:            in.GetDisplayName(),
		Labels:                 in.GetLabels(),
		LocationId:             loc,
		AlternativeLocationId:  alt,
		CurrentLocationId:      loc,
		RedisVersion:           version,
		ReservedIpRange:        reserved,
		Host:                   "127.0.0.1",
		CreateTime:             timestamppb.Now(),
		State:                  redispb.Instance_CREATING,
		RedisConfigs:           in.GetRedisConfigs(),
		Tier:                   in.GetTier(),
		MemorySizeGb:           in.GetMemorySizeGb(),
		AuthorizedNetwork:      network,
		ConnectMode:            connect,
		TransitEncryptionMode:  transit,
		AuthEnabled:            in.GetAuthEnabled(),
		CustomerManagedKey:     in.GetCustomerManagedKey(),
		ReadReplicasMode:       redispb.Instance_READ_REPLICAS_DISABLED,
		PersistenceConfig:      persistence,
		PersistenceIamIdentity: fmt.Sprintf("serviceAccount:service-%s@cloud-redis.iam.gserviceaccount.com", project),
		MaintenanceVersion:     "localcloud-redis-7.0",
	}
	if pb.Tier == redispb.Instance_STANDARD_HA {
		pb.ReplicaCount = 1
	}
	port, err := localproc.FreePort()
	if err != nil {
		return nil, status.Errorf(codes.ResourceExhausted, "no free loopback port for the instance: %v", err)
	}
	inst := &instance{name: name, dir: filepath.Join(s.cfg.DataDir, project, region, req.GetInstanceId()), pb: pb, port: port, busy: "(starting)"}
	if pb.AuthEnabled {
		inst.auth = newAuthString()
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "localcloud is shutting down")
	}
	if _, ok := s.instances[name]; ok {
		s.mu.Unlock()
		return nil, status.Errorf(codes.AlreadyExists, "instance %q already exists", name)
	}
	s.instances[name] = inst
	s.mu.Unlock()
	os.RemoveAll(inst.dir)
	defer func() {
		if err != nil {
			s.mu.Lock()
			delete(s.instances, name)
			s.mu.Unlock()
			s.closeGate(inst)
			os.RemoveAll(inst.dir)
		}
	}()
	if transit == redispb.Instance_SERVER_AUTHENTICATION {
		if err := s.useInstanceCA(inst); err != nil {
			return nil, status.Errorf(codes.Internal, "%v", err)
		}
	}
	// The endpoint is known from the start, as the service reserves the
	// address when the instance is created.
	if err := s.openGate(inst); err != nil {
		return nil, status.Errorf(codes.ResourceExhausted, "%v", err)
	}
	return s.begin(method, inst, redispb.Instance_STATE_UNSPECIFIED, func(op *operations.Op) (proto.Message, error) {
		// The profile's modelled creation time: the instance is CREATING
		// and its address refuses connections meanwhile.
		_, err := s.cfg.Timing.Wait(op.Context(), profile.RedisCreate, name, 0)
		if err == nil {
			err = s.launch(op.Context(), inst)
		}
		if err != nil {
			s.mu.Lock()
			if inst.proc != nil {
				inst.proc.Expected.Store(true)
			}
			delete(s.instances, name)
			s.mu.Unlock()
			if inst.proc != nil {
				inst.proc.kill()
			}
			s.closeGate(inst)
			os.RemoveAll(inst.dir)
			s.persist()
			if op.Context().Err() != nil {
				return nil, status.Errorf(codes.Canceled, "creation of %s was cancelled; the instance was removed", name)
			}
			return nil, status.Errorf(codes.Internal, "redis-server for %s did not start: %v", name, err)
		}
		s.setState(inst, redispb.Instance_READY, "")
		return nil, nil
	})
}

// UpdateInstance applies the fields named in update_mask.
func (s *Service) UpdateInstance(_ context.Context, req *redispb.UpdateInstanceRequest) (op *longrunningpb.Operation, err error) {
	const method = "UpdateInstance"
	name := req.GetInstance().GetName()
	defer s.cfg.Ops.RecordRefused(methodPrefix+method, name, &err)
	inst, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		return nil, gapi.Invalid("update_mask: required; accepted paths are %s", strings.Join(updatablePaths, ", "))
	}
	in := req.GetInstance()
	set := map[string]bool{}
	for _, p := range paths {
		n := normalizePath(p)
		ok := false
		for _, a := range updatablePaths {
			ok = ok || a == n
		}
		if !ok {
			return nil, gapi.Invalid("update_mask: path %q cannot be updated; accepted paths are %s", p, strings.Join(updatablePaths, ", "))
		}
		set[n] = true
	}
	if set["memory_size_gb"] {
		if err := validateMemory(in.GetMemorySizeGb()); err != nil {
			return nil, err
		}
	}
	if set["redis_configs"] {
		if err := validateConfigs(in.GetRedisConfigs()); err != nil {
			return nil, err
		}
	}
	if set["labels"] {
		if err := validateLabels(in.GetLabels()); err != nil {
			return nil, err
		}
	}
	if set["persistence_config"] {
		if err := validatePersistence(in.GetPersistenceConfig()); err != nil {
			return nil, err
		}
	}
	cur := s.snapshot(inst)
	cfgs, mem := cur.RedisConfigs, cur.MemorySizeGb
	if set["redis_configs"] {
		cfgs = in.GetRedisConfigs()
	}
	if set["memory_size_gb"] {
		mem = in.GetMemorySizeGb()
	}
	if err := validateMaxmemoryGB(cfgs, mem); err != nil {
		return nil, err
	}
	if err := s.claim(inst, method, redispb.Instance_READY); err != nil {
		return nil, err
	}
	return s.begin(method, inst, redispb.Instance_UPDATING, func(op *operations.Op) (proto.Message, error) {
		prev := s.snapshot(inst)
		next := s.snapshot(inst)
		next.State = redispb.Instance_READY
		if set["display_name"] {
			next.DisplayName = in.GetDisplayName()
		}
		if set["labels"] {
			next.Labels = in.GetLabels()
		}
		if set["memory_size_gb"] {
			next.MemorySizeGb = in.GetMemorySizeGb()
		}
		if set["redis_configs"] {
			next.RedisConfigs = in.GetRedisConfigs()
		}
		if set["auth_enabled"] {
			next.AuthEnabled = in.GetAuthEnabled()
		}
		if set["persistence_config"] {
			next.PersistenceConfig = persistenceWithDefaults(in.GetPersistenceConfig())
		}
		if err := s.applyConfig(context.WithoutCancel(op.Context()), inst, prev, next); err != nil {
			s.setState(inst, redispb.Instance_READY, "")
			return nil, err
		}
		s.mu.Lock()
		next.Port = inst.pb.Port
		next.Host = inst.pb.Host
		inst.pb = next
		s.mu.Unlock()
		s.persist()
		return nil, nil
	})
}

// applyConfig pushes the redis-level settings of next that differ from
// prev to the running redis-server with CONFIG SET, as Memorystore applies
// them without a restart: maxmemory, persistence, redis_configs (a key
// removed goes back to its default) and AUTH (enabling it makes a new AUTH
// string, disabling it drops the string).
func (s *Service) applyConfig(ctx context.Context, inst *instance, prev, next *redispb.Instance) error {
	s.mu.Lock()
	p := inst.proc
	s.mu.Unlock()
	if p == nil || !p.Alive() {
		return status.Errorf(codes.Unavailable, "redis-server of %s is not running", inst.name)
	}
	c := p.client()
	defer c.Close()
	sets := [][2]string{{"maxmemory", maxmemory(next)}, {"save", saveArg(next.PersistenceConfig)}}
	was, now := effectiveConfigs(prev), effectiveConfigs(next)
	keys := make([]string, 0, len(now))
	for k := range now {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if now[k] != was[k] {
			sets = append(sets, [2]string{k, now[k]})
		}
	}
	for _, kv := range sets {
		if err := c.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			return status.Errorf(codes.InvalidArgument, "redis-server refused %s=%q: %v", kv[0], kv[1], err)
		}
	}
	if prev.AuthEnabled == next.AuthEnabled {
		return nil
	}
	auth := ""
	if next.AuthEnabled {
		auth = newAuthString()
	}
	// This connection stays authenticated; new ones need the new string.
	if err := c.ConfigSet(ctx, "requirepass", auth).Err(); err != nil {
		return status.Errorf(codes.Internal, "redis-server refused the AUTH change: %v", err)
	}
	p.auth.Store(&auth)
	s.mu.Lock()
	inst.auth = auth
	s.mu.Unlock()
	return nil
}

// effectiveConfigs are the redis_configs values an instance runs with,
// defaults included.
func effectiveConfigs(pb *redispb.Instance) map[string]string {
	out := maps.Clone(configDefaults)
	maps.Copy(out, redisConfigs(pb.RedisConfigs))
	return out
}

// DeleteInstance stops the redis-server and removes its data.
func (s *Service) DeleteInstance(_ context.Context, req *redispb.DeleteInstanceRequest) (op *longrunningpb.Operation, err error) {
	const method = "DeleteInstance"
	defer s.cfg.Ops.RecordRefused(methodPrefix+method, req.GetName(), &err)
	inst, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	if err := s.claim(inst, method, redispb.Instance_READY, redispb.Instance_REPAIRING, redispb.Instance_CREATING, redispb.Instance_UPDATING); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if inst.repairTimer != nil {
		inst.repairTimer.Stop()
	}
	s.mu.Unlock()
	return s.begin(method, inst, redispb.Instance_DELETING, func(op *operations.Op) (proto.Message, error) {
		inst.launchMu.Lock()
		defer inst.launchMu.Unlock()
		s.mu.Lock()
		p := inst.proc
		s.mu.Unlock()
		if p != nil {
			p.kill()
		}
		s.closeGate(inst)
		if err := os.RemoveAll(inst.dir); err != nil {
			return nil, status.Errorf(codes.Internal, "remove data of %s: %v", inst.name, err)
		}
		s.mu.Lock()
		delete(s.instances, inst.name)
		s.mu.Unlock()
		s.persist()
		return &emptypb.Empty{}, nil
	})
}

// GetInstanceAuthString returns the instance's AUTH string: empty when AUTH
// is disabled, as the API answers.
func (s *Service) GetInstanceAuthString(_ context.Context, req *redispb.GetInstanceAuthStringRequest) (*redispb.InstanceAuthString, error) {
	inst, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return &redispb.InstanceAuthString{AuthString: inst.auth}, nil
}

// UpgradeInstance moves the instance to a newer redis_version in place: its
// redis-server saves its data and restarts behind the same address, as
// Memorystore keeps data, IP and port across an upgrade (with a short
// connection reset). A downgrade, or the current version, is refused.
func (s *Service) UpgradeInstance(_ context.Context, req *redispb.UpgradeInstanceRequest) (op *longrunningpb.Operation, err error) {
	const method = "UpgradeInstance"
	defer s.cfg.Ops.RecordRefused(methodPrefix+method, req.GetName(), &err)
	inst, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	to := req.GetRedisVersion()
	if to == "" {
		return nil, gapi.Invalid("redis_version: required; accepted values are %s", strings.Join(acceptedVersions, ", "))
	}
	if versionRank(to) < 0 {
		return nil, gapi.Invalid("redis_version: %q is not accepted; accepted values are %s", to, strings.Join(acceptedVersions, ", "))
	}
	from := s.snapshot(inst).RedisVersion
	if versionRank(to) <= versionRank(from) {
		return nil, gapi.Invalid("redis_version: the instance runs %s; it can only be upgraded to a newer version (a Memorystore instance cannot be downgraded)", from)
	}
	if err := s.claim(inst, method, redispb.Instance_READY); err != nil {
		return nil, err
	}
	return s.begin(method, inst, redispb.Instance_UPDATING, func(op *operations.Op) (proto.Message, error) {
		ctx := context.WithoutCancel(op.Context())
		old, handBack := s.takeProcess(inst)
		defer handBack()
		if old != nil {
			// SIGTERM saves the dataset; the new process loads it.
			if err := old.stop(stopTimeout); err != nil {
				s.log.Warn("redis-server stop before upgrade", "instance", inst.name, "err", err)
			}
		}
		if err := s.launch(ctx, inst); err != nil {
			s.setState(inst, redispb.Instance_REPAIRING, "restart after upgrade failed: "+err.Error())
			s.scheduleRepair(inst)
			return nil, status.Errorf(codes.Internal, "upgrade of %s: redis-server did not start again: %v", inst.name, err)
		}
		s.mu.Lock()
		inst.pb.RedisVersion = to
		inst.pb.State = redispb.Instance_READY
		inst.pb.StatusMessage = ""
		s.mu.Unlock()
		s.persist()
		return nil, nil
	})
}
