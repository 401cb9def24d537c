// Command relay is the agents' WebSocket relay.
//
//	relay [serve]                          run the relay, configured from the environment
//	relay devkeys [-dir DIR]               create (or show) the dev signing key pair
//	relay token [-dir DIR] -sub ID [-ttl]  print a dev token for agent ID
//
// See relay.ConfigFromEnv for the environment. For local use without an
// identity provider set RELAY_DEV_KEYS=DIR: the dev key pair is created there
// on first use and the relay accepts the tokens `relay token -dir DIR` prints.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/relay"
	"github.com/agentnet/terraform-provider-agentnet/internal/relay/auth"
)

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args)
	case "devkeys":
		err = devkeys(args)
	case "token":
		err = token(args)
	case "help":
		fmt.Println("usage: relay [serve | devkeys [-dir DIR] | token [-dir DIR] -sub ID [-ttl DURATION]]")
	default:
		err = fmt.Errorf("unknown command %q (serve, devkeys, token)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

func defaultDevDir() string {
	if d := os.Getenv("RELAY_DEV_KEYS"); d != "" {
		return d
	}
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "agentnet", "relay-dev")
	}
	return filepath.Join(os.TempDir(), "agentnet-relay-dev")
}

func devkeys(args []string) error {
	fs := flag.NewFlagSet("devkeys", flag.ContinueOnError)
	dir := fs.String("dir", defaultDevDir(), "folder for the dev key pair (keep it out of version control)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, err := auth.LoadOrCreateDevKeys(*dir)
	if err != nil {
		return err
	}
	fmt.Printf("JWKS_FILE=%s\nJWT_ISSUER=%s\nJWT_AUDIENCE=%s\n", d.JWKSPath(), d.Issuer, d.Audience)
	return nil
}

func token(args []string) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	dir := fs.String("dir", defaultDevDir(), "folder of the dev key pair")
	sub := fs.String("sub", "", "agent identity (token subject)")
	ttl := fs.Duration("ttl", time.Hour, "validity")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !auth.ValidIdentity(*sub) {
		return fmt.Errorf("-sub %q is not a valid agent identity", *sub)
	}
	maxTTL, err := auth.MaxLifetimeFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	if *ttl <= 0 || *ttl > maxTTL {
		return fmt.Errorf("-ttl %s: between 1s and the relay's maximum token lifetime %s (TOKEN_MAX_LIFETIME)", *ttl, maxTTL)
	}
	d, err := auth.LoadOrCreateDevKeys(*dir)
	if err != nil {
		return err
	}
	t, err := d.Token(*sub, *ttl)
	if err != nil {
		return err
	}
	fmt.Println(t)
	return nil
}

// newLogger writes JSON lines that Cloud Logging reads as structured entries.
func newLogger() *slog.Logger {
	var level slog.Level // info
	if v := os.Getenv("LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			level = slog.LevelInfo
		}
	}
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 {
				switch a.Key {
				case slog.LevelKey:
					a.Key = "severity"
				case slog.MessageKey:
					a.Key = "message"
				}
			}
			return a
		},
	}))
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger()
	getenv := os.Getenv
	if dir := os.Getenv("RELAY_DEV_KEYS"); dir != "" && os.Getenv("JWKS_URL") == "" && os.Getenv("JWKS_FILE") == "" {
		d, err := auth.LoadOrCreateDevKeys(dir)
		if err != nil {
			return err
		}
		log.Warn("using dev signing keys: not for production", "dir", dir)
		getenv = func(k string) string {
			switch k {
			case "JWKS_FILE":
				return d.JWKSPath()
			case "JWT_ISSUER":
				if v := os.Getenv(k); v != "" {
					return v
				}
				return d.Issuer
			case "JWT_AUDIENCE":
				if v := os.Getenv(k); v != "" {
					return v
				}
				return d.Audience
			}
			return os.Getenv(k)
		}
	}
	ec, err := relay.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	if addr := os.Getenv("PPROF_ADDR"); addr != "" {
		if err := servePprof(addr, log); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if ec.RedisInstance != "" {
		r, err := relay.NewMemorystoreResolver(ctx, ec.EmulatorHost)
		if err != nil {
			return err
		}
		defer r.Close()
		ec.Resolver = r
	}
	ec.Auth.Logger = log
	v, err := auth.NewVerifier(ctx, ec.Auth)
	if err != nil {
		return err
	}
	defer v.Close()
	cfg := ec.Config
	if ec.DependencyNoticeObject != "" {
		src, err := relay.NewStorageNoticeSource(ctx, ec.DependencyNoticeObject, ec.EmulatorHost)
		if err != nil {
			return err
		}
		defer src.Close()
		cfg.Notices = src
	}
	cfg.Verifier = v
	cfg.Logger = log
	s, err := relay.New(cfg)
	if err != nil {
		return err
	}
	err = s.Run(ctx)
	log.Info("stopped", "err", err)
	return err
}

// servePprof serves profiling on addr, which must be a loopback address:
// profiles show memory contents and are never served to a network.
func servePprof(addr string, log *slog.Logger) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("PPROF_ADDR %q: %w", addr, err)
	}
	if ip, err := netip.ParseAddr(host); host != "localhost" && (err != nil || !ip.IsLoopback()) {
		return fmt.Errorf("PPROF_ADDR %q: profiling is served on a loopback address only (127.0.0.1:PORT)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("PPROF_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() { log.Warn("pprof stopped", "err", http.Serve(ln, mux)) }()
	return nil
}
