package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/citytwin/citytwin/internal/app"
	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/config"
	"github.com/citytwin/citytwin/internal/dbtest"
)

func TestHealthReadyMetrics(t *testing.T) {
	a := apptest.MustRun(t)
	resp, body := apptest.Do(t, "GET", a.URL()+"/healthz", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Fatalf("healthz: %d %s", resp.StatusCode, body)
	}
	resp, body = apptest.Do(t, "GET", a.URL()+"/readyz", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ready"`) {
		t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id header")
	}
	resp, body = apptest.Do(t, "GET", a.URL()+"/metrics", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "citytwin_http_requests_total") || !strings.Contains(string(body), "citytwin_db_pool_max_conns") {
		t.Fatalf("metrics: %d %.300s", resp.StatusCode, body)
	}
	resp, body = apptest.Do(t, "GET", a.URL()+"/api/v1/no-such-thing", "", nil)
	if resp.StatusCode != 404 {
		t.Fatalf("unknown API route: %d %s", resp.StatusCode, body)
	}
	if code, _, _ := apptest.ErrorBody(t, body); code != "not_found" {
		t.Fatalf("code = %s", code)
	}
	resp, body = apptest.Do(t, "GET", a.URL()+"/healthz", "bogus", nil)
	if resp.StatusCode != 401 {
		t.Fatalf("a malformed key must be refused: %d %s", resp.StatusCode, body)
	}
}

// TestReadyzReportsStoppedDatabase runs a server on a cluster of its own and
// stops the cluster under it: liveness stays, readiness goes.
func TestReadyzReportsStoppedDatabase(t *testing.T) {
	c := dbtest.NewCluster(t)
	cfg := apptest.Config(t)
	cfg.DatabaseURL = c.URL()
	a := apptest.Start(t, cfg)
	if resp, body := apptest.Do(t, "GET", a.URL()+"/readyz", "", nil); resp.StatusCode != 200 {
		t.Fatalf("readyz before stop: %d %s", resp.StatusCode, body)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	resp, body := apptest.Do(t, "GET", a.URL()+"/readyz", "", nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the database stopped: %d %s", resp.StatusCode, body)
	}
	var r struct {
		Status string
		Checks map[string]string
	}
	if err := json.Unmarshal(body, &r); err != nil || !strings.HasPrefix(r.Checks["database"], "unreachable") {
		t.Fatalf("readyz body does not say the database is unreachable: %s", body)
	}
	if resp, _ := apptest.Do(t, "GET", a.URL()+"/healthz", "", nil); resp.StatusCode != 200 {
		t.Fatalf("healthz must stay up: %d", resp.StatusCode)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if resp, body := apptest.Do(t, "GET", a.URL()+"/readyz", "", nil); resp.StatusCode != 200 {
		t.Fatalf("readyz after the database is back: %d %s", resp.StatusCode, body)
	}
}

func TestCLI(t *testing.T) {
	url := dbtest.NewDatabase(t)
	t.Setenv("CITYTWIN_DATABASE_URL", url)
	var out, errb bytes.Buffer
	ctx := context.Background()
	if err := app.Main(ctx, []string{"migrate"}, &out, &errb); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errb.String())
	}
	out.Reset()
	if err := app.Main(ctx, []string{"keys", "create", "--role", "operator", "--name", "dispatch"}, &out, &errb); err != nil {
		t.Fatalf("keys create: %v", err)
	}
	key := strings.TrimSpace(out.String())
	if !strings.HasPrefix(key, "ct_") || len(key) != 59 {
		t.Fatalf("key = %q", key)
	}
	out.Reset()
	if err := app.Main(ctx, []string{"keys", "list"}, &out, &errb); err != nil || !strings.Contains(out.String(), "dispatch") || strings.Contains(out.String(), key) {
		t.Fatalf("keys list: %v\n%s", err, out.String())
	}
	var usage *app.UsageError
	for _, args := range [][]string{{"nope"}, {"keys", "create", "--role", "king", "--name", "x"}, {"serve", "--no-such-flag"}} {
		err := app.Main(ctx, args, &out, &errb)
		if err == nil {
			t.Errorf("%v: no error", args)
		} else if !asUsage(err, &usage) {
			t.Errorf("%v: %v is not a usage error", args, err)
		}
	}
	_ = config.Default()
}

func asUsage(err error, target **app.UsageError) bool {
	u, ok := err.(*app.UsageError)
	if ok {
		*target = u
	}
	return ok
}

// TestPprofOwnListener: --pprof-addr serves Go's profiles on its own
// listener; the public one does not.
func TestPprofOwnListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	a := apptest.MustRun(t, func(c *config.Config) { c.PprofAddr = addr })
	resp, body := apptest.Do(t, "GET", "http://"+addr+"/debug/pprof/goroutine?debug=1", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("pprof: %d %.200s", resp.StatusCode, body)
	}
	if resp, _ := apptest.Do(t, "GET", a.URL()+"/debug/pprof/goroutine?debug=1", "", nil); resp.StatusCode != 404 {
		t.Fatalf("the public listener serves profiles: %d", resp.StatusCode)
	}
}
