package localproc

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Environment of the processes localcloud's Cloud Run runs for relay
// instances, which Memorystore's gates read with PeerEnvWith: the marker
// that a process is one (its value identifies the instance, so that a
// restarted localcloud terminates only its own leftover processes), and its
// Direct VPC egress network (projects/P/global/networks/N, empty without
// one), compared with a Memorystore instance's authorized network.
const (
	RunInstanceEnv = "LOCALCLOUD_RUN_INSTANCE"
	VPCNetworkEnv  = "LOCALCLOUD_VPC_NETWORK"
)

// ErrPeerNotFound is returned by PeerEnv when no process on this machine
// holds the other end of the connection (it has exited, or lives in another
// network namespace).
var ErrPeerNotFound = errors.New("localproc: no local process holds the other end of the connection")

// PeerEnv finds the process at the other end of a loopback TCP connection
// accepted by this process, and returns its pid and environment. It is how
// localcloud tells which emulated resource (a Cloud Run relay instance, with
// its network in its environment) is connecting, since every process shares
// one loopback interface.
//
// Linux only: the connecting socket is looked up in /proc/net/tcp and
// /proc/net/tcp6 (local and remote addresses swapped) to get its inode, and
// the process is the one with a file descriptor on socket:[inode].
func PeerEnv(conn net.Conn) (pid int, env map[string]string, err error) {
	return PeerEnvWith(conn, "")
}

// PeerEnvWith is PeerEnv limited to the processes whose environment has
// key (any process when key is ""): ErrPeerNotFound when the peer is none
// of them. It is much cheaper than PeerEnv when few processes carry key
// (only their file descriptors are looked at), which is how a gate picks
// out the processes it cares about on every accepted connection.
func PeerEnvWith(conn net.Conn, key string) (int, map[string]string, error) {
	local, ok1 := conn.LocalAddr().(*net.TCPAddr)
	remote, ok2 := conn.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return 0, nil, fmt.Errorf("localproc: %T is not a TCP connection", conn)
	}
	return PeerEnvOf(local, remote, key)
}

// PeerEnvOf is PeerEnvWith for the connection between local (this side)
// and remote, as an HTTP handler knows them.
func PeerEnvOf(local, remote *net.TCPAddr, key string) (int, map[string]string, error) {
	// The peer's socket has the peer's address as its local address.
	// /proc/net/tcp is read only when sock_diag cannot answer: a socket it
	// does not know is in no table.
	inode, err := diagInode(remote, local)
	if err != nil && !errors.Is(err, ErrPeerNotFound) {
		inode, err = socketInode(remote, local)
	}
	if err != nil {
		return 0, nil, err
	}
	pid, err := socketOwner(inode, key)
	if err != nil {
		return 0, nil, err
	}
	env, err := Environ(pid)
	return pid, env, err
}

// Environ reads the environment a process was started with.
func Environ(pid int) (map[string]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return nil, fmt.Errorf("localproc: environment of pid %d: %w", pid, err)
	}
	env := map[string]string{}
	for kv := range bytes.SplitSeq(b, []byte{0}) {
		if k, v, ok := bytes.Cut(kv, []byte{'='}); ok && len(k) > 0 {
			env[string(k)] = string(v)
		}
	}
	return env, nil
}

// socketInode finds the inode of the TCP socket whose local address is
// local and remote address is remote.
func socketInode(local, remote *net.TCPAddr) (uint64, error) {
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		inode, err := findSocket(table, local, remote)
		if err == nil {
			return inode, nil
		}
		if !errors.Is(err, ErrPeerNotFound) && !errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
	}
	return 0, fmt.Errorf("%w (%s -> %s)", ErrPeerNotFound, local, remote)
}

func findSocket(table string, local, remote *net.TCPAddr) (uint64, error) {
	f, err := os.Open(table)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		if !addrMatches(fields[1], local) || !addrMatches(fields[2], remote) {
			continue
		}
		inode, err := strconv.ParseUint(fields[9], 10, 64)
		if err != nil || inode == 0 {
			continue
		}
		return inode, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, ErrPeerNotFound
}

// addrMatches compares a /proc/net/tcp[6] address (hex IP in the kernel's
// 32-bit words, in host byte order, then the hex port) with addr.
func addrMatches(s string, addr *net.TCPAddr) bool {
	ipHex, portHex, ok := strings.Cut(s, ":")
	if !ok {
		return false
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil || int(port) != addr.Port {
		return false
	}
	raw, err := hex.DecodeString(ipHex)
	if err != nil || len(raw)%4 != 0 {
		return false
	}
	// Each 32-bit word is printed as the little-endian machine sees it.
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	ip := net.IP(raw)
	return ip.Equal(addr.IP)
}

// socketOwner finds a process with a file descriptor on socket:[inode]:
// this process first (a connection to itself), then every other, or only
// those whose environment has key when key is set.
func socketOwner(inode uint64, key string) (int, error) {
	target := "socket:[" + strconv.FormatUint(inode, 10) + "]"
	self := os.Getpid()
	if key == "" && holds(self, target) {
		return self, nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid != self {
			pids = append(pids, pid)
		}
	}
	if key != "" {
		pids = envs.having(pids, key)
	}
	for _, pid := range pids {
		if holds(pid, target) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("%w (socket inode %d)", ErrPeerNotFound, inode)
}

// envs caches which environment keys processes were started with (an
// environment never changes once a process runs), by pid and start time.
var envs = &envCache{procs: map[int]cachedEnv{}}

type envCache struct {
	mu    sync.Mutex
	procs map[int]cachedEnv
}

type cachedEnv struct {
	start string // field 22 of /proc/pid/stat: tells a reused pid apart
	keys  map[string]bool
}

// having returns the pids, among pids, whose environment has key.
func (c *envCache) having(pids []int, key string) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := make(map[int]bool, len(pids))
	var out []int
	for _, pid := range pids {
		seen[pid] = true
		start := startTime(pid)
		e, ok := c.procs[pid]
		if !ok || e.start != start {
			env, err := Environ(pid)
			if err != nil {
				continue
			}
			e = cachedEnv{start: start, keys: make(map[string]bool, len(env))}
			for k := range env {
				e.keys[k] = true
			}
			c.procs[pid] = e
		}
		if e.keys[key] {
			out = append(out, pid)
		}
	}
	for pid := range c.procs {
		if !seen[pid] {
			delete(c.procs, pid)
		}
	}
	return out
}

// startTime is a process's start time in clock ticks since boot, as a
// string ("" if it cannot be read).
func startTime(pid int) string {
	stat, ok := LiveStat(pid)
	if !ok {
		return ""
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return ""
	}
	// Fields after the command name start at field 3 (state).
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 20 {
		return ""
	}
	return fields[19]
}

func holds(pid int, target string) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && l == target {
			return true
		}
	}
	return false
}
