package memorystore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
	"github.com/agentnet/terraform-provider-agentnet/internal/redisinfo"
	"github.com/redis/go-redis/v9"
)

// process is one running redis-server.
type process struct {
	*localproc.Child
	port int
	dir  string
	// tls is set when the process serves TLS only; auth is its AUTH
	// string ("" without AUTH). localcloud's own clients use both.
	tls  *tls.Config
	auth atomic.Pointer[string]
}

// spawn starts redis-server, tied to the life of localcloud (see
// localproc.Start): if localcloud dies (even by SIGKILL) the child gets
// SIGTERM, saves its dataset (--shutdown-on-sigterm save) and exits.
func spawn(bin string, args []string, dir string, port int, tlsConf *tls.Config, auth string) (*process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	c, err := localproc.Start(cmd)
	if err != nil {
		return nil, err
	}
	p := &process{Child: c, port: port, dir: dir, tls: tlsConf}
	p.auth.Store(&auth)
	return p, nil
}

// stop asks redis-server to exit with SIGTERM (which saves the dataset) and
// waits; after timeout it is killed.
func (p *process) stop(timeout time.Duration) error {
	p.Expected.Store(true)
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.Exited():
		return nil
	case <-time.After(timeout):
		p.Signal(syscall.SIGKILL)
		<-p.Exited()
		return fmt.Errorf("redis-server pid %d did not exit within %s after SIGTERM and was killed", p.Pid, timeout)
	}
}

// addr is where the redis-server listens (behind the instance's gate).
func (p *process) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// shutdownNoSave asks redis-server to exit without saving its dataset
// (SHUTDOWN NOSAVE, which also stops a background save in progress and
// removes its temporary file). It does not wait for the exit: redis-server
// closes its listening port first, while the connection that asked is only
// closed when the process is gone, after its memory has been freed, which
// takes a while for a large dataset. If redis-server refuses, or the
// command cannot be delivered, the process is killed.
func (p *process) shutdownNoSave() {
	p.Expected.Store(true)
	if !p.Alive() {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := p.client()
		defer c.Close()
		// A successful SHUTDOWN has no reply: the connection just closes.
		if err := c.ShutdownNoSave(ctx).Err(); err != nil && !isConnClosed(err) && p.Alive() {
			p.Signal(syscall.SIGKILL)
		}
	}()
}

func isConnClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || strings.Contains(err.Error(), "closed") || strings.Contains(err.Error(), "EOF")
}

// configSet sets redis-server parameters (CONFIG SET name value ...).
func (p *process) configSet(ctx context.Context, nameValues ...string) error {
	c := p.client()
	defer c.Close()
	args := []any{"config", "set"}
	for _, v := range nameValues {
		args = append(args, v)
	}
	return c.Do(ctx, args...).Err()
}

// kill stops the process without saving.
func (p *process) kill() {
	p.Expected.Store(true)
	p.Signal(syscall.SIGKILL)
	<-p.Exited()
}

func (p *process) client() *redis.Client {
	return redis.NewClient(p.options())
}

// options are localcloud's client options for this very redis-server (not
// its gate), with its TLS and AUTH string.
func (p *process) options() *redis.Options {
	o := &redis.Options{
		Addr:            p.addr(),
		TLSConfig:       p.tls,
		DialTimeout:     2 * time.Second,
		ReadTimeout:     30 * time.Second,
		WriteTimeout:    30 * time.Second,
		MaxRetries:      -1,
		PoolSize:        2,
		Protocol:        2,
		DisableIdentity: true,
	}
	if a := p.auth.Load(); a != nil {
		o.Password = *a
	}
	return o
}

// waitReady waits until this very process (checked by its pid) answers PING
// and has finished loading its dataset.
func (p *process) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Poll tightly: a dataset is usable the moment it has loaded, and the
	// checks (a refused connection, or PING answered -LOADING) are cheap.
	// Until the port accepts connections it is probed directly: the
	// client's own dialing retries with pauses of 100 ms and, after a few
	// refusals, stops dialing for a second.
	opts := p.options()
	opts.DialerRetries = 1
	c := redis.NewClient(opts)
	defer c.Close()
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	var lastErr error
	listening := false
	for first := true; ; first = false {
		if !first {
			select {
			case <-p.Exited():
				return fmt.Errorf("redis-server exited before it was ready (%v): %s", p.Err(), logTail(p.dir))
			case <-ctx.Done():
				if lastErr == nil {
					lastErr = ctx.Err()
				}
				return fmt.Errorf("redis-server pid %d on port %d was not ready within %s: %v", p.Pid, p.port, timeout, lastErr)
			case <-tick.C:
			}
		}
		if !listening {
			conn, err := net.DialTimeout("tcp", opts.Addr, time.Second)
			if err != nil {
				lastErr = err
				continue
			}
			conn.Close()
			listening = true
		}
		if err := c.Ping(ctx).Err(); err != nil {
			lastErr = err
			continue
		}
		info, err := c.Info(ctx, "server", "persistence").Result()
		if err != nil {
			lastErr = err
			continue
		}
		if pid := redisinfo.Field(info, "process_id"); pid != strconv.Itoa(p.Pid) {
			lastErr = fmt.Errorf("port %d is answered by another redis-server (pid %s)", p.port, pid)
			continue
		}
		if redisinfo.Field(info, "loading") != "0" {
			lastErr = errors.New("still loading the dataset")
			continue
		}
		return nil
	}
}

// readyPoll is the pause between readiness checks of a starting
// redis-server.
const readyPoll = 3 * time.Millisecond

// logTail returns the last lines of the instance's redis.log.
func logTail(dir string) string {
	return localproc.LogTail(filepath.Join(dir, "redis.log"), "no redis.log")
}
