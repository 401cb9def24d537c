package memorystore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/storage"
)

// snapshotTail digests the snapshot a BGSAVE child is writing while it is
// being written, so that exporting it does not read it again afterwards.
// The child writes temp-<child pid>.rdb in the instance's folder from start
// to end, then renames it to dump.rdb; a file being written only ever grows,
// and what has been read of it is final. The digest comes with the file it
// was computed from: it is only used for that very file (os.SameFile).
type snapshotTail struct {
	stop  chan struct{}
	done  chan struct{}
	known *storage.KnownDigest
}

// followBGSave starts following the snapshot of the BGSAVE child of the
// redis-server with pid parent, working in dir. Call it right after the
// BGSAVE was accepted.
func followBGSave(dir string, parent int) *snapshotTail {
	t := &snapshotTail{stop: make(chan struct{}), done: make(chan struct{})}
	go t.run(dir, parent, time.Now())
	return t
}

// finish stops following and returns the digest of the whole file, or nil.
// Call it once the BGSAVE has completed: the file is then complete.
func (t *snapshotTail) finish() *storage.KnownDigest {
	close(t.stop)
	<-t.done
	return t.known
}

func (t *snapshotTail) run(dir string, parent int, since time.Time) {
	defer close(t.done)
	var f *os.File
	for f == nil {
		if f = openChildSnapshot(dir, parent, since); f != nil {
			break
		}
		select {
		case <-t.stop:
			return
		case <-time.After(time.Millisecond):
		}
	}
	defer f.Close()
	d := storage.NewDigester()
	buf := make([]byte, 1<<20)
	stopping := false
	for {
		n, err := f.Read(buf)
		_, _ = d.Write(buf[:n]) // sums in memory: never fails
		if err == nil {
			continue
		}
		if !errors.Is(err, io.EOF) {
			return
		}
		if st, err := f.Stat(); err != nil || st.Size() < d.Digest().Size {
			return // shrank: not a snapshot being written
		}
		if stopping {
			break
		}
		select {
		case <-t.stop:
			stopping = true
		case <-time.After(2 * time.Millisecond):
		}
	}
	st, err := f.Stat()
	if err != nil {
		return
	}
	t.known = &storage.KnownDigest{File: st, Digest: d.Digest()}
}

// openChildSnapshot opens temp-<pid>.rdb in dir if pid is a child of
// parent (a BGSAVE child names its file after itself) and the file was
// created (or truncated) by it, not left over by an earlier child that had
// the same pid.
func openChildSnapshot(dir string, parent int, since time.Time) *os.File {
	names, _ := filepath.Glob(filepath.Join(dir, "temp-*.rdb"))
	for _, name := range names {
		pid, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(name), "temp-"), ".rdb"))
		if err != nil || parentOf(pid) != parent {
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		// The file's status changed when it was created or truncated:
		// that must be after the BGSAVE started (with the slack of the
		// kernel's coarse file times).
		if st, err := f.Stat(); err == nil {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok && time.Unix(sys.Ctim.Unix()).After(since.Add(-100*time.Millisecond)) {
				return f
			}
		}
		f.Close()
	}
	return nil
}

// parentOf returns the parent pid of pid, or -1.
func parentOf(pid int) int {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// pid (comm) state ppid ...
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return -1
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 2 {
		return -1
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return -1
	}
	return ppid
}
