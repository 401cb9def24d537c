package memorystore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/storage"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// ImportInstance replaces the dataset with an RDB snapshot from Cloud
// Storage. The instance serves no client until the import is done, and an
// import that fails leaves it online but empty, as Memorystore's may.
func (s *Service) ImportInstance(_ context.Context, req *redispb.ImportInstanceRequest) (op *longrunningpb.Operation, err error) {
	const method = "ImportInstance"
	defer s.cfg.Ops.RecordRefused(methodPrefix+method, req.GetName(), &err)
	inst, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	uri := req.GetInputConfig().GetGcsSource().GetUri()
	bucket, object, err := parseGCSURI("input_config.gcs_source.uri", uri)
	if err != nil {
		return nil, err
	}
	if err := s.claim(inst, method, redispb.Instance_READY); err != nil {
		return nil, err
	}
	return s.begin(method, inst, redispb.Instance_STATE_UNSPECIFIED, func(op *operations.Op) (proto.Message, error) {
		return nil, s.importRDB(op.Context(), inst, bucket, object, uri)
	})
}

// stagingSuffix names the folder next to an instance's where an imported
// snapshot is loaded before it replaces the instance's data.
const stagingSuffix = ".import"

// importRDB replaces the instance's data with the snapshot.
//
// From the start the instance is unavailable, as Memorystore's is during an
// import: its gate closes every connection and refuses new ones until the
// import is done (clients see connection errors), and it takes the profile's
// modelled import time for the snapshot's size. The snapshot is put in a
// staging folder next to the instance's (<dir>.import: a hard link to the
// stored object, or a copy) and loaded by a redis-server of its own, on
// another port, while its checksum is verified (RDB header and version, EOF
// marker, CRC64). Once it is loaded the instance's redis-server is stopped
// without saving (its data is being replaced), the gate sends connections
// to the new one and the two folders are swapped, so that the new
// redis-server's folder (where it saves) is the instance's. The previous
// dump.rdb is kept as dump.rdb.before-import. An import that fails for any
// reason leaves the instance online and flushed (flushAfterFailedImport).
func (s *Service) importRDB(ctx context.Context, inst *instance, bucket, object, uri string) (err error) {
	t0 := time.Now()
	s.setImporting(inst, true, "importing "+uri)
	switched := false
	defer func() {
		if !switched {
			err = s.flushAfterFailedImport(inst, err)
			s.setImporting(inst, false, "")
		}
	}()
	info, err := s.cfg.Storage.StatObject(bucket, object)
	if err != nil {
		return storageStatus(err, "input_config.gcs_source.uri")
	}
	// Memorystore imports by copying the snapshot into the instance's data
	// directory: the copy is the time the profile models.
	if _, err := s.cfg.Timing.Wait(ctx, profile.RedisImport, inst.name, info.Size); err != nil {
		return status.Errorf(codes.Canceled, "import of %s cancelled", uri)
	}
	staging := inst.dir + stagingSuffix
	if err := os.RemoveAll(staging); err != nil {
		return status.Errorf(codes.Internal, "clear %s: %v", staging, err)
	}
	if err := os.Mkdir(staging, 0o755); err != nil {
		return status.Errorf(codes.Internal, "create %s: %v", staging, err)
	}
	// Until the folders are swapped, the staging folder holds the snapshot;
	// after, the instance's previous folder. Either way it goes.
	defer os.RemoveAll(staging)
	// The instance keeps its certificate authority across the swap.
	if err := copyTLS(inst.dir, staging); err != nil {
		return status.Errorf(codes.Internal, "copy the instance's certificates: %v", err)
	}
	incoming := filepath.Join(staging, "dump.rdb")
	verify, how, err := s.stageRDB(bucket, object, uri, incoming)
	if err != nil {
		return err
	}
	staged := time.Since(t0)

	// Load it while the checksum is verified.
	sp, err := s.spawnStaging(inst, staging)
	if err != nil {
		return status.Errorf(codes.Internal, "start a redis-server for %s: %v", uri, err)
	}
	loadCtx, cancelLoad := context.WithCancel(ctx)
	loadedCh := make(chan error, 1)
	go func() { loadedCh <- sp.waitReady(loadCtx, readyTimeout) }()
	sum, verr := verify()
	verified := time.Since(t0)
	if verr != nil {
		cancelLoad()
		sp.kill()
		if lerr := <-loadedCh; lerr != nil {
			s.log.Debug("import: load stopped after the snapshot failed its check", "err", lerr)
		}
		return rdbStatus(uri, verr)
	}
	lerr := <-loadedCh
	cancelLoad()
	loaded := time.Since(t0)
	if lerr == nil && ctx.Err() == nil {
		// From now on it must save on SIGTERM, as the instance's does.
		lerr = sp.configSet(ctx, "shutdown-on-sigterm", "save")
	}
	if lerr != nil || ctx.Err() != nil {
		sp.kill()
		if ctx.Err() != nil {
			return status.Errorf(codes.Canceled, "import of %s cancelled", uri)
		}
		s.log.Warn("snapshot did not load", "instance", inst.name, "uri", uri, "err", lerr)
		return status.Errorf(codes.InvalidArgument, "input_config.gcs_source.uri: %s is not a loadable RDB snapshot: redis-server did not load it (%v)", uri, lerr)
	}
	if sum.Checksum == 0 {
		s.log.Info("snapshot has no checksum; only its framing was verified", "instance", inst.name, "uri", uri)
	}
	// From here on the import runs to completion: the switch is not
	// cancelled half way.
	ctx = context.WithoutCancel(ctx)

	old, handBack := s.takeProcess(inst)
	defer handBack()
	t1 := time.Now()
	// Not persisted: a localcloud restarted in the middle brings the
	// instance back from its folder whatever the state says.
	switched = true
	// The data is being replaced: no point in saving it first.
	if old != nil {
		old.shutdownNoSave()
	}
	tStopping := time.Since(t1)
	if !sp.Alive() {
		return s.restartAfterFailedSwitch(ctx, inst, sp, status.Errorf(codes.Internal, "the redis-server that loaded %s exited: %v", uri, sp.Err()))
	}
	if err := s.swapFolders(inst, staging); err != nil {
		return s.restartAfterFailedSwitch(ctx, inst, sp, status.Errorf(codes.Internal, "install %s: %v", uri, err))
	}
	tSwapped := time.Since(t1)
	sp.dir = inst.dir
	s.mu.Lock()
	// The gate sends new connections to it from now on; the instance's
	// address does not change.
	inst.proc = sp
	inst.port = sp.port
	g := inst.gate
	s.mu.Unlock()
	if g != nil && old != nil {
		// One that raced the start of the import.
		g.Drop(old.addr())
	}
	s.setImporting(inst, false, "")
	tSwitch := time.Since(t1)
	s.log.Info("imported", "instance", inst.name, "uri", uri, "bytes", sum.Size, "rdb_version", sum.Version, "pid", sp.Pid, "port", sp.port, "took", time.Since(t0))
	s.log.Debug("import phases", "instance", inst.name, "how", how, "staged", staged, "verified", verified,
		"loaded", loaded, "switch", tSwitch, "switch_stopping", tStopping, "switch_folders", tSwapped, "total", time.Since(t0))
	return nil
}

// stageRDB puts the object's bytes at dst: a hard link to the stored
// object's file when it can ("link"), else a copy verified as it streams by
// and synced ("copy"). It refuses what is not an RDB snapshot of a loadable
// version right away; verify then checks the whole snapshot. Errors are
// gRPC statuses.
func (s *Service) stageRDB(bucket, object, uri, dst string) (verify func() (rdbSummary, error), how string, err error) {
	info, err := s.cfg.Storage.LinkObject(bucket, object, dst)
	if err == nil {
		f, err := os.Open(dst)
		if err != nil {
			return nil, "", status.Errorf(codes.Internal, "read %s: %v", uri, err)
		}
		if _, err := rdbFileHeader(f, info.Size); err != nil {
			f.Close()
			return nil, "", rdbStatus(uri, err)
		}
		return func() (rdbSummary, error) {
			defer f.Close()
			// The CPUs the snapshot's redis-server, loading it meanwhile,
			// leaves free.
			return verifyRDBFile(f, info.Size, runtime.GOMAXPROCS(0)-1)
		}, "link", nil
	}
	if !errors.Is(err, storage.ErrNotLinkable) {
		return nil, "", storageStatus(err, "input_config.gcs_source.uri")
	}
	r, _, err := s.cfg.Storage.OpenObject(bucket, object)
	if err != nil {
		return nil, "", storageStatus(err, "input_config.gcs_source.uri")
	}
	defer r.Close()
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, "", status.Errorf(codes.Internal, "download %s: %v", uri, err)
	}
	defer f.Close()
	v := newRDBStreamVerifier()
	_, err = io.Copy(io.MultiWriter(v, f), r)
	sum, verr := v.Result()
	if verr != nil {
		return nil, "", rdbStatus(uri, verr)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		return nil, "", status.Errorf(codes.Internal, "download %s: %v", uri, err)
	}
	return func() (rdbSummary, error) { return sum, nil }, "copy", nil
}

// spawnStaging starts a redis-server with the instance's settings on a free
// port, in the staging folder, loading the snapshot there. Until it takes
// over it does not save on SIGTERM (if localcloud dies meanwhile, the
// instance comes back from its own folder) and it logs to the instance's
// redis.log. It is supervised like the instance's own once it is the
// instance's process (inst.proc).
func (s *Service) spawnStaging(inst *instance, staging string) (*process, error) {
	port, err := localproc.FreePort()
	if err != nil {
		return nil, err
	}
	p, err := s.start(inst, staging, port, "--shutdown-on-sigterm", "nosave")
	if err != nil {
		return nil, err
	}
	p.dir = inst.dir // where its log is
	s.supervise(inst, p)
	return p, nil
}

// swapFolders makes the staging folder (with the imported snapshot, where
// the new redis-server works) the instance's folder, and the instance's
// previous folder the staging one, keeping its dump.rdb as
// dump.rdb.before-import. The swap is one atomic rename (RENAME_EXCHANGE)
// where the filesystem has it, three renames otherwise; a localcloud
// restarted in the middle puts the instance's folder back
// (recoverImportFolders).
func (s *Service) swapFolders(inst *instance, staging string) error {
	// One log for the instance: the new redis-server has logged to the
	// instance's redis.log by path; its folder gets the same file.
	if err := os.Link(filepath.Join(inst.dir, "redis.log"), filepath.Join(staging, "redis.log")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Debug("keep redis.log across the import", "instance", inst.name, "err", err)
	}
	prev := staging
	err := renameExchange(inst.dir, staging)
	if err != nil {
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP) {
			return err
		}
		prev = inst.dir + replacedSuffix
		os.RemoveAll(prev)
		if err := os.Rename(inst.dir, prev); err != nil {
			return err
		}
		if err := os.Rename(staging, inst.dir); err != nil {
			if rerr := os.Rename(prev, inst.dir); rerr != nil {
				// The next start puts it back (recoverImportFolders).
				s.log.Error("put the instance's folder back after a failed swap", "instance", inst.name, "err", rerr)
			}
			return err
		}
		defer os.RemoveAll(prev)
	}
	if err := os.Rename(filepath.Join(prev, "dump.rdb"), filepath.Join(inst.dir, "dump.rdb.before-import")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("keep the data from before the import", "instance", inst.name, "err", err)
	}
	// The renames are done; syncing makes them survive a power loss,
	// which localcloud does not promise: a failure is only logged.
	for _, d := range []string{inst.dir, filepath.Dir(inst.dir)} {
		if err := state.SyncDir(d); err != nil {
			s.log.Warn("sync the folder after an import", "instance", inst.name, "dir", d, "err", err)
		}
	}
	return nil
}

// renameExchange swaps two paths atomically.
var renameExchange = func(a, b string) error {
	return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
}

// replacedSuffix names the instance's previous folder during a swap
// without an atomic exchange.
const replacedSuffix = ".replaced"

// recoverImportFolders puts the instance's folder back after an import
// interrupted in the middle of a folder swap, and removes what an
// interrupted import left next to it. A folder it cannot put back stays
// where it is, with the error.
func recoverImportFolders(dir string) error {
	replaced := dir + replacedSuffix
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(replaced); err == nil {
			if err := os.Rename(replaced, dir); err != nil {
				return fmt.Errorf("put the instance's folder back from %s: %w", replaced, err)
			}
		}
	}
	os.RemoveAll(replaced)
	os.RemoveAll(dir + stagingSuffix)
	os.Remove(filepath.Join(dir, "dump.rdb.import"))
	return nil
}

// restartAfterFailedSwitch handles the unlikely failure of an import after
// the instance's redis-server was stopped: the instance is restarted empty,
// as any failed import leaves it (its last snapshot is kept as
// dump.rdb.before-import), and the error says so.
func (s *Service) restartAfterFailedSwitch(ctx context.Context, inst *instance, sp *process, cause error) error {
	sp.kill()
	keepBeforeImport(s.log, inst, true)
	s.setImporting(inst, false, "")
	msg := status.Convert(cause).Message()
	if err := s.launch(ctx, inst); err != nil {
		s.setState(inst, redispb.Instance_REPAIRING, "restart after failed import: "+err.Error())
		s.scheduleRepair(inst)
		return status.Errorf(status.Code(cause), "%s; restarting the instance with no data failed too: %v", msg, err)
	}
	return status.Errorf(status.Code(cause), "%s; %s", msg, flushedSentence)
}

// flushedSentence ends the error of a failed import.
const flushedSentence = "the instance is back online with no data: a failed import flushes it, as Memorystore's may (\"If an import fails for any reason, the instance is brought online, but the data may be fully flushed\"); import a good snapshot to restore it"

// setImporting makes the instance IMPORTING and unavailable (on), or READY
// and available again, at once: a client that reaches it is served exactly
// when it reads READY. Turning it on closes every connection the gate
// holds.
func (s *Service) setImporting(inst *instance, on bool, msg string) {
	s.mu.Lock()
	inst.importing = on
	inst.pb.State = redispb.Instance_READY
	if on {
		inst.pb.State = redispb.Instance_IMPORTING
	}
	inst.pb.StatusMessage = msg
	g := inst.gate
	s.mu.Unlock()
	s.persist()
	if on && g != nil {
		g.DropAll()
	}
}

// flushAfterFailedImport brings the instance back online without data after
// an import that failed for any reason, cancellation included: Memorystore
// documents that "If an import fails for any reason, the instance is brought
// online, but the data may be fully flushed" and that a cancelled import
// recovers "with a fully flushed cache". localcloud always flushes, so that
// nothing relies on the data surviving a failed import; the restore's own
// checks are what keep a bad snapshot from being imported. The data as last
// saved is kept as dump.rdb.before-import. An import interrupted by
// localcloud's own shutdown flushes nothing: the instance comes back from
// its folder.
func (s *Service) flushAfterFailedImport(inst *instance, cause error) error {
	s.mu.Lock()
	closing := s.closing
	p := inst.proc
	s.mu.Unlock()
	if cause == nil || closing {
		return cause
	}
	msg := status.Convert(cause).Message()
	alive := p != nil && p.Alive()
	keepBeforeImport(s.log, inst, !alive)
	var err error
	if alive {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		c := p.client()
		defer c.Close()
		// SAVE too: a restart must not bring the data back.
		if err = c.FlushAll(ctx).Err(); err == nil {
			err = c.Save(ctx).Err()
		}
	}
	if err != nil {
		return status.Errorf(status.Code(cause), "%s; flushing the instance failed: %v", msg, err)
	}
	s.log.Warn("import failed; the instance is back online with no data", "instance", inst.name, "err", msg)
	return status.Errorf(status.Code(cause), "%s; %s", msg, flushedSentence)
}

// keepBeforeImport keeps the instance's dump.rdb as dump.rdb.before-import
// (a hard link, or the file itself when remove is set, so that a
// redis-server started next finds no data).
func keepBeforeImport(log *slog.Logger, inst *instance, remove bool) {
	dump := filepath.Join(inst.dir, "dump.rdb")
	kept := dump + ".before-import"
	os.Remove(kept)
	keep := os.Link
	if remove {
		keep = os.Rename
	}
	if err := keep(dump, kept); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("keep the data from before the import", "instance", inst.name, "err", err)
		if remove {
			os.Remove(dump)
		}
	}
}

// rdbStatus turns a verification error into the answer of the import.
func rdbStatus(uri string, err error) error {
	var tooNew *rdbTooNew
	var bad *rdbError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooNew):
		return status.Errorf(codes.FailedPrecondition, "input_config.gcs_source.uri: %s is an RDB version %d snapshot, newer than this instance's Redis supports (RDB version %d, Redis 7.0)", uri, tooNew.version, maxRDBVersion)
	case errors.As(err, &bad):
		return status.Errorf(codes.InvalidArgument, "input_config.gcs_source.uri: %s is not a loadable RDB snapshot (%v)", uri, bad)
	default:
		return status.Errorf(codes.Internal, "read %s: %v", uri, err)
	}
}
