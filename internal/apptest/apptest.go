// Package apptest runs a whole citytwin server for end-to-end tests: a fresh
// migrated database, an HTTP listener on a free loopback port, and keys to
// call it with. Modelled on wtf's MustRunMain.
package apptest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/citytwin/citytwin/internal/app"
	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/config"
	"github.com/citytwin/citytwin/internal/dbtest"
)

// Config returns a configuration for a test server on a fresh database, with
// every listener on a free loopback port.
func Config(tb testing.TB) config.Config {
	tb.Helper()
	cfg := config.Default()
	cfg.DatabaseURL = dbtest.NewDatabase(tb)
	cfg.Addr = "127.0.0.1:0"
	cfg.MQTTAddr = "127.0.0.1:0"
	cfg.MQTTURL = ""
	cfg.NATSURL = ""
	cfg.RedisURL = ""
	cfg.LogLevel = "warn"
	cfg.DataDir = tb.TempDir()
	cfg.ShutdownTimeout = 2 * time.Second
	return cfg
}

// Start runs a server with cfg until the test ends.
func Start(tb testing.TB, cfg config.Config) *app.App {
	tb.Helper()
	a, _ := Run(tb, cfg)
	return a
}

// Run runs a server with cfg and returns it with a function that stops it,
// for tests that restart a server on the same database; the test's cleanup
// stops it too if it still runs.
func Run(tb testing.TB, cfg config.Config) (*app.App, func()) {
	tb.Helper()
	return RunLogged(tb, cfg, os.Stderr)
}

// RunLogged is Run with the server's log written to logs (a test that
// reads what the server logged).
func RunLogged(tb testing.TB, cfg config.Config, logs io.Writer) (*app.App, func()) {
	tb.Helper()
	a := app.New(cfg, io.Discard, logs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Started():
	case err := <-done:
		cancel()
		a.Close()
		tb.Fatalf("apptest: server did not start: %v", err)
	case <-time.After(2 * time.Minute):
		cancel()
		tb.Fatal("apptest: server did not start within 2 minutes")
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				tb.Logf("apptest: server: %v", err)
			}
			if err := a.Close(); err != nil {
				tb.Logf("apptest: close: %v", err)
			}
		})
	}
	tb.Cleanup(stop)
	return a, stop
}

// MustRun starts a server on a fresh database with the test defaults,
// changed by the given options.
func MustRun(tb testing.TB, opts ...func(*config.Config)) *app.App {
	tb.Helper()
	cfg := Config(tb)
	for _, o := range opts {
		o(&cfg)
	}
	return Start(tb, cfg)
}

// Key creates an API key with role for the running server's database.
func Key(tb testing.TB, a *app.App, role auth.Role) string {
	tb.Helper()
	var key string
	err := pgx.BeginFunc(context.Background(), a.Pool, func(tx pgx.Tx) error {
		var err error
		key, err = auth.CreateKey(context.Background(), tx, "test-"+string(role), role, "")
		return err
	})
	if err != nil {
		tb.Fatalf("apptest: create key: %v", err)
	}
	return key
}

// Do sends a request with an optional key and body and returns the response
// with its body read.
func Do(tb testing.TB, method, url, key string, body io.Reader, header ...string) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		tb.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, b
}

// DoJSON is Do with a JSON body (a string) and Content-Type.
func DoJSON(tb testing.TB, method, url, key, body string) (*http.Response, []byte) {
	tb.Helper()
	return Do(tb, method, url, key, strings.NewReader(body), "Content-Type", "application/json")
}

// ErrorBody decodes a citytwin JSON error.
func ErrorBody(tb testing.TB, b []byte) (code, message, where string) {
	tb.Helper()
	var e struct {
		Error struct{ Code, Message, Where string }
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" {
		tb.Fatalf("not a citytwin JSON error: %s", b)
	}
	return e.Error.Code, e.Error.Message, e.Error.Where
}
