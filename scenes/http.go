package scenes

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/internal/httpapi"
)

// Handler serves the scene routes.
type Handler struct {
	Scenes *Service
	Auth   *auth.Service
}

// Register adds the scene routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/scenes", h.handleSceneIndex)
	mux.HandleFunc("GET /api/v1/scenes/{id}", h.handleSceneView)
	mux.HandleFunc("PUT /api/v1/scenes/{id}", h.handleScenePut)
	mux.HandleFunc("DELETE /api/v1/scenes/{id}", h.handleSceneDelete)
	mux.HandleFunc("GET /api/v1/scenes/{id}/kpis", h.handleSceneKPIs)
}

// handleSceneIndex handles the "GET /api/v1/scenes" route.
func (h *Handler) handleSceneIndex(w http.ResponseWriter, r *http.Request) {
	if err := h.Auth.RequireRead(r.Context()); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	list, err := h.Scenes.List(r.Context())
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"scenes": list})
}

// handleSceneView handles the "GET /api/v1/scenes/{id}" route.
func (h *Handler) handleSceneView(w http.ResponseWriter, r *http.Request) {
	if err := h.Auth.RequireRead(r.Context()); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	sc, err := h.Scenes.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, sc)
}

// handleScenePut handles the "PUT /api/v1/scenes/{id}" route: create or
// replace a scene (operator).
func (h *Handler) handleScenePut(w http.ResponseWriter, r *http.Request) {
	if err := auth.Require(r.Context(), auth.Operator); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	var body struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Spec        Spec   `json:"spec"`
	}
	if err := httpapi.DecodeJSON(w, r, 1<<20, &body); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	sc := &Scene{ID: r.PathValue("id"), Name: body.Name, Description: body.Description, Spec: body.Spec}
	created, err := h.Scenes.Put(r.Context(), sc, auth.PrincipalFrom(r.Context()).Actor())
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpapi.WriteJSON(w, status, sc)
}

// handleSceneDelete handles the "DELETE /api/v1/scenes/{id}" route.
func (h *Handler) handleSceneDelete(w http.ResponseWriter, r *http.Request) {
	if err := auth.Require(r.Context(), auth.Operator); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if err := h.Scenes.Delete(r.Context(), r.PathValue("id"), auth.PrincipalFrom(r.Context()).Actor()); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleSceneKPIs handles the "GET /api/v1/scenes/{id}/kpis" route: the
// scene's widgets computed now, optionally within ?bbox=w,s,e,n.
func (h *Handler) handleSceneKPIs(w http.ResponseWriter, r *http.Request) {
	if err := h.Auth.RequireRead(r.Context()); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	for k := range r.URL.Query() {
		if k != "bbox" {
			httpapi.Error(w, r, errs.Invalid(k, "unknown parameter"))
			return
		}
	}
	var bbox *orb.Bound
	if s := r.URL.Query().Get("bbox"); s != "" {
		b, err := parseBBox(s)
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		bbox = &b
	}
	kpis, at, err := h.Scenes.KPIs(r.Context(), r.PathValue("id"), bbox)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"scene": r.PathValue("id"), "at": at, "kpis": kpis})
}

func parseBBox(s string) (orb.Bound, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return orb.Bound{}, errs.Invalid("bbox", "bbox must be four numbers: west,south,east,north")
	}
	var v [4]float64
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f != f {
			return orb.Bound{}, errs.Invalid("bbox", "bbox value %q is not a number", p)
		}
		v[i] = f
	}
	if v[0] < -180 || v[2] > 180 || v[1] < -90 || v[3] > 90 || v[0] > v[2] || v[1] > v[3] {
		return orb.Bound{}, errs.Invalid("bbox", "bbox %s is not west,south,east,north in degrees", s)
	}
	return orb.Bound{Min: orb.Point{v[0], v[1]}, Max: orb.Point{v[2], v[3]}}, nil
}
