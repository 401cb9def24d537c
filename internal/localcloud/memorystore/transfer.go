package memorystore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/storage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func storageStatus(err error, what string) error {
	switch {
	case errors.Is(err, storage.ErrBucketNotFound), errors.Is(err, storage.ErrObjectNotFound):
		return status.Errorf(codes.NotFound, "%s: %v", what, err)
	case errors.Is(err, storage.ErrInvalidURI):
		return status.Errorf(codes.InvalidArgument, "%s: %v", what, err)
	default:
		return status.Errorf(codes.Internal, "%s: %v", what, err)
	}
}

// ExportInstance saves the dataset (BGSAVE) and uploads dump.rdb to the
// Cloud Storage object named by output_config.gcs_destination.uri.
func (s *Service) ExportInstance(_ context.Context, req *redispb.ExportInstanceRequest) (op *longrunningpb.Operation, err error) {
	const method = "ExportInstance"
	defer func() {
		if err != nil {
			s.cfg.Ops.Record(methodPrefix+method, req.GetName(), err)
		}
	}()
	inst, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	uri := req.GetOutputConfig().GetGcsDestination().GetUri()
	if uri == "" {
		return nil, invalid("output_config.gcs_destination.uri: required, in the form gs://BUCKET/OBJECT")
	}
	bucket, object, err := storage.ParseURI(uri)
	if err != nil {
		return nil, invalid("output_config.gcs_destination.uri: %v", err)
	}
	if err := s.claim(inst, method, redispb.Instance_READY); err != nil {
		return nil, err
	}
	project, region, _, _ := parseName(inst.name)
	return s.begin(fmt.Sprintf("projects/%s/locations/%s", project, region), method, "export", inst, redispb.Instance_STATE_UNSPECIFIED, func(op *operations.Op) (proto.Message, error) {
		if !s.cfg.Storage.BucketExists(bucket) {
			return nil, status.Errorf(codes.NotFound, "output_config.gcs_destination.uri: bucket %q of %s does not exist", bucket, uri)
		}
		s.mu.Lock()
		p := inst.proc
		s.mu.Unlock()
		if p == nil || !p.alive() {
			return nil, status.Errorf(codes.Unavailable, "redis-server of %s is not running", inst.name)
		}
		t0 := time.Now()
		if err := bgsave(op.Context(), p); err != nil {
			return nil, err
		}
		saved := time.Since(t0)
		f, err := os.Open(filepath.Join(inst.dir, "dump.rdb"))
		if err != nil {
			return nil, status.Errorf(codes.Internal, "open the snapshot of %s: %v", inst.name, err)
		}
		defer f.Close()
		t1 := time.Now()
		if err := s.cfg.Storage.WriteObject(bucket, object, f, "application/octet-stream"); err != nil {
			return nil, storageStatus(err, "output_config.gcs_destination.uri "+uri)
		}
		s.log.Info("exported", "instance", inst.name, "uri", uri, "bgsave", saved, "upload", time.Since(t1))
		return nil, nil
	})
}

// bgsave runs BGSAVE and waits until it has completed successfully.
func bgsave(ctx context.Context, p *process) error {
	c := p.client()
	defer c.Close()
	info := func() (saves int64, inProgress bool, ok bool, err error) {
		s, err := c.Info(ctx, "persistence").Result()
		if err != nil {
			return 0, false, false, err
		}
		saves, _ = strconv.ParseInt(infoField(s, "rdb_saves"), 10, 64)
		return saves, infoField(s, "rdb_bgsave_in_progress") == "1", infoField(s, "rdb_last_bgsave_status") == "ok", nil
	}
	fail := func(err error) error {
		if ctx.Err() != nil {
			return status.Errorf(codes.Canceled, "export cancelled: %v", ctx.Err())
		}
		return status.Errorf(codes.Unavailable, "BGSAVE on redis-server pid %d: %v", p.pid, err)
	}
	last0, err := c.LastSave(ctx).Result()
	if err != nil {
		return fail(err)
	}
	saves0, _, _, err := info()
	if err != nil {
		return fail(err)
	}
	for {
		err := c.BgSave(ctx).Err()
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "in progress") {
			return fail(err)
		}
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		saves0, _, _, _ = info()
	}
	for {
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-p.exited:
			return fail(fmt.Errorf("redis-server exited during BGSAVE"))
		case <-time.After(20 * time.Millisecond):
		}
		saves, inProgress, ok, err := info()
		if err != nil {
			return fail(err)
		}
		if inProgress || saves <= saves0 {
			continue
		}
		last, err := c.LastSave(ctx).Result()
		if err != nil {
			return fail(err)
		}
		if last < last0 {
			continue
		}
		if !ok {
			return status.Errorf(codes.Internal, "BGSAVE failed on redis-server pid %d (rdb_last_bgsave_status is not ok): %s", p.pid, logTail(p.dir))
		}
		return nil
	}
}

// rdbVersion checks the RDB header ("REDIS" + 4 digits) and returns the
// format version.
func rdbVersion(r io.Reader) (int, error) {
	var hdr [9]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, fmt.Errorf("too short for an RDB header")
	}
	if string(hdr[:5]) != "REDIS" {
		return 0, fmt.Errorf("no REDIS magic at the start")
	}
	v, err := strconv.Atoi(string(hdr[5:]))
	if err != nil {
		return 0, fmt.Errorf("RDB version %q is not a number", hdr[5:])
	}
	return v, nil
}

// ImportInstance replaces the dataset with an RDB snapshot from Cloud
// Storage. If the snapshot does not load, the previous data is put back.
func (s *Service) ImportInstance(_ context.Context, req *redispb.ImportInstanceRequest) (op *longrunningpb.Operation, err error) {
	const method = "ImportInstance"
	defer func() {
		if err != nil {
			s.cfg.Ops.Record(methodPrefix+method, req.GetName(), err)
		}
	}()
	inst, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	uri := req.GetInputConfig().GetGcsSource().GetUri()
	if uri == "" {
		return nil, invalid("input_config.gcs_source.uri: required, in the form gs://BUCKET/OBJECT")
	}
	bucket, object, err := storage.ParseURI(uri)
	if err != nil {
		return nil, invalid("input_config.gcs_source.uri: %v", err)
	}
	if err := s.claim(inst, method, redispb.Instance_READY); err != nil {
		return nil, err
	}
	project, region, _, _ := parseName(inst.name)
	return s.begin(fmt.Sprintf("projects/%s/locations/%s", project, region), method, "import", inst, redispb.Instance_STATE_UNSPECIFIED, func(op *operations.Op) (proto.Message, error) {
		return nil, s.importRDB(op.Context(), inst, bucket, object, uri)
	})
}

func (s *Service) importRDB(ctx context.Context, inst *instance, bucket, object, uri string) error {
	r, _, err := s.cfg.Storage.OpenObject(bucket, object)
	if err != nil {
		return storageStatus(err, "input_config.gcs_source.uri")
	}
	defer r.Close()
	v, herr := rdbVersion(r)
	if herr != nil {
		return status.Errorf(codes.InvalidArgument, "input_config.gcs_source.uri: %s is not a loadable RDB snapshot (%v); the instance keeps its data", uri, herr)
	}
	if v > maxRDBVersion {
		return status.Errorf(codes.FailedPrecondition, "input_config.gcs_source.uri: %s is an RDB version %d snapshot, newer than this instance's Redis supports (RDB version %d, Redis 7.0); the instance keeps its data", uri, v, maxRDBVersion)
	}
	r.Close()
	r, _, err = s.cfg.Storage.OpenObject(bucket, object)
	if err != nil {
		return storageStatus(err, "input_config.gcs_source.uri")
	}
	defer r.Close()

	dump := filepath.Join(inst.dir, "dump.rdb")
	incoming := filepath.Join(inst.dir, "dump.rdb.import")
	before := filepath.Join(inst.dir, "dump.rdb.before-import")
	if err := copyToFile(incoming, r); err != nil {
		os.Remove(incoming)
		return status.Errorf(codes.Internal, "download %s: %v", uri, err)
	}
	defer os.Remove(incoming)
	if ctx.Err() != nil {
		return status.Errorf(codes.Canceled, "import of %s cancelled before the instance was touched", uri)
	}
	// From here on the import runs to completion (or puts the previous data
	// back); cancelling it half way would leave the instance without data.
	ctx = context.WithoutCancel(ctx)

	inst.launchMu.Lock()
	defer inst.launchMu.Unlock()
	s.setState(inst, redispb.Instance_IMPORTING, "importing "+uri)
	s.mu.Lock()
	inst.opOwnsProcess = true
	p := inst.proc
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		inst.opOwnsProcess = false
		s.mu.Unlock()
	}()
	// Keep a copy of the current data: save it, stop the server.
	if p != nil && p.alive() {
		c := p.client()
		err := c.Save(ctx).Err()
		c.Close()
		if err != nil {
			s.setState(inst, redispb.Instance_READY, "")
			return status.Errorf(codes.Unavailable, "SAVE of the current data before the import failed: %v", err)
		}
		if err := p.stop(stopTimeout); err != nil {
			s.log.Warn("stop before import", "instance", inst.name, "err", err)
		}
	}
	hadBefore := false
	if _, err := os.Stat(dump); err == nil {
		if err := os.Rename(dump, before); err != nil {
			return s.recoverImport(ctx, inst, false, status.Errorf(codes.Internal, "keep the current data: %v", err))
		}
		hadBefore = true
	}
	if err := os.Rename(incoming, dump); err != nil {
		return s.recoverImport(ctx, inst, hadBefore, status.Errorf(codes.Internal, "install the snapshot: %v", err))
	}
	state.SyncDir(inst.dir)
	if err := s.launch(ctx, inst); err != nil {
		s.log.Warn("imported snapshot did not load", "instance", inst.name, "uri", uri, "err", err)
		return s.recoverImport(ctx, inst, hadBefore, status.Errorf(codes.InvalidArgument,
			"input_config.gcs_source.uri: %s is not a loadable RDB snapshot: redis-server refused it (%v); the previous data was restored and the instance keeps it", uri, err))
	}
	s.setState(inst, redispb.Instance_READY, "")
	return nil
}

// recoverImport puts the pre-import dump.rdb back and starts the server.
func (s *Service) recoverImport(ctx context.Context, inst *instance, hadBefore bool, cause error) error {
	s.mu.Lock()
	p := inst.proc
	s.mu.Unlock()
	if p != nil && p.alive() {
		p.kill()
	}
	dump := filepath.Join(inst.dir, "dump.rdb")
	before := filepath.Join(inst.dir, "dump.rdb.before-import")
	if hadBefore {
		if err := os.Rename(before, dump); err != nil {
			s.log.Error("restore data after failed import", "instance", inst.name, "err", err)
		}
	} else {
		os.Remove(dump)
	}
	state.SyncDir(inst.dir)
	if err := s.launch(context.WithoutCancel(ctx), inst); err != nil {
		s.setState(inst, redispb.Instance_REPAIRING, "restart after failed import: "+err.Error())
		s.scheduleRepair(inst)
		return status.Errorf(status.Code(cause), "%s; restarting with the previous data failed too: %v", status.Convert(cause).Message(), err)
	}
	s.setState(inst, redispb.Instance_READY, "")
	return cause
}

func copyToFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
