// Package localcloudtest runs localcloud as a subprocess for tests.
//
//	lc := localcloudtest.Start(t)       // temp data dir, 127.0.0.1:0, stopped by t.Cleanup
//	clients := ...WithEndpoint(lc.Addr())...
//	lc.Fault(t, "redis-kill", instanceName, map[string]any{"hold": true})
//	lc.Kill()                           // SIGKILL localcloud
//	lc.Restart(t)                       // same data dir, same address when possible
//	for _, e := range lc.Oplog(t) { ... }
//
//	lc.FaultService(t, "service-kill", serviceName, map[string]any{"hold": true})
//	lc.FaultRegion(t, "region-down", "us-east1")
//	for _, svc := range lc.Services(t) { ... }  // Cloud Run services and their instances
//
// The localcloud and relay binaries are built once per test binary from
// ./cmd/localcloud and ./cmd/relay (with the go command on PATH or in
// GOROOT), unless AGENTNET_LOCALCLOUD_BIN and AGENTNET_RELAY_BIN name
// binaries to use; the relay binary is passed as --relay-binary. redis-server
// must be installed (or named by AGENTNET_REDIS_SERVER); if it is not, Start
// fails the test with a message saying what to install.
package localcloudtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/adminclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/pki"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/run"
	"github.com/agentnet/terraform-provider-agentnet/internal/processtest"
)

// Environment variables read by this package.
const (
	BinEnv   = "AGENTNET_LOCALCLOUD_BIN"
	RelayEnv = "AGENTNET_RELAY_BIN"
	RedisEnv = "AGENTNET_REDIS_SERVER"
)

const (
	pkgPath      = "github.com/agentnet/terraform-provider-agentnet/cmd/localcloud"
	relayPkgPath = "github.com/agentnet/terraform-provider-agentnet/cmd/relay"
)

// Options tune a localcloud started by StartWithOptions.
type Options struct {
	// RepairDelay is passed as --repair-delay (default 2s as in localcloud).
	RepairDelay time.Duration
	// RunReadyTimeout is passed as --run-ready-timeout (default 60s as in
	// localcloud).
	RunReadyTimeout time.Duration
	// DataDir, if set, is used instead of a new temporary directory.
	DataDir string
	// Profile is passed as --profile (default, gcp or a JSON file);
	// TimeScale as --time-scale when positive.
	Profile   string
	TimeScale float64
}

// Instance is a localcloud subprocess.
type Instance struct {
	bin     string
	relay   string
	redis   string
	opts    Options
	dataDir string
	logPath string

	mu     sync.Mutex
	addr   string
	proc   *os.Process
	exited chan struct{}
}

// OplogEntry is one entry of the operation log.
type OplogEntry = operations.LogEntry

// Start runs localcloud with a temporary data dir on 127.0.0.1:0 and waits
// until it is healthy. t.Cleanup stops it gracefully.
func Start(t testing.TB) *Instance { return StartWithOptions(t, Options{}) }

// StartWithOptions is Start with options.
func StartWithOptions(t testing.TB, opts Options) *Instance {
	t.Helper()
	processtest.Starts(t)
	redisBin, err := localcloud.FindRedisServer(os.Getenv(RedisEnv))
	if err != nil {
		t.Fatalf("localcloudtest: %v (or set %s to its path)", err, RedisEnv)
	}
	bin := Binary(t)
	relayBin := RelayBinary(t)
	logDir := t.TempDir()
	dataDir := opts.DataDir
	if dataDir == "" {
		dataDir = filepath.Join(t.TempDir(), "data")
	}
	i := &Instance{bin: bin, relay: relayBin, redis: redisBin, opts: opts, dataDir: dataDir, logPath: filepath.Join(logDir, "localcloud.log")}
	t.Cleanup(func() {
		if err := i.stop(time.Minute); err != nil {
			t.Errorf("localcloudtest: %v", err)
		}
		// After a Kill, redis-servers save and exit on their own; let them
		// finish before the data dir is removed.
		i.waitRedisGone(time.Minute)
		i.waitRelaysGone(time.Minute)
		if t.Failed() {
			t.Logf("localcloudtest: last lines of %s:\n%s", i.logPath, i.LogTail(40))
		}
	})
	if err := i.start("127.0.0.1:0"); err != nil {
		t.Fatalf("localcloudtest: %v\n%s", err, i.LogTail(40))
	}
	return i
}

var (
	buildOnce sync.Once
	builtDir  string
	buildErr  error
)

// Binary returns the localcloud binary: $AGENTNET_LOCALCLOUD_BIN, or one
// built once per test binary.
func Binary(t testing.TB) string {
	t.Helper()
	processtest.Starts(t)
	if b := os.Getenv(BinEnv); b != "" {
		if _, err := os.Stat(b); err != nil {
			t.Fatalf("localcloudtest: %s=%s: %v", BinEnv, b, err)
		}
		return b
	}
	return filepath.Join(builtBinaries(t), "localcloud")
}

// RelayBinary returns the relay binary: $AGENTNET_RELAY_BIN, or one built
// once per test binary (together with localcloud).
func RelayBinary(t testing.TB) string {
	t.Helper()
	processtest.Starts(t)
	if b := os.Getenv(RelayEnv); b != "" {
		if _, err := os.Stat(b); err != nil {
			t.Fatalf("localcloudtest: %s=%s: %v", RelayEnv, b, err)
		}
		return b
	}
	return filepath.Join(builtBinaries(t), "relay")
}

// builtBinaries builds the binaries not named by the environment, in one go
// build, and returns their folder.
func builtBinaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		var pkgs []string
		if os.Getenv(BinEnv) == "" {
			pkgs = append(pkgs, pkgPath)
		}
		if os.Getenv(RelayEnv) == "" {
			pkgs = append(pkgs, relayPkgPath)
		}
		builtDir, buildErr = build(pkgs)
	})
	if buildErr != nil {
		t.Fatalf("localcloudtest: %v", buildErr)
	}
	return builtDir
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) { //nolint:staticcheck // SA1019: only when go is not on PATH; the test binary runs where it was built
		return p
	}
	return "/usr/local/go/bin/go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func build(pkgs []string) (string, error) {
	root := filepath.Join(os.TempDir(), "agentnet-localcloudtest-"+strconv.Itoa(os.Getuid()))
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	// Remove binaries left by test processes that are gone.
	if ents, err := os.ReadDir(root); err == nil {
		for _, e := range ents {
			if pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "bin-")); err == nil && syscall.Kill(pid, 0) == syscall.ESRCH {
				os.RemoveAll(filepath.Join(root, e.Name()))
			}
		}
	}
	dir := filepath.Join(root, "bin-"+strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.Command(goTool(), append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, stderr.String())
	}
	return dir, nil
}

// start launches localcloud on listen and waits for it to be healthy.
func (i *Instance) start(listen string) error {
	logf, err := os.OpenFile(i.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"serve", "--data-dir", i.dataDir, "--listen", listen, "--redis-server", i.redis, "--relay-binary", i.relay}
	if i.opts.RepairDelay > 0 {
		args = append(args, "--repair-delay", i.opts.RepairDelay.String())
	}
	if i.opts.RunReadyTimeout > 0 {
		args = append(args, "--run-ready-timeout", i.opts.RunReadyTimeout.String())
	}
	if i.opts.Profile != "" {
		args = append(args, "--profile", i.opts.Profile)
	}
	if i.opts.TimeScale > 0 {
		args = append(args, "--time-scale", strconv.FormatFloat(i.opts.TimeScale, 'g', -1, 64))
	}
	type started struct {
		proc   *os.Process
		stdout io.Reader
		err    error
	}
	ch := make(chan started, 1)
	exited := make(chan struct{})
	go func() {
		// localcloud gets SIGTERM if the test binary dies; Pdeathsig is tied
		// to the thread that starts the child, so keep this goroutine on
		// its thread until the child has exited. Then give the thread back
		// rather than let it end with the goroutine: a thread that ends
		// delivers the Pdeathsig of every child started from it, such as
		// the OpenTofu processes (SIGKILL) of tests running in parallel.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cmd := exec.Command(i.bin, args...)
		cmd.Stderr = logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			ch <- started{err: err}
			return
		}
		if err := cmd.Start(); err != nil {
			ch <- started{err: err}
			return
		}
		ch <- started{proc: cmd.Process, stdout: stdout}
		// Its exit status says nothing its log does not: callers see
		// an early exit through exited and read the log.
		_ = cmd.Wait()
		close(exited)
	}()
	s := <-ch
	if s.err != nil {
		return fmt.Errorf("start %s: %w", i.bin, s.err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(s.stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	var addr string
	select {
	case line := <-lines:
		a, ok := strings.CutPrefix(line, "localcloud listening on ")
		if !ok {
			_ = s.proc.Kill() // our unreaped child: fails only once it has exited, which <-exited awaits
			<-exited
			return fmt.Errorf("localcloud printed %q, want \"localcloud listening on ADDR\"", line)
		}
		addr = strings.TrimSpace(a)
	case <-exited:
		return fmt.Errorf("localcloud exited before it was ready (see its log below)")
	case <-time.After(3 * time.Minute):
		_ = s.proc.Kill() // as above
		<-exited
		return fmt.Errorf("localcloud did not report its address within 3m")
	}
	i.mu.Lock()
	i.addr, i.proc, i.exited = addr, s.proc, exited
	i.mu.Unlock()
	return i.waitHealthy(30 * time.Second)
}

func (i *Instance) waitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := i.Admin()
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := client.Health(ctx)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("localcloud at %s not healthy within %s: %v", i.Addr(), timeout, last)
}

// stop sends SIGTERM and waits (SIGKILL after timeout).
func (i *Instance) stop(timeout time.Duration) error {
	i.mu.Lock()
	p, exited := i.proc, i.exited
	i.mu.Unlock()
	if p == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	// Our unreaped child: a signal fails only once it has exited, which
	// the select below sees through exited.
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-time.After(timeout):
		_ = p.Kill()
		<-exited
		return fmt.Errorf("localcloud did not stop within %s after SIGTERM; killed", timeout)
	}
}

// waitRedisGone waits until the redis-servers recorded in the state have
// exited.
func (i *Instance) waitRedisGone(timeout time.Duration) {
	b, err := os.ReadFile(filepath.Join(i.dataDir, "state", "instances.json"))
	if err != nil {
		return
	}
	var recs []struct {
		PID int `json:"pid"`
	}
	if json.Unmarshal(b, &recs) != nil {
		return
	}
	deadline := time.Now().Add(timeout)
	for _, r := range recs {
		for r.PID > 0 && processRunning(r.PID) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// waitRelaysGone waits until the relay processes recorded in the state have
// exited (after a Kill they get SIGTERM and close their connections).
func (i *Instance) waitRelaysGone(timeout time.Duration) {
	b, err := os.ReadFile(filepath.Join(i.dataDir, "state", "run-services.json"))
	if err != nil {
		return
	}
	var recs []struct {
		Instances []struct {
			PID int `json:"pid"`
		} `json:"instances"`
	}
	if json.Unmarshal(b, &recs) != nil {
		return
	}
	deadline := time.Now().Add(timeout)
	for _, r := range recs {
		for _, in := range r.Instances {
			for in.PID > 0 && processRunning(in.PID) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

// processRunning reports whether pid exists and is not a zombie.
func processRunning(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z' && stat[i+2] != 'X'
	}
	return true
}

// Addr is localcloud's host:port.
func (i *Instance) Addr() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.addr
}

// DataDir is localcloud's data directory.
func (i *Instance) DataDir() string { return i.dataDir }

// Admin is a client of localcloud's admin API (/_localcloud/...), which
// sends the token of the running localcloud.
func (i *Instance) Admin() *adminclient.Client { return adminclient.New(i.Addr(), i.dataDir) }

// FrontDoorCA is a pool trusting localcloud's front door CA (its
// <DataDir>/ca/ca.pem, also served at /_localcloud/ca.pem) and nothing
// else: what a client of an HTTPS front door trusts in tests.
func (i *Instance) FrontDoorCA(t testing.TB) *x509.CertPool {
	t.Helper()
	path := pki.CertPath(filepath.Join(i.dataDir, "ca"))
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("localcloudtest: front door CA: %v", err)
	}
	pool, err := pki.Pool(pem)
	if err != nil {
		t.Fatalf("localcloudtest: %s: %v", path, err)
	}
	return pool
}

// LogPath is the file localcloud's stderr goes to.
func (i *Instance) LogPath() string { return i.logPath }

// PID is the localcloud process id (0 if it is not running).
func (i *Instance) PID() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.proc == nil {
		return 0
	}
	select {
	case <-i.exited:
		return 0
	default:
		return i.proc.Pid
	}
}

// Kill SIGKILLs localcloud and waits for it to exit. Its redis-servers and
// relay instances get SIGTERM from the kernel; redis-servers save their data
// and exit on their own, relays close their agents with 1001 and exit.
func (i *Instance) Kill() {
	i.mu.Lock()
	p, exited := i.proc, i.exited
	i.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.Kill() // our unreaped child: fails only once it has exited, which <-exited awaits
	<-exited
}

// Stop stops localcloud gracefully (every redis-server saves).
func (i *Instance) Stop(t testing.TB) {
	t.Helper()
	if err := i.stop(time.Minute); err != nil {
		t.Fatalf("localcloudtest: %v", err)
	}
}

// Restart starts localcloud again on the same data dir (stopping it
// gracefully first if it is running), on the same address when that is
// still free, else on a new one (see Addr).
func (i *Instance) Restart(t testing.TB) {
	t.Helper()
	if err := i.stop(time.Minute); err != nil {
		t.Fatalf("localcloudtest: %v", err)
	}
	listen := i.Addr()
	deadline := time.Now().Add(5 * time.Second)
	for !localproc.AddrFree(listen) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !localproc.AddrFree(listen) {
		listen = "127.0.0.1:0"
	}
	if err := i.start(listen); err != nil {
		t.Fatalf("localcloudtest: restart: %v\n%s", err, i.LogTail(40))
	}
}

// FaultResponse is localcloud's answer to a fault.
type FaultResponse = adminclient.FaultResponse

// TryFault posts a fault and returns the HTTP status and the decoded answer.
func (i *Instance) TryFault(kind, instance string, extra map[string]any) (int, FaultResponse, error) {
	body := map[string]any{}
	if instance != "" {
		body["instance"] = instance
	}
	for k, v := range extra {
		body[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	fr, err := i.Admin().Fault(ctx, kind, body)
	var se *adminclient.StatusError
	if errors.As(err, &se) {
		return se.Code, fr, nil
	}
	if err != nil {
		return 0, fr, err
	}
	return http.StatusOK, fr, nil
}

// Fault injects a fault and fails the test unless localcloud accepts it.
// extra holds kind-specific fields such as "hold" or "fraction".
func (i *Instance) Fault(t testing.TB, kind, instance string, extra map[string]any) FaultResponse {
	t.Helper()
	code, fr, err := i.TryFault(kind, instance, extra)
	if err != nil {
		t.Fatalf("localcloudtest: fault %s on %s: %v", kind, instance, err)
	}
	if code != http.StatusOK {
		t.Fatalf("localcloudtest: fault %s on %s: HTTP %d: %s", kind, instance, code, fr.Error)
	}
	return fr
}

// Oplog returns the operation log, oldest first.
func (i *Instance) Oplog(t testing.TB) []OplogEntry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := i.Admin().Oplog(ctx)
	if err != nil {
		t.Fatalf("localcloudtest: %v", err)
	}
	return out
}

// LogTail returns the last n lines localcloud wrote to stderr.
func (i *Instance) LogTail(n int) string {
	b, err := os.ReadFile(i.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FaultService injects a fault on a Cloud Run service (service-kill,
// service-release) and fails the test unless localcloud accepts it.
func (i *Instance) FaultService(t testing.TB, kind, service string, extra map[string]any) FaultResponse {
	t.Helper()
	body := map[string]any{"service": service}
	for k, v := range extra {
		body[k] = v
	}
	return i.Fault(t, kind, "", body)
}

// FaultRegion injects a region-wide fault (region-down, region-up) and
// fails the test unless localcloud accepts it.
func (i *Instance) FaultRegion(t testing.TB, kind, region string) FaultResponse {
	t.Helper()
	return i.Fault(t, kind, "", map[string]any{"region": region})
}

// ServiceStatus is one Cloud Run service as GET /_localcloud/services
// reports it.
type ServiceStatus = run.ServiceStatus

// InstanceStatus is one instance of a Cloud Run service.
type InstanceStatus = run.InstanceStatus

// Services returns the Cloud Run services with their instances.
func (i *Instance) Services(t testing.TB) []ServiceStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := i.Admin().Services(ctx)
	if err != nil {
		t.Fatalf("localcloudtest: %v", err)
	}
	return out
}

// Service returns one Cloud Run service from Services (fails the test if
// it is not there).
func (i *Instance) Service(t testing.TB, name string) ServiceStatus {
	t.Helper()
	for _, s := range i.Services(t) {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("localcloudtest: service %s not in /_localcloud/services", name)
	return ServiceStatus{}
}
