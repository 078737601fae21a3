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
	"sync/atomic"
	"time"

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

// Header values shared by every tile response; never modified (a header
// value slice is only read by net/http, and Set or Add replace or copy it).
var (
	hdrNoCache     = []string{"no-cache"}
	hdrVary        = []string{"Accept-Encoding"}
	hdrHit         = []string{"hit"}
	hdrMiss        = []string{"miss"}
	hdrMVT         = []string{MVTContentType}
	hdrGzip        = []string{"gzip"}
	hdrCacheMaxAge atomic.Pointer[maxAgeHeader]
)

type maxAgeHeader struct {
	age time.Duration
	v   []string
}

// cacheControl returns the Cache-Control value of tiles for max-age age.
func cacheControl(age time.Duration) []string {
	if age <= 0 {
		return hdrNoCache
	}
	if h := hdrCacheMaxAge.Load(); h != nil && h.age == age {
		return h.v
	}
	h := &maxAgeHeader{age: age, v: []string{fmt.Sprintf("public, max-age=%d", int(age.Seconds()))}}
	hdrCacheMaxAge.Store(h)
	return h.v
}

// writeTile answers with t: 204 when empty, 304 when the client's ETag
// matches, else the tile, gzipped when the client accepts gzip. The header
// values of a cached tile were computed when it was stored: a hit writes
// them and the stored bytes as they are.
func (h *Handler) writeTile(w http.ResponseWriter, r *http.Request, t Tile) {
	hd := w.Header()
	hd["Cache-Control"] = cacheControl(h.Service.MaxAge)
	hd["Vary"] = hdrVary
	if t.Cached {
		hd["X-Tile-Cache"] = hdrHit
	} else {
		hd["X-Tile-Cache"] = hdrMiss
	}
	if t.Empty() {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	p := t.prepared()
	gz := acceptsGzip(r.Header["Accept-Encoding"])
	etag := p.etag
	if gz {
		etag = p.etagGzip
	}
	hd["Etag"] = etag
	if inm := r.Header["If-None-Match"]; len(inm) > 0 && etagMatch(inm, etag[0]) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd["Content-Type"] = hdrMVT
	if gz {
		hd["Content-Encoding"] = hdrGzip
		hd["Content-Length"] = p.length
		w.WriteHeader(http.StatusOK)
		w.Write(p.gzip)
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(p.gzip))
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

// acceptsGzip reports whether Accept-Encoding values allow gzip. It reads
// the values in place, without allocating.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for v != "" {
			var part string
			part, v, _ = strings.Cut(v, ",")
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			name = strings.TrimSpace(name)
			if !strings.EqualFold(name, "gzip") && name != "*" {
				continue
			}
			return !qZero(params)
		}
	}
	return false
}

// qZero reports whether coding parameters hold q=0 (the coding is refused).
func qZero(params string) bool {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil && f == 0 {
			return true
		}
	}
	return false
}

// etagMatch reports whether If-None-Match values match etag (weak
// comparison, as RFC 9110 asks for If-None-Match).
func etagMatch(values []string, etag string) bool {
	for _, v := range values {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == etag {
				return true
			}
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
