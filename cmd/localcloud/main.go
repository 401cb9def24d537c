// Command localcloud runs the local emulator of the Google Cloud APIs the
// agentnet provider uses, and injects faults into a running one.
//
//	localcloud serve --data-dir DIR [--listen 127.0.0.1:8790] [--allow-non-loopback] [--redis-server PATH] [--relay-binary PATH] [--repair-delay 2s] [--run-ready-timeout 60s]
//	localcloud fault redis-kill --instance NAME [--hold] [--host HOST:PORT] [--data-dir DIR]
//	localcloud fault redis-release --instance NAME [--host HOST:PORT] [--data-dir DIR]
//	localcloud fault redis-corrupt --instance NAME [--fraction 0.5] [--host HOST:PORT] [--data-dir DIR]
//	localcloud fault service-kill --service NAME [--hold] [--host HOST:PORT] [--data-dir DIR]
//	localcloud fault service-release --service NAME [--host HOST:PORT] [--data-dir DIR]
//	localcloud fault region-down --region REGION [--api unavailable|hang] [--host HOST:PORT] [--data-dir DIR]
//	localcloud fault region-up --region REGION [--host HOST:PORT] [--data-dir DIR]
//	localcloud fault cluster-primary-kill --cluster NAME [--shard N] [--hold] [--host HOST:PORT] [--data-dir DIR]
//	localcloud fault cluster-shard-kill --cluster NAME [--shard N] [--hold] [--host HOST:PORT] [--data-dir DIR]
//	localcloud fault cluster-release --cluster NAME [--host HOST:PORT] [--data-dir DIR]
//	localcloud edit CHANGE ARGS... [--host HOST:PORT] [--data-dir DIR]   (out-of-band changes through the APIs; see edit.go)
//	localcloud services [--host HOST:PORT] [--data-dir DIR]
//	localcloud oplog [--host HOST:PORT] [--data-dir DIR]
//	localcloud health [--host HOST:PORT] [--data-dir DIR]
//
// serve prints "localcloud listening on ADDR" once ready and writes ADDR to
// DIR/localcloud.addr; SIGTERM or SIGINT stops it gracefully (every
// redis-server saves its data). The other commands talk to --host, which
// defaults to $AGENTNET_EMULATOR_HOST, else 127.0.0.1:8790; those using the
// admin endpoints send the token of DIR/localcloud.token (--data-dir, default
// $LOCALCLOUD_DATA_DIR), or $LOCALCLOUD_TOKEN.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/admin"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/adminclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
	goredis "github.com/redis/go-redis/v9"
)

const usage = `usage:
  localcloud serve --data-dir DIR [--listen 127.0.0.1:8790] [--allow-non-loopback] [--redis-server PATH]
                   [--relay-binary PATH] [--repair-delay 2s] [--run-ready-timeout 60s] [--log-level info]
  localcloud fault KIND [--instance NAME] [--service NAME] [--cluster NAME] [--shard N] [--region REGION] [--hold] [--fraction F] [--api MODE] [--host HOST:PORT] [--data-dir DIR]
      kinds: redis-kill (--hold keeps it down), redis-release, redis-corrupt (--fraction, default 0.5),
             service-kill (--hold keeps it down), service-release,
             region-down (--api unavailable: its APIs answer UNAVAILABLE, the default; --api hang: they never answer), region-up,
             cluster-primary-kill (--shard N, default 0: its replica is promoted; --hold keeps the node down),
             cluster-shard-kill (--shard N: every node of the shard; --hold), cluster-release
      --instance, --service and --cluster take a full name or, when unique, its last part.
  localcloud edit CHANGE ARGS... [--host HOST:PORT] [--data-dir DIR]: out-of-band changes through the Google Cloud APIs
` + editUsage + `
  localcloud services [--host HOST:PORT] [--data-dir DIR]
  localcloud oplog [--host HOST:PORT] [--data-dir DIR]
  localcloud health [--host HOST:PORT] [--data-dir DIR]

--host defaults to $AGENTNET_EMULATOR_HOST, else 127.0.0.1:8790. fault, edit, services, oplog and
health use the admin endpoints, which need the token localcloud writes at each start to
DIR/localcloud.token: --data-dir DIR (default $LOCALCLOUD_DATA_DIR) is the --data-dir of
localcloud serve; $LOCALCLOUD_TOKEN, if set, is the token itself.
`

// usageError is an error caused by the command line (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(0)
	}
	fmt.Fprintln(os.Stderr, "localcloud:", err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprint(os.Stderr, "\n"+usage)
		os.Exit(2)
	}
	os.Exit(1)
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("a command is required: serve, fault, edit, services, oplog or health")
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "fault":
		return fault(args[1:], stdout)
	case "edit":
		return edit(args[1:], stdout)
	case "oplog":
		return get(args[1:], "oplog", stdout)
	case "services":
		return get(args[1:], "services", stdout)
	case "health":
		return get(args[1:], "health", stdout)
	case "kms":
		return kmsCommand(args[1:], stdout)
	case "help", "-h", "--help", "-help":
		return flag.ErrHelp
	default:
		return usagef("unknown command %q; accepted commands are serve, fault, edit, services, oplog, health", args[0])
	}
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("localcloud "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	return nil
}

func serve(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve")
	dataDir := fs.String("data-dir", "", "directory for all state (required)")
	listen := fs.String("listen", localcloud.DefaultListen, "host:port to listen on (loopback only unless --allow-non-loopback); port 0 picks a free port")
	allow := fs.Bool("allow-non-loopback", false, "allow a listen address that is not loopback")
	redisPath := fs.String("redis-server", "", "path of the redis-server binary (default: from PATH)")
	relayPath := fs.String("relay-binary", "", "relay binary that runs the agentnet-relay image of Cloud Run services (default: relay next to localcloud, then from PATH)")
	readyTimeout := fs.Duration("run-ready-timeout", time.Minute, "how long a Cloud Run instance may take to become ready before its revision fails")
	repair := fs.Duration("repair-delay", 2*time.Second, "how long a crashed redis-server or relay instance stays down before it is restarted")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	profileName := fs.String("profile", "default", "timing modelled: default (every change live at once), gcp (Google Cloud's delays, each cited in docs/gcp-fidelity.md) or the path of a JSON profile file")
	timeScale := fs.Float64("time-scale", 0, "divide every modelled delay actually slept by this factor (e.g. 20: a modelled 5 minutes takes 15 s); default: the profile's")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve: unexpected argument %q", fs.Arg(0))
	}
	if *dataDir == "" {
		return usagef("serve: --data-dir is required")
	}
	if *readyTimeout <= 0 {
		return usagef("serve: --run-ready-timeout must be a positive duration such as 60s, got %s", *readyTimeout)
	}
	if *repair <= 0 {
		return usagef("serve: --repair-delay must be a positive duration such as 2s, got %s", *repair)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return usagef("serve: --log-level %q: accepted values are debug, info, warn, error", *level)
	}
	prof, err := profile.Load(*profileName, *timeScale)
	if err != nil {
		return usagef("serve: --profile/--time-scale: %v", err)
	}
	if err := localcloud.CheckListen(*listen, *allow); err != nil {
		return usagef("serve: --listen: %v", err)
	}
	if _, err := localcloud.FindRedisServer(*redisPath); err != nil {
		return err
	}
	if *relayPath != "" {
		if _, err := localcloud.FindRelayBinary(*relayPath); err != nil {
			return err
		}
	}
	addrFile := filepath.Join(*dataDir, "localcloud.addr")
	os.Remove(addrFile)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	// go-redis reports every refused dial while a redis-server is starting;
	// keep those at debug level.
	goredis.SetLogger(redisLogger{logger})
	srv, err := localcloud.Start(ctx, localcloud.Config{
		DataDir:          *dataDir,
		Listen:           *listen,
		AllowNonLoopback: *allow,
		RedisServerPath:  *redisPath,
		Logger:           logger,
		RepairDelay:      *repair,
		RelayBinary:      *relayPath,
		RunReadyTimeout:  *readyTimeout,
		Profile:          prof,
	})
	if err != nil {
		return err
	}
	if err := state.WriteFileAtomic(addrFile, []byte(srv.Addr()+"\n"), 0o644); err != nil {
		srv.Close()
		return fmt.Errorf("write %s: %w", addrFile, err)
	}
	fmt.Fprintf(stdout, "localcloud listening on %s\n", srv.Addr())
	// What clients of the HTTPS front doors trust.
	fmt.Fprintf(stdout, "front door CA: %s (also http://%s/_localcloud/ca.pem)\n", srv.FrontDoorCAPath(), srv.Addr())
	fmt.Fprintf(stdout, "admin token: %s (localcloud fault|services|oplog|health --data-dir %s)\n", admin.TokenPath(srv.DataDir()), srv.DataDir())
	<-ctx.Done()
	stop()
	logger.Info("signal received; saving every instance and stopping")
	err = srv.Close()
	os.Remove(addrFile)
	return err
}

func defaultHost() string {
	if h := os.Getenv("AGENTNET_EMULATOR_HOST"); h != "" {
		return h
	}
	return localcloud.DefaultListen
}

func fault(args []string, stdout io.Writer) error {
	fs := newFlagSet("fault")
	af := addAdminFlags(fs)
	instance := fs.String("instance", "", "instance name projects/{project}/locations/{region}/instances/{id}, or {id} when unique")
	service := fs.String("service", "", "Cloud Run service name projects/{project}/locations/{region}/services/{id}, or {id} when unique")
	cluster := fs.String("cluster", "", "Memorystore for Redis Cluster name projects/{project}/locations/{region}/clusters/{id}, or {id} when unique")
	shard := fs.Int("shard", 0, "cluster-primary-kill, cluster-shard-kill: the shard, 0 to shard_count-1 (by slot range, as formed)")
	region := fs.String("region", "", "region, for region-wide faults (region-down, region-up)")
	hold := fs.Bool("hold", false, "redis-kill, service-kill, cluster-*-kill: keep it down until redis-release / service-release / cluster-release")
	fraction := fs.Float64("fraction", 0, "redis-corrupt: fraction of keys to damage, in (0, 1] (default 0.5)")
	api := fs.String("api", "", "region-down: how the region's APIs fail, unavailable (default: answer UNAVAILABLE) or hang (never answer)")
	var params multiFlag
	fs.Var(&params, "param", "extra KEY=VALUE parameter (VALUE is JSON if it parses, else a string); repeatable")
	var kind string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		kind, args = args[0], args[1:]
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if kind == "" && len(rest) > 0 {
		kind, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		return usagef("fault: unexpected argument %q", rest[0])
	}
	if kind == "" {
		return usagef("fault: KIND is required (redis-kill, redis-release, redis-corrupt, service-kill, service-release, region-down, region-up, cluster-primary-kill, cluster-shard-kill, cluster-release)")
	}
	lc, err := af.client()
	if err != nil {
		return err
	}
	body := map[string]any{"kind": kind}
	if *instance != "" {
		name, err := (&editor{admin: lc}).instance(*instance)
		if err != nil {
			return err
		}
		body["instance"] = name
	}
	if *service != "" {
		name, err := (&editor{admin: lc}).service(*service)
		if err != nil {
			return err
		}
		body["service"] = name
	}
	if *cluster != "" {
		name, err := (&editor{admin: lc}).cluster(*cluster)
		if err != nil {
			return err
		}
		body["cluster"] = name
		body["shard"] = *shard
	}
	if *region != "" {
		body["region"] = *region
	}
	if *hold {
		body["hold"] = true
	}
	if *fraction != 0 {
		body["fraction"] = *fraction
	}
	if *api != "" {
		body["api"] = *api
	}
	for _, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return usagef("fault: --param %q must be KEY=VALUE", p)
		}
		var j any
		if json.Unmarshal([]byte(v), &j) == nil {
			body[k] = j
		} else {
			body[k] = v
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := lc.Do(ctx, http.MethodPost, "faults", body)
	var se *adminclient.StatusError
	if errors.As(err, &se) {
		return fmt.Errorf("fault %s refused (%s): %s", kind, se.Status, se.Message)
	}
	if err != nil {
		return lc.hint(err)
	}
	stdout.Write(out)
	return nil
}

func get(args []string, what string, stdout io.Writer) error {
	fs := newFlagSet(what)
	af := addAdminFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", what, fs.Arg(0))
	}
	api, err := af.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := api.Do(ctx, http.MethodGet, what, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, api.hint(err))
	}
	stdout.Write(out)
	return nil
}

type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.Debug("go-redis: " + fmt.Sprintf(format, v...))
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
