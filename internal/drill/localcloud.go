package drill

import (
	"bufio"
	"bytes"
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
	"strings"
	"syscall"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/admin"
)

// localcloud is a localcloud process started from bin/localcloud, and its
// admin API.
type localcloud struct {
	addr    string
	proc    *os.Process
	exited  chan struct{}
	logPath string
	keep    bool
	http    *http.Client
}

// startLocalcloud runs `localcloud serve` on a free loopback port. Unless
// keep is set, the process gets SIGTERM if the drill dies.
func startLocalcloud(bin, relayBin, redisBin, dataDir string, keep bool) (*localcloud, error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	// The admin endpoints need the token localcloud writes to its data dir.
	lc := &localcloud{logPath: filepath.Join(filepath.Dir(dataDir), "localcloud.log"), exited: make(chan struct{}),
		keep: keep, http: &http.Client{Timeout: 5 * time.Minute, Transport: &admin.Transport{DataDir: dataDir}}}
	logf, err := os.OpenFile(lc.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--relay-binary", relayBin,
		"--repair-delay", "2s", "--run-ready-timeout", "30s"}
	if redisBin != "" {
		args = append(args, "--redis-server", redisBin)
	}
	type started struct {
		proc   *os.Process
		stdout io.Reader
		err    error
	}
	ch := make(chan started, 1)
	go func() {
		// Pdeathsig follows the thread that started the child: stay on it
		// until the child has exited.
		runtime.LockOSThread()
		cmd := exec.Command(bin, args...)
		cmd.Stderr = logf
		if !keep {
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		}
		stdout, err := cmd.StdoutPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			ch <- started{err: err}
			logf.Close()
			return
		}
		ch <- started{proc: cmd.Process, stdout: stdout}
		cmd.Wait()
		logf.Close()
		close(lc.exited)
	}()
	s := <-ch
	if s.err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, s.err)
	}
	lc.proc = s.proc
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
	select {
	case line := <-lines:
		a, ok := strings.CutPrefix(line, "localcloud listening on ")
		if !ok {
			lc.stop()
			return nil, fmt.Errorf("localcloud printed %q, want \"localcloud listening on ADDR\"", line)
		}
		lc.addr = strings.TrimSpace(a)
	case <-lc.exited:
		return nil, fmt.Errorf("localcloud exited before it was ready; its log:\n%s", lc.logTail(30))
	case <-time.After(2 * time.Minute):
		lc.stop()
		return nil, fmt.Errorf("localcloud did not report its address within 2m")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var health struct{}
		if err := lc.get("/_localcloud/health", &health); err == nil {
			return lc, nil
		} else if time.Now().After(deadline) {
			lc.stop()
			return nil, fmt.Errorf("localcloud at %s not healthy within 30s: %v", lc.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits (SIGKILL after a minute).
func (lc *localcloud) stop() {
	if lc.proc == nil {
		return
	}
	select {
	case <-lc.exited:
		return
	default:
	}
	lc.proc.Signal(syscall.SIGTERM)
	select {
	case <-lc.exited:
	case <-time.After(time.Minute):
		lc.proc.Kill()
		<-lc.exited
	}
}

func (lc *localcloud) logTail(n int) string {
	b, _ := os.ReadFile(lc.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (lc *localcloud) get(path string, out any) error {
	resp, err := lc.http.Get("http://" + lc.addr + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: HTTP %d: %s", path, resp.StatusCode, bytes.TrimSpace(b))
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (lc *localcloud) post(path string, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	resp, err := lc.http.Post("http://"+lc.addr+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return raw, fmt.Errorf("POST %s: HTTP %d: %s", path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	return raw, nil
}

// fault injects a fault through POST /_localcloud/faults; fields are the
// kind-specific ones (instance, service, region, hold, ...).
func (lc *localcloud) fault(kind string, fields map[string]any) (json.RawMessage, error) {
	body := map[string]any{"kind": kind}
	for k, v := range fields {
		body[k] = v
	}
	raw, err := lc.post("/_localcloud/faults", body)
	if err != nil {
		return nil, fmt.Errorf("fault %s: %w", kind, err)
	}
	var resp struct {
		Result json.RawMessage `json:"result"`
	}
	json.Unmarshal(raw, &resp)
	return resp.Result, nil
}

// createBucket creates a Cloud Storage bucket through the JSON API.
func (lc *localcloud) createBucket(project, name string) error {
	_, err := lc.post("/storage/v1/b?project="+project, map[string]string{"name": name})
	return err
}

// redisStatus is one entry of GET /_localcloud/instances.
type redisStatus struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Port  int    `json:"port"`
	PID   int    `json:"pid"`
}

func (lc *localcloud) instances() ([]redisStatus, error) {
	var out []redisStatus
	return out, lc.get("/_localcloud/instances", &out)
}

// serviceStatus is one entry of GET /_localcloud/services.
type serviceStatus struct {
	Name       string `json:"name"`
	Region     string `json:"region"`
	URI        string `json:"uri"`
	Held       bool   `json:"held"`
	RegionDown bool   `json:"region_down"`
	Instances  []struct {
		ID    string `json:"id"`
		PID   int    `json:"pid"`
		Ready bool   `json:"ready"`
		State string `json:"state"`
	} `json:"instances"`
}

func (lc *localcloud) services() ([]serviceStatus, error) {
	var out []serviceStatus
	return out, lc.get("/_localcloud/services", &out)
}

// caPool is the CA localcloud's front doors serve certificates from
// (GET /_localcloud/ca.pem): what agents trust, as they trust a public CA
// on Google Cloud.
func (lc *localcloud) caPool() (*x509.CertPool, error) {
	resp, err := lc.http.Get("http://" + lc.addr + "/_localcloud/ca.pem")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("localcloud CA: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("localcloud CA: /_localcloud/ca.pem holds no certificate")
	}
	return pool, nil
}
