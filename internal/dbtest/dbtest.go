// Package dbtest gives tests a real, freshly migrated PostGIS database.
//
// With CITYTWIN_TEST_DATABASE_URL set (a role that may create databases), it
// creates the databases there. Otherwise it starts — or joins, across the
// test binaries that `go test ./...` runs at once — the project's private
// test cluster in .citytwin/test-pg at the module root (scripts/test.sh stops
// it afterwards). Each test gets its own database cloned from a template that
// holds PostGIS and the current migrations, and dropped when the test ends.
//
// A database that cannot be had fails the test: it never skips.
package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/citytwin/citytwin/internal/pgcluster"
	"github.com/citytwin/citytwin/spatial"
)

var (
	serverOnce sync.Once
	serverURL  string // admin URL: any database on the server
	serverErr  error
	templateMu sync.Mutex
	templates  = map[string]bool{}
)

// ModuleRoot returns the folder holding go.mod, walking up from the working
// directory (a package's folder under go test).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("dbtest: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// ServerURL returns a URL for the test server's "postgres" database, starting
// the private test cluster if needed.
func ServerURL(tb testing.TB) string {
	tb.Helper()
	serverOnce.Do(func() {
		if u := os.Getenv("CITYTWIN_TEST_DATABASE_URL"); u != "" {
			serverURL = u
			return
		}
		root, err := ModuleRoot()
		if err != nil {
			serverErr = err
			return
		}
		c := &pgcluster.Cluster{
			Dir:    filepath.Join(root, ".citytwin", "test-pg"),
			Fast:   true,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := c.Start(ctx); err != nil {
			serverErr = err
			return
		}
		serverURL = c.URLFor("postgres")
	})
	if serverErr != nil {
		tb.Fatalf("dbtest: no PostGIS for tests (run scripts/install-deps.sh, or set CITYTWIN_TEST_DATABASE_URL): %v", serverErr)
	}
	return serverURL
}

// withDatabase returns u with its database name replaced by db.
func withDatabase(u, db string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.Path = "/" + db
	return p.String()
}

func migrationsSum() string {
	h := sha256.New()
	for _, m := range spatial.Migrations() {
		h.Write([]byte(m.Version + m.Sum))
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// ensureTemplate creates the template database for the current migrations
// once per server (under an advisory lock, so concurrent test binaries build
// it once).
func ensureTemplate(ctx context.Context, admin *pgx.Conn) (string, error) {
	name := "ct_template_" + migrationsSum()
	templateMu.Lock()
	defer templateMu.Unlock()
	if templates[name] {
		return name, nil
	}
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock(7474747)`); err != nil {
		return "", err
	}
	defer admin.Exec(context.Background(), `SELECT pg_advisory_unlock(7474747)`) //nolint:errcheck
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		build := name + "_build"
		_, _ = admin.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{build}.Sanitize()+` WITH (FORCE)`)
		if _, err := admin.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{build}.Sanitize()); err != nil {
			return "", err
		}
		pool, err := pgxpool.New(ctx, withDatabase(admin.Config().ConnString(), build))
		if err != nil {
			return "", err
		}
		if _, err := pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS postgis`); err != nil {
			pool.Close()
			return "", err
		}
		if _, err := spatial.Migrate(ctx, pool); err != nil {
			pool.Close()
			return "", err
		}
		pool.Close()
		if _, err := admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{build}.Sanitize()+` RENAME TO `+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", err
		}
		if _, err := admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{name}.Sanitize()+` WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`); err != nil {
			return "", err
		}
	}
	templates[name] = true
	return name, nil
}

// NewDatabase creates a fresh, migrated database for the test and returns its
// URL. The database is dropped when the test ends.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	return newDatabase(tb, true)
}

// NewEmptyDatabase creates a fresh database with PostGIS but no migrations.
func NewEmptyDatabase(tb testing.TB) string {
	tb.Helper()
	return newDatabase(tb, false)
}

func newDatabase(tb testing.TB, migrated bool) string {
	tb.Helper()
	base := ServerURL(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("dbtest: connect to test server: %v", err)
	}
	defer admin.Close(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "ct_test_" + hex.EncodeToString(b[:])
	if migrated {
		tmpl, err := ensureTemplate(ctx, admin)
		if err != nil {
			tb.Fatalf("dbtest: template database: %v", err)
		}
		_, err = admin.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()+` TEMPLATE `+pgx.Identifier{tmpl}.Sanitize())
		if err != nil {
			tb.Fatalf("dbtest: create database: %v", err)
		}
	} else {
		if _, err := admin.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
			tb.Fatalf("dbtest: create database: %v", err)
		}
	}
	u := withDatabase(base, name)
	if !migrated {
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			tb.Fatalf("dbtest: %v", err)
		}
		_, err = conn.Exec(ctx, `CREATE EXTENSION postgis`)
		conn.Close(ctx)
		if err != nil {
			tb.Fatalf("dbtest: create extension postgis: %v", err)
		}
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Logf("dbtest: drop %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			tb.Logf("dbtest: drop %s: %v", name, err)
		}
	})
	return u
}

// MustOpenPool returns a pool on a fresh, migrated database, closed when the
// test ends.
func MustOpenPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	return MustOpenPoolURL(tb, NewDatabase(tb))
}

// MustOpenPoolURL returns a pool on url, closed when the test ends.
func MustOpenPoolURL(tb testing.TB, url string) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// NewCluster starts a private cluster of the test's own in a temporary
// folder, for tests that stop, kill or restart the server. It is stopped
// when the test ends.
func NewCluster(tb testing.TB) *pgcluster.Cluster {
	tb.Helper()
	dir, err := os.MkdirTemp("", "citytwin-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	c := &pgcluster.Cluster{Dir: dir, Fast: true, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		os.RemoveAll(dir)
		tb.Fatalf("dbtest: private cluster: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.Stop(); err != nil {
			tb.Logf("dbtest: %v", err)
		}
		os.RemoveAll(dir)
	})
	return c
}
