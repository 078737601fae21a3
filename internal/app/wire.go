package app

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/internal/httpapi"
	"github.com/citytwin/citytwin/spatial"
)

// wire builds each domain in order. Each domain's wiring lives in its own
// file (wire_DOMAIN.go) as a method a.wireDOMAIN.
func (a *App) wire(ctx context.Context) error {
	steps := []func(context.Context) error{
		a.wireHealth,
		// wire: spatial
		a.wireSpatial,
		// wire: tiles
		a.wireTiles,
		// wire: live
		a.wireLive,
		// wire: twin
		a.wireTwin,
		// wire: scenes
		a.wireScenes,
		// wire: importers
		a.wireImporters,
		// wire: samples
		// wire: web
		a.wireWeb,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// wireHealth registers /healthz, /readyz and /metrics.
func (a *App) wireHealth(context.Context) error {
	a.Mux.HandleFunc("GET /healthz", a.handleHealthz)
	a.Mux.HandleFunc("GET /readyz", a.handleReadyz)
	a.Mux.Handle("GET /metrics", promhttp.HandlerFor(a.Metrics, promhttp.HandlerOpts{Registry: a.Metrics}))
	return nil
}

// handleHealthz handles the "GET /healthz" route: the process is alive.
func (a *App) handleHealthz(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz handles the "GET /readyz" route: the database answers, its
// migrations are current, and every domain's own check passes.
func (a *App) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{}
	ready := true
	if err := a.Pool.Ping(ctx); err != nil {
		checks["database"] = "unreachable: " + err.Error()
		ready = false
	} else if pending, err := spatial.PendingMigrations(ctx, a.Pool); err != nil {
		checks["database"] = "error: " + err.Error()
		ready = false
	} else if len(pending) > 0 {
		checks["migrations"] = "pending: " + pending[0]
		ready = false
	} else {
		checks["database"] = "ok"
		checks["migrations"] = "current"
	}
	for _, check := range a.readyChecks {
		if err := check(ctx); err != nil {
			checks[errs.Where(err)] = errs.Message(err)
			ready = false
		}
	}
	status, code := "ready", http.StatusOK
	if !ready {
		status, code = "not ready", http.StatusServiceUnavailable
	}
	httpapi.WriteJSON(w, code, map[string]any{"status": status, "checks": checks})
}
