package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gapi"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ---- Services methods ----

// CreateService validates the request, opens the service URL and deploys
// the first revision.
func (s *Service) CreateService(_ context.Context, req *runpb.CreateServiceRequest) (op *longrunningpb.Operation, err error) {
	const method = "CreateService"
	id := req.GetServiceId()
	name := serviceNames.Join(req.GetParent(), id)
	defer s.cfg.Ops.RecordRefused(MethodPrefix+method, name, &err)
	project, region, err := serviceNames.CheckCreate(req.GetParent(), id)
	if err != nil {
		return nil, err
	}
	in := req.GetService()
	if in == nil {
		return nil, gapi.Invalid("service: required")
	}
	if in.GetName() != "" && in.GetName() != name {
		return nil, gapi.Invalid("service.name: %q must be empty on create (the name is parent + service_id: %q)", in.GetName(), name)
	}
	if err := validateSpec(in, id); err != nil {
		return nil, err
	}
	if s.cfg.RelayBinary == "" {
		err := s.cfg.RelayBinaryErr
		if err == nil {
			err = errors.New("no relay binary configured")
		}
		return nil, status.Errorf(codes.FailedPrecondition, "localcloud cannot run the %s image: %v", RelayImage, err)
	}
	now := timestamppb.Now()
	pb := s.spec(in)
	pb.Name = name
	pb.Uid = newUID()
	pb.Generation = 1
	pb.CreateTime = now
	pb.UpdateTime = now
	pb.Creator = "localcloud@" + project + ".iam.gserviceaccount.com"
	pb.LastModifier = pb.Creator
	pb.Etag = etagOf(pb)
	setReconciling(pb)
	port, err := localproc.FreePort()
	if err != nil {
		return nil, status.Errorf(codes.ResourceExhausted, "no free loopback port for the service URL: %v", err)
	}
	svc := &service{name: name, project: project, region: region, id: id, dir: filepath.Join(s.cfg.DataDir, project, region, id), pb: pb, urlPort: port}
	svc.revCount = 1
	pb.LatestCreatedRevision = revisionName(id, 1, pb.Template)
	pb.Uri = fmt.Sprintf("http://127.0.0.1:%d", port)
	pb.Urls = []string{pb.Uri}
	if req.GetValidateOnly() {
		return s.doneOp(req.GetParent(), method, name, pb)
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "localcloud is shutting down")
	}
	if old, ok := s.services[name]; ok && !old.deleted {
		s.mu.Unlock()
		return nil, status.Errorf(codes.AlreadyExists, "Resource '%s' already exists.", id)
	}
	s.services[name] = svc
	s.mu.Unlock()
	os.RemoveAll(svc.dir)
	if err := os.MkdirAll(svc.dir, 0o755); err != nil {
		s.mu.Lock()
		delete(s.services, name)
		s.mu.Unlock()
		return nil, status.Errorf(codes.Internal, "service folder: %v", err)
	}
	if err := s.openURL(svc); err != nil {
		s.mu.Lock()
		delete(s.services, name)
		s.mu.Unlock()
		return nil, status.Errorf(codes.ResourceExhausted, "service URL: %v", err)
	}
	s.persist()
	s.noteSidecars(name, pb.Template)
	return s.begin(req.GetParent(), method, svc, func(op *operations.Op) error {
		return s.reconcile(op.Context(), svc)
	})
}

// spec copies the user-settable fields of in, with Cloud Run's defaults.
func (s *Service) spec(in *runpb.Service) *runpb.Service {
	in = proto.CloneOf(in)
	pb := &runpb.Service{
		Description:         in.Description,
		Labels:              in.Labels,
		Annotations:         in.Annotations,
		Client:              in.Client,
		ClientVersion:       in.ClientVersion,
		Ingress:             in.Ingress,
		LaunchStage:         in.LaunchStage,
		BinaryAuthorization: in.BinaryAuthorization,
		Template:            withDefaults(in.Template),
		Traffic:             in.Traffic,
		Scaling:             in.Scaling,
		InvokerIamDisabled:  in.InvokerIamDisabled,
		DefaultUriDisabled:  in.DefaultUriDisabled,
		CustomAudiences:     in.CustomAudiences,
		IapEnabled:          in.IapEnabled,
	}
	if pb.Ingress == runpb.IngressTraffic_INGRESS_TRAFFIC_UNSPECIFIED {
		pb.Ingress = runpb.IngressTraffic_INGRESS_TRAFFIC_ALL
	}
	if pb.LaunchStage == 0 {
		pb.LaunchStage = 3 // GA
	}
	if len(pb.Traffic) == 0 {
		pb.Traffic = []*runpb.TrafficTarget{{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST, Percent: 100}}
	}
	return pb
}

// doneOp answers a validate_only request with a finished operation.
func (s *Service) doneOp(parent, method, name string, pb *runpb.Service) (*longrunningpb.Operation, error) {
	op, err := s.cfg.Ops.Begin(parent, MethodPrefix+method, name, pb)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "start operation: %v", err)
	}
	op.Finish(pb, pb, nil)
	return op.Proto(), nil
}

// begin starts an operation whose metadata and response are the Service
// and runs work in the background; the operation is done when work is.
func (s *Service) begin(parent, method string, svc *service, work func(op *operations.Op) error) (*longrunningpb.Operation, error) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "localcloud is shutting down")
	}
	s.work.Add(1)
	s.mu.Unlock()
	return s.cfg.Ops.Run(parent, MethodPrefix+method, svc.name, s.snapshot(svc), s.work.Done, func(op *operations.Op) (proto.Message, proto.Message, error) {
		err := work(op)
		snap := s.snapshot(svc)
		if err != nil {
			return nil, snap, err
		}
		return snap, snap, nil
	})
}

// GetService returns one service.
func (s *Service) GetService(_ context.Context, req *runpb.GetServiceRequest) (*runpb.Service, error) {
	svc, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	return s.snapshot(svc), nil
}

// ListServices lists the services of a region (or every region with "-"),
// newest first.
func (s *Service) ListServices(_ context.Context, req *runpb.ListServicesRequest) (*runpb.ListServicesResponse, error) {
	project, region, err := gapi.ParseParent(req.GetParent(), true)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	var all []*runpb.Service
	for _, svc := range s.services {
		if svc.deleted || svc.project != project || (region != "-" && svc.region != region) {
			continue
		}
		if region == "-" && s.cfg.Regions != nil && s.cfg.Regions.IsDown(svc.region) {
			continue
		}
		all = append(all, proto.CloneOf(svc.pb))
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i].CreateTime.AsTime(), all[j].CreateTime.AsTime()
		if !a.Equal(b) {
			return a.After(b)
		}
		return all[i].Name < all[j].Name
	})
	page, next, err := gapi.Page(all, req.GetPageToken(), req.GetPageSize(), "ListServices")
	if err != nil {
		return nil, err
	}
	return &runpb.ListServicesResponse{Services: page, NextPageToken: next}, nil
}

// updatable are the update_mask paths accepted by UpdateService.
var updatable = []string{"description", "labels", "annotations", "client", "client_version", "ingress", "launch_stage",
	"binary_authorization", "template", "traffic", "scaling", "invoker_iam_disabled", "default_uri_disabled", "custom_audiences", "iap_enabled"}

// UpdateService replaces the service's settings (all of them, or the
// top-level fields named in update_mask). A template change (or
// force_new_revision) rolls out a new revision; a change of scaling only
// adds or removes instances.
func (s *Service) UpdateService(ctx context.Context, req *runpb.UpdateServiceRequest) (op *longrunningpb.Operation, err error) {
	const method = "UpdateService"
	in := req.GetService()
	name := in.GetName()
	defer s.cfg.Ops.RecordRefused(MethodPrefix+method, name, &err)
	if in == nil {
		return nil, gapi.Invalid("service: required")
	}
	project, region, id, err := serviceNames.Parse(name)
	if err != nil {
		return nil, gapi.Invalid("service.%s", status.Convert(err).Message())
	}
	svc, err := s.lookup(name)
	if status.Code(err) == codes.NotFound && req.GetAllowMissing() {
		return s.CreateService(ctx, &runpb.CreateServiceRequest{Parent: fmt.Sprintf("projects/%s/locations/%s", project, region),
			ServiceId: id, Service: withoutName(in), ValidateOnly: req.GetValidateOnly()})
	}
	if err != nil {
		return nil, err
	}
	cur := s.snapshot(svc)
	if e := in.GetEtag(); e != "" && e != cur.Etag {
		return nil, staleEtag(e, cur.Etag)
	}
	next := proto.CloneOf(in)
	if paths := req.GetUpdateMask().GetPaths(); len(paths) > 0 {
		next = proto.CloneOf(cur)
		src := in.ProtoReflect()
		dst := next.ProtoReflect()
		for _, p := range paths {
			ok := false
			for _, u := range updatable {
				ok = ok || u == p
			}
			if !ok {
				return nil, gapi.Invalid("update_mask: path %q cannot be updated; accepted paths are %s", p, strings.Join(updatable, ", "))
			}
			f := dst.Descriptor().Fields().ByName(protoreflectName(p))
			if src.Has(f) {
				dst.Set(f, src.Get(f))
			} else {
				dst.Clear(f)
			}
		}
	}
	if err := validateSpec(next, id); err != nil {
		return nil, err
	}
	spec := s.spec(next)
	if req.GetValidateOnly() {
		merged := proto.CloneOf(cur)
		mergeSpec(merged, spec)
		return s.doneOp(fmt.Sprintf("projects/%s/locations/%s", project, region), method, name, merged)
	}
	s.mu.Lock()
	if svc.deleted {
		s.mu.Unlock()
		return nil, status.Errorf(codes.NotFound, "service %q is being deleted", name)
	}
	if svc.pb.Etag != cur.Etag {
		// Another update landed while this one was checked: what it
		// computed from cur (the fields outside update_mask) is stale.
		s.mu.Unlock()
		if e := in.GetEtag(); e != "" {
			return nil, staleEtag(e, svc.pb.Etag)
		}
		return nil, status.Errorf(codes.Aborted, "the service was changed by another request while this update was processed; read it again and retry")
	}
	newRev := req.GetForceNewRevision() || templateChanged(svc.pb.Template, spec.Template)
	if newRev && spec.Template.GetRevision() != "" && spec.Template.GetRevision() == svc.pb.LatestCreatedRevision {
		s.mu.Unlock()
		return nil, status.Errorf(codes.AlreadyExists, "template.revision: revision %q already exists; choose a new name or leave it empty", spec.Template.GetRevision())
	}
	mergeSpec(svc.pb, spec)
	svc.pb.Generation++
	svc.pb.UpdateTime = timestamppb.Now()
	svc.pb.LastModifier = "localcloud@" + project + ".iam.gserviceaccount.com"
	if newRev {
		svc.revCount++
		svc.pb.LatestCreatedRevision = revisionName(id, svc.revCount, spec.Template)
	}
	svc.pb.Etag = etagOf(svc.pb)
	setReconciling(svc.pb)
	// An update ends a held service-kill, and supersedes a reconciliation
	// still in progress (such as a rollout waiting for a revision that does
	// not become ready).
	svc.held = false
	if svc.supersede != nil {
		svc.supersede()
	}
	s.mu.Unlock()
	s.persist()
	if newRev {
		s.noteSidecars(name, spec.Template)
	}
	return s.begin(fmt.Sprintf("projects/%s/locations/%s", project, region), method, svc, func(op *operations.Op) error {
		return s.reconcile(op.Context(), svc)
	})
}

// staleEtag is the error for an update or delete carrying an etag that is
// not the service's current one: ABORTED, as Google APIs answer a stale etag
// (AIP-154).
func staleEtag(got, current string) error {
	return status.Errorf(codes.Aborted, "etag %s does not match the current etag %s: the service was changed since it was read; read it again and retry", got, current)
}

func withoutName(in *runpb.Service) *runpb.Service {
	c := proto.CloneOf(in)
	c.Name = ""
	c.Etag = ""
	return c
}

// mergeSpec copies the user-settable fields of spec into pb.
func mergeSpec(pb, spec *runpb.Service) {
	pb.Description = spec.Description
	pb.Labels = spec.Labels
	pb.Annotations = spec.Annotations
	pb.Client = spec.Client
	pb.ClientVersion = spec.ClientVersion
	pb.Ingress = spec.Ingress
	pb.LaunchStage = spec.LaunchStage
	pb.BinaryAuthorization = spec.BinaryAuthorization
	pb.Template = spec.Template
	pb.Traffic = spec.Traffic
	pb.Scaling = spec.Scaling
	pb.InvokerIamDisabled = spec.InvokerIamDisabled
	pb.DefaultUriDisabled = spec.DefaultUriDisabled
	pb.CustomAudiences = spec.CustomAudiences
	pb.IapEnabled = spec.IapEnabled
}

// DeleteService closes the service URL, stops every instance and removes
// the service.
func (s *Service) DeleteService(_ context.Context, req *runpb.DeleteServiceRequest) (op *longrunningpb.Operation, err error) {
	const method = "DeleteService"
	defer s.cfg.Ops.RecordRefused(MethodPrefix+method, req.GetName(), &err)
	svc, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	cur := s.snapshot(svc)
	if e := req.GetEtag(); e != "" && e != cur.Etag {
		return nil, staleEtag(e, cur.Etag)
	}
	parent := fmt.Sprintf("projects/%s/locations/%s", svc.project, svc.region)
	if req.GetValidateOnly() {
		return s.doneOp(parent, method, svc.name, cur)
	}
	s.mu.Lock()
	svc.pb.DeleteTime = timestamppb.Now()
	svc.pb.Reconciling = true
	s.mu.Unlock()
	return s.begin(parent, method, svc, func(op *operations.Op) error {
		s.deleteService(svc)
		return nil
	})
}

func (s *Service) deleteService(svc *service) {
	s.mu.Lock()
	svc.deleted = true
	s.mu.Unlock()
	svc.deployMu.Lock()
	defer svc.deployMu.Unlock()
	s.mu.Lock()
	f := svc.proxy
	svc.proxy = nil
	insts := svc.instances
	svc.instances = nil
	for _, inst := range insts {
		inst.retired = true
		inst.ready = false
		if inst.timer != nil {
			inst.timer.Stop()
		}
	}
	s.mu.Unlock()
	if f != nil {
		f.close()
	}
	var wg sync.WaitGroup
	for _, inst := range insts {
		s.mu.Lock()
		p := inst.proc
		s.mu.Unlock()
		if p != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.stopInstance(p, inst.id)
			}()
		}
	}
	wg.Wait()
	s.mu.Lock()
	delete(s.services, svc.name)
	s.mu.Unlock()
	os.RemoveAll(svc.dir)
	s.persist()
}
