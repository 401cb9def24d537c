package localproc

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
	"time"
)

// StopStaleRedis stops a redis-server left running by a previous localcloud
// (identified by the pid saved in the state) and waits until it has exited,
// so that it has finished saving its dataset before it is started again.
func StopStaleRedis(pid int, timeout time.Duration) (bool, error) {
	if pid <= 0 || !isRedisProcess(pid) {
		return false, nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !isRedisProcess(pid) {
			return true, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(100 * time.Millisecond)
	return true, fmt.Errorf("stale redis-server pid %d did not exit within %s after SIGTERM; killed", pid, timeout)
}

// isRedisProcess reports whether pid is a live (not zombie) redis-server.
func isRedisProcess(pid int) bool {
	stat, ok := LiveStat(pid)
	if !ok {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return bytes.Contains(cmdline, []byte("redis-server")) || bytes.Contains(stat, []byte("(redis-server)"))
}
