package query

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/paulmach/orb/geojson"

	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/internal/httpapi"
	"github.com/citytwin/citytwin/spatial"
)

// Limits of the queries.
const (
	MaxK         = 1000
	MaxRadiusM   = 50_000
	MaxResults   = 10_000
	MaxVertices  = 100_000
	MaxBody      = 64 << 20
	MaxCells     = 1000
	MaxGapCells  = 20_000
	MaxAggCells  = 50_000
	MaxCoverCell = 100_000
)

// Server serves the spatial queries under /api/v1.
type Server struct {
	Store  *spatial.Store
	Auth   *auth.Service
	Logger *slog.Logger
}

// NewServer returns a query server on store.
func NewServer(store *spatial.Store, a *auth.Service, logger *slog.Logger) *Server {
	return &Server{Store: store, Auth: a, Logger: logger}
}

// Register adds the routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/layers/{layer}/nearest", s.handleNearest)
	mux.HandleFunc("GET /api/v1/layers/{layer}/within", s.handleWithin)
	mux.HandleFunc("POST /api/v1/layers/{layer}/intersects", s.handleIntersects)
	mux.HandleFunc("GET /api/v1/layers/{layer}/features/{id}/cells", s.handleFeatureCells)
	mux.HandleFunc("GET /api/v1/h3/features", s.handleCellFeatures)
	mux.HandleFunc("GET /api/v1/h3/aggregate", s.handleAggregate)
	mux.HandleFunc("GET /api/v1/coverage/gaps", s.handleGaps)
	mux.HandleFunc("GET /api/v1/impact", s.handleImpact)
	mux.HandleFunc("POST /api/v1/impact", s.handleImpact)
	mux.HandleFunc("GET /api/v1/search", s.handleSearch)
}

// params checks the request's query parameters against allowed and gives
// typed access to them; every error names its parameter.
type params struct {
	r   *http.Request
	err error
}

func (s *Server) begin(w http.ResponseWriter, r *http.Request, allowed ...string) (*params, bool) {
	if err := s.Auth.RequireRead(r.Context()); err != nil {
		httpapi.Error(w, r, err)
		return nil, false
	}
	for k := range r.URL.Query() {
		if k == "access_token" {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			httpapi.Error(w, r, errs.Invalid(k, "unknown query parameter %q", k))
			return nil, false
		}
	}
	return &params{r: r}, true
}

func (p *params) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

func (p *params) str(name string) string { return p.r.URL.Query().Get(name) }

func (p *params) float(name string, def, min, max float64, required bool) float64 {
	s := p.str(name)
	if s == "" {
		if required {
			p.fail(errs.Invalid(name, "%s is required", name))
		}
		return def
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		p.fail(errs.Invalid(name, "%s must be a number, got %q", name, s))
		return def
	}
	if f < min || f > max {
		p.fail(errs.Invalid(name, "%s must be between %g and %g, got %g", name, min, max, f))
		return def
	}
	return f
}

func (p *params) int(name string, def, min, max int) int {
	s := p.str(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		p.fail(errs.Invalid(name, "%s must be an integer, got %q", name, s))
		return def
	}
	if n < min || n > max {
		p.fail(errs.Invalid(name, "%s must be between %d and %d, got %d", name, min, max, n))
		return def
	}
	return n
}

func (p *params) point() orb.Point {
	lon := p.float("lon", 0, -180, 180, true)
	lat := p.float("lat", 0, -90, 90, true)
	return orb.Point{lon, lat}
}

func (p *params) bbox(required bool) (orb.Bound, bool) {
	s := p.str("bbox")
	if s == "" {
		if required {
			p.fail(errs.Invalid("bbox", "bbox=minlon,minlat,maxlon,maxlat is required"))
		}
		return orb.Bound{}, false
	}
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		p.fail(errs.Invalid("bbox", "bbox needs 4 comma-separated numbers minlon,minlat,maxlon,maxlat, got %d", len(parts)))
		return orb.Bound{}, false
	}
	var v [4]float64
	for i, x := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			p.fail(errs.Invalid("bbox", "bbox value %d (%q) is not a number", i+1, x))
			return orb.Bound{}, false
		}
		v[i] = f
	}
	if v[0] < -180 || v[2] > 180 || v[1] < -90 || v[3] > 90 || v[0] > v[2] || v[1] > v[3] {
		p.fail(errs.Invalid("bbox", "bbox %s is not minlon,minlat,maxlon,maxlat within longitude/latitude range", s))
		return orb.Bound{}, false
	}
	return orb.Bound{Min: orb.Point{v[0], v[1]}, Max: orb.Point{v[2], v[3]}}, true
}

// layerParam resolves a layer named in a query parameter (400 when unknown)
// or path (404).
func (s *Server) layerParam(name, v string, path bool) (*spatial.Layer, error) {
	if v == "" {
		return nil, errs.Invalid(name, "%s is required", name)
	}
	l, err := s.Store.Registry.Layer(v)
	if err != nil {
		if path {
			return nil, err
		}
		return nil, errs.Invalid(name, "unknown layer %q", v)
	}
	return l, nil
}

// expandDeg returns the degrees (lon, lat) that r metres span at latitude lat,
// for a bounding-box prefilter that the GiST index can use.
func expandDeg(r, lat float64) (float64, float64) {
	dlat := r/111_000 + 1e-6
	c := math.Cos(lat * math.Pi / 180)
	if c < 0.01 {
		c = 0.01
	}
	return dlat / c, dlat
}

// readGeometry reads a GeoJSON geometry (or a Feature's geometry) body with
// at most MaxVertices vertices.
func readGeometry(w http.ResponseWriter, r *http.Request, field string) (orb.Geometry, json.RawMessage, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		return nil, nil, &errs.Error{Code: errs.ETOOLARGE, Where: "body", Message: fmt.Sprintf("body larger than %d bytes", MaxBody)}
	}
	var probe struct {
		Type     string          `json:"type"`
		Geometry json.RawMessage `json:"geometry"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, nil, httpapi.JSONError(err, MaxBody)
	}
	raw := json.RawMessage(body)
	if probe.Type == "Feature" || (probe.Type == "" && len(probe.Geometry) > 0) {
		raw = probe.Geometry
	}
	var g geojson.Geometry
	if err := json.Unmarshal(raw, &g); err != nil || g.Coordinates == nil && g.Geometries == nil {
		return nil, nil, errs.Invalid(field, "not a GeoJSON geometry")
	}
	if err := checkGeoJSON(raw, 0); err != nil {
		return nil, nil, errs.Invalid(field, "%s", err)
	}
	geom := g.Geometry()
	n := 0
	bad := false
	spatial.EachPoint(geom, func(p orb.Point) bool {
		n++
		if p[0] < -180 || p[0] > 180 || p[1] < -90 || p[1] > 90 || math.IsNaN(p[0]) || math.IsNaN(p[1]) {
			bad = true
		}
		return true
	})
	if n > MaxVertices {
		return nil, nil, errs.Invalid(field, "geometry has %d vertices; at most %d", n, MaxVertices)
	}
	if n == 0 {
		return nil, nil, errs.Invalid(field, "empty geometry")
	}
	if bad {
		return nil, nil, errs.Invalid(field, "coordinates outside longitude/latitude range (EPSG:4326 lon,lat expected)")
	}
	return geom, body, nil
}

// checkGeoJSON checks what orb's decoder lets through (RFC 7946 3.1):
// positions of at least two numbers, line strings of at least two
// positions, rings of at least four, closed. Such geometries otherwise
// reach PostGIS, which refuses them (a 500 before).
func checkGeoJSON(raw json.RawMessage, depth int) error {
	var g struct {
		Type        string            `json:"type"`
		Coordinates json.RawMessage   `json:"coordinates"`
		Geometries  []json.RawMessage `json:"geometries"`
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		return fmt.Errorf("not a GeoJSON geometry")
	}
	position := func(p []float64) error {
		if len(p) < 2 {
			return fmt.Errorf("a %s has a position of %d number(s); it needs longitude and latitude", g.Type, len(p))
		}
		return nil
	}
	line := func(l [][]float64, ring bool) error {
		for _, p := range l {
			if err := position(p); err != nil {
				return err
			}
		}
		switch {
		case !ring && len(l) < 2:
			return fmt.Errorf("a line string needs at least 2 positions, got %d", len(l))
		case ring && len(l) < 4:
			return fmt.Errorf("a polygon ring needs at least 4 positions (closed), got %d", len(l))
		case ring && (l[0][0] != l[len(l)-1][0] || l[0][1] != l[len(l)-1][1]):
			return fmt.Errorf("a polygon ring is not closed: its last position must repeat its first")
		}
		return nil
	}
	polygon := func(rings [][][]float64) error {
		if len(rings) == 0 {
			return fmt.Errorf("a polygon needs an exterior ring")
		}
		for _, r := range rings {
			if err := line(r, true); err != nil {
				return err
			}
		}
		return nil
	}
	shape := func(v any) error {
		if err := json.Unmarshal(g.Coordinates, v); err != nil {
			return fmt.Errorf("the coordinates of a %s are not nested as RFC 7946 says", g.Type)
		}
		return nil
	}
	switch g.Type {
	case "Point":
		var p []float64
		if err := shape(&p); err != nil {
			return err
		}
		return position(p)
	case "MultiPoint":
		var ps [][]float64
		if err := shape(&ps); err != nil {
			return err
		}
		for _, p := range ps {
			if err := position(p); err != nil {
				return err
			}
		}
	case "LineString":
		var l [][]float64
		if err := shape(&l); err != nil {
			return err
		}
		return line(l, false)
	case "MultiLineString":
		var ls [][][]float64
		if err := shape(&ls); err != nil {
			return err
		}
		for _, l := range ls {
			if err := line(l, false); err != nil {
				return err
			}
		}
	case "Polygon":
		var rings [][][]float64
		if err := shape(&rings); err != nil {
			return err
		}
		return polygon(rings)
	case "MultiPolygon":
		var polys [][][][]float64
		if err := shape(&polys); err != nil {
			return err
		}
		for _, p := range polys {
			if err := polygon(p); err != nil {
				return err
			}
		}
	case "GeometryCollection":
		if depth > 8 {
			return fmt.Errorf("geometry collections nested too deeply")
		}
		for _, m := range g.Geometries {
			if err := checkGeoJSON(m, depth+1); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown geometry type %q", g.Type)
	}
	return nil
}

func wkbOf(g orb.Geometry) []byte {
	b, _ := wkb.Marshal(g)
	return b
}

// streamFeatures runs sql (rows: id text, geometry GeoJSON text,
// properties JSON text) and writes a GeoJSON FeatureCollection as rows come,
// with extra members (already JSON) at the end.
func streamFeatures(w http.ResponseWriter, r *http.Request, s *Server, layer string, sql string, args []any, extra map[string]any) {
	ctx := r.Context()
	rows, err := s.Store.Pool.Query(ctx, sql, args...)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	defer rows.Close()
	first := rows.Next()
	if !first && rows.Err() != nil {
		httpapi.Error(w, r, rows.Err())
		return
	}
	w.Header().Set("Content-Type", "application/geo+json")
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(`{"type":"FeatureCollection","features":[`)
	n := 0
	for ok := first; ok; ok = rows.Next() {
		raw := rows.RawValues()
		if n > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString(`{"type":"Feature","id":`)
		bw.Write(raw[0])
		bw.WriteString(`,"geometry":`)
		bw.Write(raw[1])
		bw.WriteString(`,"properties":`)
		bw.Write(raw[2])
		bw.WriteString(`}`)
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		httpapi.LoggerFrom(ctx).Warn("feature stream failed", "layer", layer, "err", err)
		panic(http.ErrAbortHandler)
	}
	fmt.Fprintf(bw, `],"layer":%q,"numberReturned":%d`, layer, n)
	for k, v := range extra {
		b, _ := json.Marshal(v)
		fmt.Fprintf(bw, ",%q:%s", k, b)
	}
	bw.WriteString("}\n")
	_ = bw.Flush()
}
