package query

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/internal/httpapi"
	"github.com/citytwin/citytwin/spatial"
)

// NearestSQL is the kNN query of layer l: candidates by the GiST index's
// <-> order ($1 lon, $2 lat, $3 k), re-ranked by geodesic distance.
func NearestSQL(l *spatial.Layer) string {
	where, _ := l.Where(4)
	return fmt.Sprintf(`WITH pt AS (SELECT ST_SetSRID(ST_MakePoint($1, $2), 4326) AS g),
c AS (SELECT t.*, ST_Distance(t.geom::geography, pt.g::geography) AS dist FROM %s t, pt WHERE %s ORDER BY t.geom <-> pt.g LIMIT $3 * 2 + 8)
SELECT id::text, ST_AsGeoJSON(geom), ((%s) || jsonb_build_object('distance_m', round(dist::numeric, 2)))::text FROM c ORDER BY dist, c.id LIMIT $3`,
		l.TableIdent(), where, l.PropsSQL("c", nil))
}

// handleNearest handles the "GET /api/v1/layers/{layer}/nearest" route: the
// k features of the layer nearest to lon/lat, with distance_m.
func (s *Server) handleNearest(w http.ResponseWriter, r *http.Request) {
	p, ok := s.begin(w, r, "lon", "lat", "k")
	if !ok {
		return
	}
	l, err := s.layerParam("layer", r.PathValue("layer"), true)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	pt := p.point()
	k := p.int("k", 10, 1, MaxK)
	if p.err != nil {
		httpapi.Error(w, r, p.err)
		return
	}
	_, wargs := l.Where(4)
	args := append([]any{pt[0], pt[1], k}, wargs...)
	streamFeatures(w, r, s, l.Name, NearestSQL(l), args, map[string]any{"point": []float64{pt[0], pt[1]}, "k": k})
}

// handleWithin handles the "GET /api/v1/layers/{layer}/within" route: the
// features within radius metres of lon/lat, nearest first.
func (s *Server) handleWithin(w http.ResponseWriter, r *http.Request) {
	p, ok := s.begin(w, r, "lon", "lat", "radius", "limit")
	if !ok {
		return
	}
	l, err := s.layerParam("layer", r.PathValue("layer"), true)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	pt := p.point()
	radius := p.float("radius", 0, 0, MaxRadiusM, true)
	limit := p.int("limit", 1000, 1, MaxResults)
	if p.err != nil {
		httpapi.Error(w, r, p.err)
		return
	}
	dx, dy := expandDeg(radius, pt[1])
	where, wargs := l.Where(7)
	sql := fmt.Sprintf(`WITH pt AS (SELECT ST_SetSRID(ST_MakePoint($1, $2), 4326) AS g),
c AS (SELECT t.*, ST_Distance(t.geom::geography, pt.g::geography) AS dist FROM %s t, pt
      WHERE t.geom && ST_Expand(pt.g, $4, $5) AND ST_DWithin(t.geom::geography, pt.g::geography, $3) AND %s)
SELECT id::text, ST_AsGeoJSON(geom), ((%s) || jsonb_build_object('distance_m', round(dist::numeric, 2)))::text FROM c ORDER BY dist, c.id LIMIT $6`,
		l.TableIdent(), where, l.PropsSQL("c", nil))
	args := append([]any{pt[0], pt[1], radius, dx, dy, limit}, wargs...)
	streamFeatures(w, r, s, l.Name, sql, args, map[string]any{"point": []float64{pt[0], pt[1]}, "radius_m": radius})
}

// handleIntersects handles the "POST /api/v1/layers/{layer}/intersects"
// route: the features intersecting the GeoJSON geometry of the body.
func (s *Server) handleIntersects(w http.ResponseWriter, r *http.Request) {
	p, ok := s.begin(w, r, "limit")
	if !ok {
		return
	}
	l, err := s.layerParam("layer", r.PathValue("layer"), true)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	limit := p.int("limit", 1000, 1, MaxResults)
	if p.err != nil {
		httpapi.Error(w, r, p.err)
		return
	}
	g, _, err := readGeometry(w, r, "geometry")
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	where, wargs := l.Where(3)
	sql := fmt.Sprintf(`WITH q AS (SELECT ST_SetSRID(ST_GeomFromWKB($1), 4326) AS g)
SELECT t.id::text, ST_AsGeoJSON(t.geom), (%s)::text FROM %s t, q WHERE ST_Intersects(t.geom, q.g) AND %s ORDER BY t.id LIMIT $2`,
		l.PropsSQL("t", nil), l.TableIdent(), where)
	streamFeatures(w, r, s, l.Name, sql, append([]any{wkbOf(g), limit}, wargs...), nil)
}

// SearchResult is one hit of the search box.
type SearchResult struct {
	Layer string     `json:"layer"`
	ID    int64      `json:"id"`
	Name  string     `json:"name"`
	Point [2]float64 `json:"point"`
	Bbox  [4]float64 `json:"bbox"`
}

// handleSearch handles the "GET /api/v1/search" route: features whose name
// contains q (case-insensitive; exact and prefix matches first), or whose
// id or source_id is q, across the layers with a name.
func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) {
	p, ok := s.begin(w, r, "q", "limit", "layer")
	if !ok {
		return
	}
	q := strings.TrimSpace(p.str("q"))
	if q == "" || utf8.RuneCountInString(q) > 200 {
		httpapi.Error(w, r, errs.Invalid("q", "q must be 1 to 200 characters"))
		return
	}
	limit := p.int("limit", 20, 1, 100)
	if p.err != nil {
		httpapi.Error(w, r, p.err)
		return
	}
	var layers []*spatial.Layer
	if name := p.str("layer"); name != "" {
		l, err := s.layerParam("layer", name, false)
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		layers = append(layers, l)
	} else {
		layers = s.Store.Registry.Layers()
	}
	id, _ := strconv.ParseInt(q, 10, 64)
	like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q) + "%"
	var parts []string
	for _, l := range layers {
		if _, ok := l.Attr("name"); !ok || l.User {
			continue
		}
		parts = append(parts, fmt.Sprintf(`(SELECT '%s' AS layer, id, coalesce(name, source_id) AS name,
  CASE WHEN id = $2 OR source_id = $1 OR lower(name) = lower($1) THEN 0 WHEN name ILIKE $5 THEN 1 ELSE 2 END AS rank,
  geom FROM %s WHERE name ILIKE $3 OR id = $2 OR source_id = $1 ORDER BY 4, length(name), id LIMIT $4)`, l.Name, l.TableIdent()))
	}
	out := []SearchResult{}
	if len(parts) > 0 {
		prefix := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q) + "%"
		sql := `SELECT layer, id, name, ST_X(pt), ST_Y(pt), ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM (
SELECT layer, id, name, rank, geom, ST_PointOnSurface(geom) AS pt FROM (` + strings.Join(parts, " UNION ALL ") + `) u) v
ORDER BY rank, length(name), layer, id LIMIT $4`
		rows, err := s.Store.Pool.Query(r.Context(), sql, q, id, like, limit, prefix)
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			var h SearchResult
			if err := rows.Scan(&h.Layer, &h.ID, &h.Name, &h.Point[0], &h.Point[1], &h.Bbox[0], &h.Bbox[1], &h.Bbox[2], &h.Bbox[3]); err != nil {
				httpapi.Error(w, r, err)
				return
			}
			out = append(out, h)
		}
		if err := rows.Err(); err != nil {
			httpapi.Error(w, r, err)
			return
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"q": q, "results": out})
}
