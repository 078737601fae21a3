// Package app wires citytwin together: it opens the database (a private
// cluster when no URL is given), migrates, builds each domain's services and
// routes, and runs the HTTP server until its context ends. The citytwin
// command (main.go) only parses the subcommand and calls in here; end-to-end
// tests use the same App.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/config"
	"github.com/citytwin/citytwin/internal/httpapi"
	"github.com/citytwin/citytwin/internal/pgcluster"
	"github.com/citytwin/citytwin/spatial"
	"github.com/citytwin/citytwin/twin"
	"github.com/citytwin/citytwin/twin/feed"
)

// App is one citytwin process: its database, services and HTTP routes.
type App struct {
	Config config.Config
	Logger *slog.Logger
	// Stdout and Stderr are where commands print for people.
	Stdout, Stderr io.Writer

	Cluster  *pgcluster.Cluster // the private cluster, when one runs
	Pool     *pgxpool.Pool
	Registry *spatial.Registry
	Store    *spatial.Store
	Auth     *auth.Service
	Metrics  *prometheus.Registry
	Mux      *http.ServeMux
	// Bus carries live events between the twin's writers and the hub;
	// set by wireLive.
	Bus feed.Bus
	// Twin is the live twin's ingest side (devices, telemetry, alarms);
	// set by wireTwin.
	Twin *twin.Service

	// Ready reports extra readiness checks of domains (broker up, ...).
	readyChecks []func(context.Context) error

	// Listener is the HTTP listener once Serve has started.
	Listener net.Listener
	started  chan struct{}

	mu      sync.Mutex
	closers []func(context.Context) error
	wg      sync.WaitGroup
	cancel  context.CancelFunc
}

// New returns an App for cfg that logs to stderr.
func New(cfg config.Config, stdout, stderr io.Writer) *App {
	return &App{Config: cfg, Logger: NewLogger(cfg, stderr), Stdout: stdout, Stderr: stderr, started: make(chan struct{})}
}

// NewLogger builds the process logger from cfg.
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(cfg.LogFormat, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// OnClose registers fn to run at Close, in reverse order of registration.
func (a *App) OnClose(fn func(context.Context) error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closers = append(a.closers, fn)
}

// Go runs fn in a goroutine that Close waits for. fn must return when ctx
// (the App's run context) ends.
func (a *App) Go(fn func()) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		fn()
	}()
}

// AddReadyCheck adds a check that /readyz runs besides the database's.
func (a *App) AddReadyCheck(fn func(context.Context) error) {
	a.readyChecks = append(a.readyChecks, fn)
}

// OpenDB connects to the configured database, or starts the private cluster
// in DataDir when no URL is given, and applies pending migrations.
func (a *App) OpenDB(ctx context.Context) error {
	url := a.Config.DatabaseURL
	if url == "" {
		c := &pgcluster.Cluster{
			Dir:    filepath.Join(a.Config.DataDir, "pg"),
			Port:   a.Config.PGPort,
			Logger: a.Logger,
		}
		if err := c.Start(ctx); err != nil {
			return err
		}
		a.Cluster = c
		a.OnClose(func(context.Context) error { return c.Stop() })
		url = c.URL()
		a.Logger.Info("private PostGIS ready", "url", url)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("database URL: %w", err)
	}
	if a.Config.PoolMax > 0 {
		cfg.MaxConns = int32(a.Config.PoolMax)
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	// A pool returns before it has connected: ping so that a wrong URL fails
	// here, clearly, and not at the first request.
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return fmt.Errorf("database %s: %w", redact(url), err)
	}
	a.Pool = pool
	a.OnClose(func(context.Context) error { pool.Close(); return nil })
	applied, err := spatial.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		a.Logger.Info("migrated", "applied", applied)
	}
	a.Registry = spatial.NewRegistry()
	if err := a.Registry.LoadUserLayers(ctx, pool); err != nil {
		return err
	}
	a.Store = spatial.NewStore(pool, a.Registry)
	a.Auth = auth.NewService(pool, a.Config.PublicReads)
	return nil
}

// DatabaseURL is the URL of the database the App uses.
func (a *App) DatabaseURL() string {
	if a.Cluster != nil {
		return a.Cluster.URL()
	}
	return a.Config.DatabaseURL
}

func redact(url string) string {
	if i := strings.Index(url, "@"); i > 0 {
		if j := strings.Index(url, "://"); j > 0 && j < i {
			return url[:j+3] + "…" + url[i:]
		}
	}
	return url
}

// Build creates the metrics registry and every domain's services and routes.
// OpenDB must have run.
func (a *App) Build(ctx context.Context) error {
	a.Metrics = prometheus.NewRegistry()
	a.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.Metrics.MustRegister(newPoolCollector(a.Pool))
	a.Mux = http.NewServeMux()
	return a.wire(ctx)
}

// Handler is the App's HTTP handler with its middleware.
func (a *App) Handler() http.Handler {
	m := httpapi.NewMetrics(a.Metrics)
	return httpapi.Middleware(a.Logger, m, a.Mux, a.Auth.Middleware(a.Mux))
}

// Close stops background work and releases everything in reverse order.
func (a *App) Close() error {
	if a.cancel != nil {
		a.cancel()
	}
	a.wg.Wait()
	a.mu.Lock()
	closers := a.closers
	a.closers = nil
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// isTerminal reports whether w is a terminal (for progress bars).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Started is closed once the HTTP server listens (Listener is set).
func (a *App) Started() <-chan struct{} { return a.started }

// URL is the base URL of the running server, e.g. http://127.0.0.1:8080.
func (a *App) URL() string {
	addr := a.Listener.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return fmt.Sprintf("http://%s", net.JoinHostPort(host, fmt.Sprint(addr.Port)))
}
