package network

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/internal/httpapi"
	"github.com/citytwin/citytwin/spatial"
)

// DefaultServiceDistanceM is how far a building may be from its service
// connection node or main.
const DefaultServiceDistanceM = 50

// Service holds the pipe graphs in memory, one per network, loaded on first
// use and dropped whenever pipes or network nodes change.
type Service struct {
	Store  *spatial.Store
	Auth   *auth.Service
	Logger *slog.Logger

	mu     sync.Mutex
	gen    uint64
	graphs map[string]*Graph
	loads  prometheus.Counter
	trace  prometheus.Histogram
}

// NewService returns a service on store; it subscribes to the store's
// changes and registers its metrics on reg (may be nil).
func NewService(store *spatial.Store, a *auth.Service, logger *slog.Logger, reg prometheus.Registerer) *Service {
	s := &Service{Store: store, Auth: a, Logger: logger, graphs: map[string]*Graph{},
		loads: prometheus.NewCounter(prometheus.CounterOpts{Name: "citytwin_network_graph_loads_total", Help: "Pipe graphs loaded from the database."}),
		trace: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "citytwin_network_trace_seconds", Help: "Network trace and isolation time (graph in memory).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25}}),
	}
	if reg != nil {
		reg.MustRegister(s.loads, s.trace)
	}
	store.OnChange(func(_ context.Context, cs []spatial.Change) {
		for _, c := range cs {
			if c.Layer == "pipes" || c.Layer == "network_nodes" {
				s.mu.Lock()
				s.gen++
				clear(s.graphs)
				s.mu.Unlock()
				return
			}
		}
	})
	return s
}

// Graph returns the graph of network, loading it when needed.
func (s *Service) Graph(ctx context.Context, network string) (*Graph, error) {
	known := false
	for _, n := range spatial.Networks {
		known = known || n == network
	}
	if !known {
		return nil, &errs.Error{Code: errs.ENOTFOUND, Where: "network", Message: "unknown network " + strconv.Quote(network)}
	}
	s.mu.Lock()
	g, ok := s.graphs[network]
	gen := s.gen
	s.mu.Unlock()
	if ok {
		return g, nil
	}
	start := time.Now()
	g, err := Load(ctx, s.Store.Pool, network)
	if err != nil {
		return nil, err
	}
	s.loads.Inc()
	s.Logger.Info("pipe graph loaded", "network", network, "nodes", len(g.Nodes), "pipes", len(g.Pipes),
		"unresolved_valves", g.Unresolved, "took", time.Since(start).Round(time.Millisecond))
	s.mu.Lock()
	if s.gen == gen {
		s.graphs[network] = g
	}
	s.mu.Unlock()
	return g, nil
}

// Register adds the routes to mux.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/networks/{network}/trace", s.handleTrace)
	mux.HandleFunc("GET /api/v1/networks/{network}/isolation", s.handleIsolation)
}

func checkParams(r *http.Request, allowed ...string) error {
	for k := range r.URL.Query() {
		ok := k == "access_token"
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			return errs.Invalid(k, "unknown query parameter %q", k)
		}
	}
	return nil
}

func idParam(r *http.Request, name string) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, errs.Invalid(name, "%s must be a feature id (a positive integer), got %q", name, s)
	}
	return id, nil
}

// handleTrace handles the "GET /api/v1/networks/{network}/trace?node=|pipe=&direction=" route.
func (s *Service) handleTrace(w http.ResponseWriter, r *http.Request) {
	if err := s.Auth.RequireRead(r.Context()); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if err := checkParams(r, "node", "pipe", "direction"); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	node, err := idParam(r, "node")
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	pipe, err := idParam(r, "pipe")
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if (node == 0) == (pipe == 0) {
		httpapi.Error(w, r, errs.Invalid("node", "give exactly one of node= and pipe="))
		return
	}
	dir := r.URL.Query().Get("direction")
	if dir == "" {
		dir = Connected
	}
	g, err := s.Graph(r.Context(), r.PathValue("network"))
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	start := time.Now()
	t, err := g.Trace(node, pipe, dir)
	s.trace.Observe(time.Since(start).Seconds())
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"network": t.Network, "direction": t.Direction, "start": map[string]int64{"node": node, "pipe": pipe},
		"pipes": t.Pipes, "nodes": t.Nodes, "counts": map[string]int{"pipes": len(t.Pipes), "nodes": len(t.Nodes)},
	})
}

// IsolationResult is the isolation answer with the buildings that lose
// supply.
type IsolationResult struct {
	*Isolation
	Buildings BuildingsAffected `json:"buildings"`
}

// handleIsolation handles the "GET /api/v1/networks/{network}/isolation?pipe=ID" route.
func (s *Service) handleIsolation(w http.ResponseWriter, r *http.Request) {
	if err := s.Auth.RequireRead(r.Context()); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if err := checkParams(r, "pipe", "distance"); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	pipe, err := idParam(r, "pipe")
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if pipe == 0 {
		httpapi.Error(w, r, errs.Invalid("pipe", "pipe=ID (the broken pipe) is required"))
		return
	}
	dist := float64(DefaultServiceDistanceM)
	if v := r.URL.Query().Get("distance"); v != "" {
		d, err := strconv.ParseFloat(v, 64)
		if err != nil || d <= 0 || d > 1000 {
			httpapi.Error(w, r, errs.Invalid("distance", "distance must be a number of metres in (0, 1000], got %q", v))
			return
		}
		dist = d
	}
	g, err := s.Graph(r.Context(), r.PathValue("network"))
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	start := time.Now()
	iso, err := g.Isolate(pipe)
	s.trace.Observe(time.Since(start).Seconds())
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	res := IsolationResult{Isolation: iso}
	res.Buildings, err = s.BuildingsAffected(r.Context(), g, iso, dist)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, res)
}
