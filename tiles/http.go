package tiles

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/internal/httpapi"
)

// MVTContentType is the media type of a vector tile.
const MVTContentType = "application/vnd.mapbox-vector-tile"

// Handler serves the tile routes.
type Handler struct {
	Service *Service
	Auth    *auth.Service
}

// RegisterRoutes registers the tile routes on mux.
func (h *Handler) RegisterRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /tiles/{map}/{z}/{x}/{y}", h.handleTile)
	mux.HandleFunc("GET /tiles/{map}/{layer}/{z}/{x}/{y}", h.handleTile)
	mux.HandleFunc("GET /tiles/{file}", h.handleTileJSONOrStyle)
	mux.HandleFunc("POST /api/v1/tiles/purge", h.handlePurge)
	// anything else under /tiles/ is a JSON 404, not the web app
	mux.Handle("/tiles/", httpapi.NotFoundHandler())
}

// parseTileNumber parses a z, x or y path part: decimal digits only.
func parseTileNumber(where, s string) (uint64, error) {
	if s == "" {
		return 0, errs.Invalid(where, "%s is missing", where)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errs.Invalid(where, "%s must be a non-negative integer, got %q", where, s)
		}
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, errs.Invalid(where, "%s %q is too large", where, s)
	}
	return v, nil
}

// ParseTilePath checks the parts of a tile path; y must end in ".pbf".
func ParseTilePath(zs, xs, ys string) (z int, x, y uint64, err error) {
	yv, ok := strings.CutSuffix(ys, ".pbf")
	if !ok {
		return 0, 0, 0, errs.Invalid("y", "a tile path ends in {y}.pbf, got %q", ys)
	}
	zz, err := parseTileNumber("z", zs)
	if err != nil {
		return 0, 0, 0, err
	}
	if zz > MaxZoom {
		return 0, 0, 0, errs.Invalid("z", "zoom %d is outside 0..%d", zz, MaxZoom)
	}
	if x, err = parseTileNumber("x", xs); err != nil {
		return 0, 0, 0, err
	}
	if y, err = parseTileNumber("y", yv); err != nil {
		return 0, 0, 0, err
	}
	return int(zz), x, y, nil
}

// handleTile handles the "GET /tiles/{map}/{z}/{x}/{y}.pbf" and
// "GET /tiles/{map}/{layer}/{z}/{x}/{y}.pbf" routes.
func (h *Handler) handleTile(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := h.Auth.RequireRead(ctx); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	mapName, layer := r.PathValue("map"), r.PathValue("layer")
	if _, ok := h.Service.tileMap(mapName); !ok {
		httpapi.Error(w, r, h.Service.Check(mapName, "", 0, 0, 0))
		return
	}
	z, x, y, err := ParseTilePath(r.PathValue("z"), r.PathValue("x"), r.PathValue("y"))
	if err == nil {
		err = h.Service.Check(mapName, layer, z, x, y)
	}
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	t, err := h.Service.Tile(ctx, mapName, layer, z, uint32(x), uint32(y))
	if err != nil {
		if ctx.Err() != nil {
			return // the client went away
		}
		httpapi.Error(w, r, err)
		return
	}
	h.writeTile(w, r, t)
}

// writeTile answers with t: 204 when empty, 304 when the client's ETag
// matches, else the tile, gzipped when the client accepts gzip.
func (h *Handler) writeTile(w http.ResponseWriter, r *http.Request, t Tile) {
	hd := w.Header()
	if h.Service.MaxAge > 0 {
		hd.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(h.Service.MaxAge.Seconds())))
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	hd.Set("Vary", "Accept-Encoding")
	if t.Cached {
		hd.Set("X-Tile-Cache", "hit")
	} else {
		hd.Set("X-Tile-Cache", "miss")
	}
	if t.Empty() {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	gz := acceptsGzip(r)
	etag := t.ETag()
	if gz {
		etag = etag[:len(etag)-1] + `-gz"`
	}
	hd.Set("ETag", etag)
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Type", MVTContentType)
	if gz {
		hd.Set("Content-Encoding", "gzip")
		hd.Set("Content-Length", strconv.Itoa(len(t.Gzip)))
		w.WriteHeader(http.StatusOK)
		w.Write(t.Gzip)
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(t.Gzip))
	if err != nil {
		httpapi.Error(w, r, fmt.Errorf("tiles: cached tile is not gzip: %w", err))
		return
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		httpapi.Error(w, r, fmt.Errorf("tiles: cached tile is not gzip: %w", err))
		return
	}
	hd.Set("Content-Length", strconv.Itoa(len(raw)))
	w.WriteHeader(http.StatusOK)
	w.Write(raw)
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "gzip" && name != "*" {
			continue
		}
		params = strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		if q, ok := strings.CutPrefix(params, "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				return false
			}
		}
		return true
	}
	return false
}

// etagMatch reports whether an If-None-Match header matches etag (weak
// comparison, as RFC 9110 asks for If-None-Match).
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// baseURL is the scheme and host the client used, for absolute URLs.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := strings.ToLower(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0])); p == "http" || p == "https" {
		scheme = p
	}
	return scheme + "://" + r.Host
}

// tokenSuffix carries the request's access_token into URLs it returns.
func tokenSuffix(r *http.Request) string {
	if t := r.URL.Query().Get("access_token"); t != "" {
		return "?access_token=" + url.QueryEscape(t)
	}
	return ""
}

// handleTileJSONOrStyle handles the "GET /tiles/{map}.json" and
// "GET /tiles/style.json" routes.
func (h *Handler) handleTileJSONOrStyle(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := h.Auth.RequireRead(ctx); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	file := r.PathValue("file")
	name, ok := strings.CutSuffix(file, ".json")
	if !ok {
		httpapi.Error(w, r, errs.NotFound("no such tile resource %q: tiles are at /tiles/{map}/{z}/{x}/{y}.pbf, TileJSON at /tiles/{map}.json", file))
		return
	}
	if name == "style" {
		st, err := h.Service.Style(ctx, baseURL(r), tokenSuffix(r))
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		httpapi.WriteJSON(w, http.StatusOK, st)
		return
	}
	tj, err := h.Service.TileJSON(ctx, name, baseURL(r), tokenSuffix(r))
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	httpapi.WriteJSON(w, http.StatusOK, tj)
}

// PurgeRequest is the body of "POST /api/v1/tiles/purge".
type PurgeRequest struct {
	// Layer limits the purge to the maps drawing it; empty: every map.
	Layer string `json:"layer"`
	// BBox is [west, south, east, north] in degrees; empty: everywhere.
	BBox    []float64 `json:"bbox"`
	MinZoom *int      `json:"minzoom"`
	MaxZoom *int      `json:"maxzoom"`
}

// Validate checks the request and returns its bound (nil for everywhere)
// and zoom range.
func (p PurgeRequest) Validate(s *Service) (bound *orb.Bound, minz, maxz int, err error) {
	if p.Layer != "" && len(s.mapsWithLayerOnly(p.Layer)) == 0 {
		return nil, 0, 0, errs.Invalid("layer", "no map draws a layer %q", p.Layer)
	}
	if p.BBox != nil {
		b, err := ParseBBox(p.BBox)
		if err != nil {
			return nil, 0, 0, err
		}
		bound = &b
	}
	minz, maxz = 0, MaxZoom
	if p.MinZoom != nil {
		minz = *p.MinZoom
	}
	if p.MaxZoom != nil {
		maxz = *p.MaxZoom
	}
	if minz < 0 || minz > MaxZoom {
		return nil, 0, 0, errs.Invalid("minzoom", "minzoom %d is outside 0..%d", minz, MaxZoom)
	}
	if maxz < 0 || maxz > MaxZoom {
		return nil, 0, 0, errs.Invalid("maxzoom", "maxzoom %d is outside 0..%d", maxz, MaxZoom)
	}
	if minz > maxz {
		return nil, 0, 0, errs.Invalid("minzoom", "minzoom %d is above maxzoom %d", minz, maxz)
	}
	return bound, minz, maxz, nil
}

// ParseBBox checks [west, south, east, north] in degrees.
func ParseBBox(v []float64) (orb.Bound, error) {
	if len(v) != 4 {
		return orb.Bound{}, errs.Invalid("bbox", "bbox needs 4 numbers [west, south, east, north], got %d", len(v))
	}
	for i, f := range v {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return orb.Bound{}, errs.Invalid("bbox", "bbox[%d] is not a finite number", i)
		}
	}
	w, s, e, n := v[0], v[1], v[2], v[3]
	if w < -180 || e > 180 || w > e {
		return orb.Bound{}, errs.Invalid("bbox", "west %g and east %g must lie in -180..180 with west <= east", w, e)
	}
	if s < -90 || n > 90 || s > n {
		return orb.Bound{}, errs.Invalid("bbox", "south %g and north %g must lie in -90..90 with south <= north", s, n)
	}
	return orb.Bound{Min: orb.Point{w, s}, Max: orb.Point{e, n}}, nil
}

// handlePurge handles the "POST /api/v1/tiles/purge" route (admin).
func (h *Handler) handlePurge(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := auth.Require(ctx, auth.Admin); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	var req PurgeRequest
	if err := httpapi.DecodeJSON(w, r, 64<<10, &req); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	bound, minz, maxz, err := req.Validate(h.Service)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	n, err := h.Service.Purge(ctx, req.Layer, bound, minz, maxz)
	if err != nil {
		httpapi.Error(w, r, errs.Wrap(errs.EUNAVAILABLE, err, "the tile cache did not answer"))
		return
	}
	httpapi.LoggerFrom(ctx).Info("tiles purged", "layer", req.Layer, "bbox", req.BBox, "minzoom", minz, "maxzoom", maxz, "tiles", n,
		"by", auth.PrincipalFrom(ctx).Actor())
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"purged": n, "maps": h.Service.mapsWith(req.Layer)})
}
