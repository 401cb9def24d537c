package memorystore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gapi"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/storage"
	"github.com/agentnet/terraform-provider-agentnet/internal/redisinfo"
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

// parseGCSURI splits the gs://BUCKET/OBJECT of the request field named
// field, which is required.
func parseGCSURI(field, uri string) (bucket, object string, err error) {
	if uri == "" {
		return "", "", gapi.Invalid("%s: required, in the form gs://BUCKET/OBJECT", field)
	}
	bucket, object, err = storage.ParseURI(uri)
	if err != nil {
		return "", "", gapi.Invalid("%s: %v", field, err)
	}
	return bucket, object, nil
}

// ExportInstance saves the dataset (BGSAVE) and stores dump.rdb as the
// Cloud Storage object named by output_config.gcs_destination.uri. The
// snapshot is hard-linked into the storage folder when it can be (the
// redis-server replaces dump.rdb by renaming a new file over it, so the
// exported bytes never change), copied otherwise.
func (s *Service) ExportInstance(_ context.Context, req *redispb.ExportInstanceRequest) (op *longrunningpb.Operation, err error) {
	const method = "ExportInstance"
	defer s.cfg.Ops.RecordRefused(methodPrefix+method, req.GetName(), &err)
	inst, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	uri := req.GetOutputConfig().GetGcsDestination().GetUri()
	bucket, object, err := parseGCSURI("output_config.gcs_destination.uri", uri)
	if err != nil {
		return nil, err
	}
	if err := s.claim(inst, method, redispb.Instance_READY); err != nil {
		return nil, err
	}
	return s.begin(method, inst, redispb.Instance_STATE_UNSPECIFIED, func(op *operations.Op) (proto.Message, error) {
		if !s.cfg.Storage.BucketExists(bucket) {
			return nil, status.Errorf(codes.NotFound, "output_config.gcs_destination.uri: bucket %q of %s does not exist", bucket, uri)
		}
		s.mu.Lock()
		p := inst.proc
		s.mu.Unlock()
		if p == nil || !p.Alive() {
			return nil, status.Errorf(codes.Unavailable, "redis-server of %s is not running", inst.name)
		}
		t0 := time.Now()
		// The snapshot is digested while the BGSAVE child writes it.
		var tail *snapshotTail
		err := bgsave(op.Context(), p, func() { tail = followBGSave(inst.dir, p.Pid) })
		var known *storage.KnownDigest
		if tail != nil {
			known = tail.finish()
		}
		if err != nil {
			return nil, err
		}
		saved := time.Since(t0)
		dump := filepath.Join(inst.dir, "dump.rdb")
		// The snapshot reaches Cloud Storage after the profile's modelled
		// export time for its size; the instance serves meanwhile.
		if st, err := os.Stat(dump); err == nil {
			if _, err := s.cfg.Timing.Wait(op.Context(), profile.RedisExport, inst.name, st.Size()); err != nil {
				return nil, status.Errorf(codes.Canceled, "export of %s cancelled: %v", uri, err)
			}
		}
		t1 := time.Now()
		info, err := s.cfg.Storage.LinkFile(bucket, object, dump, "application/octet-stream", known)
		how := "link"
		if known == nil {
			how = "link, digested after the save"
		}
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

// bgsave runs BGSAVE and waits until it has completed successfully;
// started is called once redis-server has accepted the BGSAVE.
func bgsave(ctx context.Context, p *process, started func()) error {
	c := p.client()
	defer c.Close()
	info := func() (saves int64, inProgress bool, ok bool, err error) {
		s, err := c.Info(ctx, "persistence").Result()
		if err != nil {
			return 0, false, false, err
		}
		saves, _ = strconv.ParseInt(redisinfo.Field(s, "rdb_saves"), 10, 64)
		return saves, redisinfo.Field(s, "rdb_bgsave_in_progress") == "1", redisinfo.Field(s, "rdb_last_bgsave_status") == "ok", nil
	}
	fail := func(err error) error {
		if ctx.Err() != nil {
			return status.Errorf(codes.Canceled, "export cancelled: %v", ctx.Err())
		}
		return status.Errorf(codes.Unavailable, "BGSAVE on redis-server pid %d: %v", p.Pid, err)
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
	started()
	for {
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-p.Exited():
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
			return status.Errorf(codes.Internal, "BGSAVE failed on redis-server pid %d (rdb_last_bgsave_status is not ok): %s", p.Pid, logTail(p.dir))
		}
		return nil
	}
}
