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

// ExportInstance saves the dataset (BGSAVE) and stores dump.rdb as the
// Cloud Storage object named by output_config.gcs_destination.uri. The
// snapshot is hard-linked into the storage folder when it can be (the
// redis-server replaces dump.rdb by renaming a new file over it, so the
// exported bytes never change), copied otherwise.
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
		t1 := time.Now()
		dump := filepath.Join(inst.dir, "dump.rdb")
		info, err := s.cfg.Storage.LinkFile(bucket, object, dump, "application/octet-stream")
		how := "link"
		if errors.Is(err, storage.ErrBucketNotFound) {
			return nil, storageStatus(err, "output_config.gcs_destination.uri "+uri)
		}
		if err != nil {
			s.log.Warn("storing the snapshot directly failed; uploading it instead", "instance", inst.name, "uri", uri, "err", err)
			how = "upload"
			if err := s.cfg.Storage.WriteFile(bucket, object, dump, "application/octet-stream"); err != nil {
				return nil, storageStatus(err, "output_config.gcs_destination.uri "+uri)
			}
			info, _ = s.cfg.Storage.StatObject(bucket, object)
		}
		stored := time.Since(t1)
		s.log.Info("exported", "instance", inst.name, "uri", uri, "bytes", info.Size, "generation", info.Generation, "took", time.Since(t0))
		s.log.Debug("export phases", "instance", inst.name, "bgsave", saved, "store", stored, "how", how)
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
		case <-time.After(5 * time.Millisecond):
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

// importRDB installs the snapshot and restarts the instance on it. The
// snapshot is taken (hard-linked from the storage folder, or copied) and
// verified completely (RDB header and version, EOF marker, CRC64) before the
// instance is touched: a snapshot that is refused leaves the instance
// running as it was. Once verified, the running redis-server is stopped
// without saving (its data is being replaced) and started on the snapshot.
// Should it still not load, the instance is restarted from its last
// snapshot on disk (dump.rdb as it was before the import) and the error
// says so.
func (s *Service) importRDB(ctx context.Context, inst *instance, bucket, object, uri string) error {
	t0 := time.Now()
	dump := filepath.Join(inst.dir, "dump.rdb")
	incoming := filepath.Join(inst.dir, "dump.rdb.import")
	before := filepath.Join(inst.dir, "dump.rdb.before-import")
	os.Remove(incoming)
	defer os.Remove(incoming)
	sum, how, err := s.fetchRDB(bucket, object, uri, incoming)
	if err != nil {
		return err
	}
	verified := time.Since(t0)
	if sum.Checksum == 0 {
		s.log.Info("snapshot has no checksum; only its framing was verified", "instance", inst.name, "uri", uri)
	}
	if ctx.Err() != nil {
		return status.Errorf(codes.Canceled, "import of %s cancelled before the instance was touched", uri)
	}
	// From here on the import runs to completion (or restarts the instance
	// from its last snapshot); cancelling it half way would leave the
	// instance without data.
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
	t1 := time.Now()
	// The data is being replaced: no point in saving it first.
	if p != nil && p.alive() {
		if err := p.shutdownNoSave(stopTimeout); err != nil {
			s.log.Warn("stop before import", "instance", inst.name, "err", err)
		}
	}
	stopped := time.Since(t1)
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
	// The snapshot's bytes are on disk already (a link to the stored
	// object, or a copy synced by fetchRDB): only the renames need syncing.
	state.SyncDir(inst.dir)
	t2 := time.Now()
	if err := s.launch(ctx, inst); err != nil {
		s.log.Warn("imported snapshot did not load", "instance", inst.name, "uri", uri, "err", err)
		return s.recoverImport(ctx, inst, hadBefore, status.Errorf(codes.InvalidArgument,
			"input_config.gcs_source.uri: %s is not a loadable RDB snapshot: it passed verification, but redis-server did not load it (%v)", uri, err))
	}
	loaded := time.Since(t2)
	s.setState(inst, redispb.Instance_READY, "")
	s.log.Info("imported", "instance", inst.name, "uri", uri, "bytes", sum.Size, "rdb_version", sum.Version, "took", time.Since(t0))
	s.log.Debug("import phases", "instance", inst.name, "fetch_and_verify", verified, "how", how,
		"stop", stopped, "load", loaded, "total", time.Since(t0))
	return nil
}

// fetchRDB puts the object's bytes at dst and verifies them as an RDB
// snapshot. It hard-links the object's file when it can ("link"), else it
// copies the object, verifying it as it streams by, and syncs the copy
// ("copy"). Errors are gRPC statuses that say the instance was not touched.
func (s *Service) fetchRDB(bucket, object, uri, dst string) (rdbSummary, string, error) {
	info, err := s.cfg.Storage.LinkObject(bucket, object, dst)
	if err == nil {
		f, err := os.Open(dst)
		if err != nil {
			return rdbSummary{}, "", status.Errorf(codes.Internal, "read %s: %v", uri, err)
		}
		defer f.Close()
		sum, err := verifyRDBFile(f, info.Size)
		return sum, "link", rdbStatus(uri, sum, err)
	}
	if !errors.Is(err, storage.ErrNotLinkable) {
		return rdbSummary{}, "", storageStatus(err, "input_config.gcs_source.uri")
	}
	r, _, err := s.cfg.Storage.OpenObject(bucket, object)
	if err != nil {
		return rdbSummary{}, "", storageStatus(err, "input_config.gcs_source.uri")
	}
	defer r.Close()
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return rdbSummary{}, "", status.Errorf(codes.Internal, "download %s: %v", uri, err)
	}
	defer f.Close()
	v := newRDBStreamVerifier()
	_, err = io.Copy(io.MultiWriter(v, f), r)
	if sum, verr := v.Result(); verr != nil {
		return sum, "copy", rdbStatus(uri, sum, verr)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		return rdbSummary{}, "copy", status.Errorf(codes.Internal, "download %s: %v", uri, err)
	}
	sum, _ := v.Result()
	return sum, "copy", nil
}

// rdbStatus turns a verification error into the answer of the import.
func rdbStatus(uri string, sum rdbSummary, err error) error {
	var tooNew *rdbTooNew
	var bad *rdbError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooNew):
		return status.Errorf(codes.FailedPrecondition, "input_config.gcs_source.uri: %s is an RDB version %d snapshot, newer than this instance's Redis supports (RDB version %d, Redis 7.0); the instance was not touched and keeps its data", uri, tooNew.version, maxRDBVersion)
	case errors.As(err, &bad):
		return status.Errorf(codes.InvalidArgument, "input_config.gcs_source.uri: %s is not a loadable RDB snapshot (%v); the instance was not touched and keeps its data", uri, bad)
	default:
		return status.Errorf(codes.Internal, "read %s: %v", uri, err)
	}
}

// recoverImport puts the pre-import dump.rdb back and starts the server on
// it; the error says which data the instance came back with.
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
	data := "no data (it had no snapshot on disk)"
	if st, err := os.Stat(dump); err == nil {
		data = fmt.Sprintf("its last snapshot on disk, saved at %s (%d bytes): writes made after that save are lost", st.ModTime().UTC().Format(time.RFC3339), st.Size())
	}
	msg := status.Convert(cause).Message()
	if err := s.launch(context.WithoutCancel(ctx), inst); err != nil {
		s.setState(inst, redispb.Instance_REPAIRING, "restart after failed import: "+err.Error())
		s.scheduleRepair(inst)
		return status.Errorf(status.Code(cause), "%s; restarting the instance with %s failed too: %v", msg, data, err)
	}
	s.setState(inst, redispb.Instance_READY, "")
	return status.Errorf(status.Code(cause), "%s; the instance was restarted with %s", msg, data)
}
