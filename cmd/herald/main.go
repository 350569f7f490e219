// Command herald runs Herald: `herald serve` starts the web UI, the API and
// a worker on embedded defaults; the other subcommands run the parts
// separately or manage the installation. Wiring only: every behaviour
// lives in the domain packages.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"herald/internal/app"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"

	"herald/internal/db"
	"herald/internal/login"
	"herald/internal/settings"
)

const usage = `Herald: email campaigns with segment targeting.

Usage: herald <command> [flags]

Commands:
  serve     web UI, API and worker in one process (embedded defaults: SQLite
            file herald.db, embedded Redis, embedded SMTP capture)
            --no-worker: web only, for production with separate workers
  worker    workers only (needs HERALD_REDIS_URL)
  migrate   create or update the database tables
  import    upsert contacts from a CSV file (first line names the columns)
  demo      fill an empty database with sample contacts, events and segments
  apikey    make a new API key and print it
  passwd    set a new admin password and print it

Run "herald <command> -h" for the flags; each flag mirrors a HERALD_* variable.
`

func main() {
	gin.SetMode(gin.ReleaseMode)
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd {
	case "serve":
		err = runServe(ctx, args, os.Stdout)
	case "worker":
		err = runWorker(ctx, args, os.Stdout)
	case "migrate":
		err = runMigrate(ctx, args)
	case "import":
		err = runImport(ctx, args, os.Stdout)
	case "demo":
		err = runDemo(ctx, args, os.Stdout)
	case "apikey":
		err = runAPIKey(ctx, args, os.Stdout)
	case "passwd":
		err = runPasswd(ctx, args, os.Stdout)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "herald: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(1)
	}
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func runServe(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := parseConfig("serve", args, nil)
	if err != nil {
		return err
	}
	if cfg.NoWorker && cfg.RedisURL == "" {
		return errors.New("serve --no-worker needs HERALD_REDIS_URL: an embedded Redis lives in this process, where no worker would read it")
	}
	log := newLogger(cfg.LogLevel, os.Stderr)
	tuning, err := internalTuning()
	if err != nil {
		return err
	}
	defer startTestHooks(log)()
	if !cfg.NoWorker {
		tuneGC()
	}
	h, err := app.New(ctx, cfg, log, out, true, !cfg.NoWorker, tuning)
	if err != nil {
		return err
	}
	defer h.Close()

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	srv := newHTTPServer(h.Web.Handler())
	if h.Worker != nil {
		if err := h.Worker.Start(); err != nil {
			return err
		}
	}
	errc := make(chan error, 2)
	var msrv *http.Server
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen on %s (HERALD_METRICS_ADDR): %w", cfg.MetricsAddr, err)
		}
		msrv = &http.Server{Handler: h.Web.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute}
		go func() { errc <- msrv.Serve(mln) }()
	}
	printStart(out, h, ln.Addr().String())
	if msrv != nil {
		fmt.Fprintf(out, "  metrics:  on %s only\n", cfg.MetricsAddr)
	}
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
	}
	fmt.Fprintln(out, "Stopping…")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if msrv != nil {
		_ = msrv.Shutdown(sctx)
	}
	if h.Worker != nil {
		h.Worker.Stop()
	}
	return nil
}

func printStart(out io.Writer, a *app.App, addr string) {
	cfg := a.Config()
	fmt.Fprintf(out, "Herald is running: %s (listening on %s)\n", cfg.BaseURL, addr)
	fmt.Fprintf(out, "  database: %s\n", db.Redact(cfg.DatabaseURL))
	if a.EmbeddedRedis != nil {
		fmt.Fprintf(out, "  redis:    embedded (%s; queued tasks live in this process only)\n", a.EmbeddedRedis.Addr())
	} else {
		fmt.Fprintf(out, "  redis:    %s\n", db.Redact(cfg.RedisURL))
	}
	if a.Capture != nil {
		fmt.Fprintf(out, "  smtp:     embedded capture on %s; sent mail shows at %s/outbox\n", a.Capture.Addr(), cfg.BaseURL)
	} else if cfg.SMTPURL != "" {
		fmt.Fprintf(out, "  smtp:     %d server(s) from HERALD_SMTP_URL\n", len(cfg.SMTPURLs()))
	}
	if a.Worker == nil {
		fmt.Fprintln(out, "  worker:   not in this process (run `herald worker`)")
	}
	fmt.Fprintf(out, "Log in at %s/login as %s. Use the API with: Authorization: Bearer <API key>\n", cfg.BaseURL, cfg.AdminEmail)
}

func runWorker(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := parseConfig("worker", args, nil)
	if err != nil {
		return err
	}
	if cfg.RedisURL == "" {
		return errors.New("worker needs HERALD_REDIS_URL (use `herald serve` to run everything in one process)")
	}
	log := newLogger(cfg.LogLevel, os.Stderr)
	tuning, err := internalTuning()
	if err != nil {
		return err
	}
	defer startTestHooks(log)()
	tuneGC()
	h, err := app.New(ctx, cfg, log, out, false, true, tuning)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := h.Worker.Start(); err != nil {
		return err
	}
	fmt.Fprintf(out, "Herald worker running (concurrency %d). Stop with Ctrl-C.\n", cfg.WorkerConcurrency)
	if h.Capture != nil {
		fmt.Fprintf(out, "  smtp: embedded capture on %s\n", h.Capture.Addr())
	}
	<-ctx.Done()
	h.Worker.Stop()
	return nil
}

func runMigrate(ctx context.Context, args []string) error {
	cfg, err := parseConfig("migrate", args, nil)
	if err != nil {
		return err
	}
	g, err := db.Open(ctx, cfg.DatabaseURL, newLogger(cfg.LogLevel, os.Stderr))
	if err != nil {
		return err
	}
	if err := app.Migrate(g); err != nil {
		return err
	}
	fmt.Println("Database is up to date:", db.Redact(cfg.DatabaseURL))
	return nil
}

func openSettings(ctx context.Context, args []string, name string) (*settings.Store, *gorm.DB, *app.Config, func(), error) {
	cfg, err := parseConfig(name, args, nil)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	g, err := db.Open(ctx, cfg.DatabaseURL, newLogger(cfg.LogLevel, os.Stderr))
	if err != nil {
		return nil, nil, nil, nil, err
	}
	closeDB := func() {
		if sqlDB, err := g.DB(); err == nil {
			sqlDB.Close()
		}
	}
	if err := app.Migrate(g); err != nil {
		closeDB()
		return nil, nil, nil, nil, err
	}
	return settings.NewStore(g), g, cfg, closeDB, nil
}

func runAPIKey(ctx context.Context, args []string, out io.Writer) error {
	st, _, _, done, err := openSettings(ctx, args, "apikey")
	if err != nil {
		return err
	}
	defer done()
	key := "hk_" + app.RandomHex(20)
	sum := sha256.Sum256([]byte(key))
	if err := st.Set(ctx, settings.KeyAPIKeyHash, hex.EncodeToString(sum[:])); err != nil {
		return err
	}
	fmt.Fprintf(out, "New API key (the old one stops working within seconds): %s\n", key)
	return nil
}

func runPasswd(ctx context.Context, args []string, out io.Writer) error {
	st, g, cfg, done, err := openSettings(ctx, args, "passwd")
	if err != nil {
		return err
	}
	defer done()
	pass := app.RandomHex(8)
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	if err := st.Set(ctx, settings.KeyAdminPassword, string(h)); err != nil {
		return err
	}
	// Whoever was logged in with the old password is logged out.
	if err := login.NewSessions(g, login.DefaultTTL).EndAll(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "New admin password for %s (it applies at once; every session was logged out): %s\n", cfg.AdminEmail, pass)
	return nil
}

// newHTTPServer bounds how long a client may take: a request has a minute
// to arrive and two to be answered. Handlers that stream (the CSV import)
// move their own deadlines while data keeps flowing.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
}
