package query

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
	h3 "github.com/uber/h3-go/v4"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/internal/httpapi"
	"github.com/citytwin/citytwin/spatial"
)

// CellPolygon is the boundary of an H3 cell as a closed GeoJSON ring.
func CellPolygon(c h3.Cell) orb.Polygon {
	b := c.Boundary()
	ring := make(orb.Ring, 0, len(b)+1)
	for _, ll := range b {
		ring = append(ring, orb.Point{ll.Lng, ll.Lat})
	}
	ring = append(ring, ring[0])
	return orb.Polygon{ring}
}

// parseCell reads an H3 cell in hex; errors name param.
func parseCell(param, s string) (h3.Cell, error) {
	s = strings.TrimSpace(s)
	v, err := strconv.ParseUint(s, 16, 64)
	c := h3.Cell(v)
	if err != nil || !c.IsValid() {
		return 0, errs.Invalid(param, "%q is not an H3 cell (hex index)", s)
	}
	return c, nil
}

// estimateCells guesses how many cells at res cover g.
func estimateCells(g orb.Geometry, res int) float64 {
	switch g := g.(type) {
	case orb.Point:
		return 1
	case orb.Polygon, orb.MultiPolygon:
		return geo.Area(g)/h3.HexagonAreaAvgM2(res) + geo.Length(g)/h3.HexagonEdgeLengthAvgM(res)
	}
	return geo.Length(g)/h3.HexagonEdgeLengthAvgM(res) + 10
}

// handleFeatureCells handles the "GET
// /api/v1/layers/{layer}/features/{id}/cells?res=" route: the H3 cells that
// cover a feature at res (default 10).
func (s *Server) handleFeatureCells(w http.ResponseWriter, r *http.Request) {
	p, ok := s.begin(w, r, "res")
	if !ok {
		return
	}
	l, err := s.layerParam("layer", r.PathValue("layer"), true)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		httpapi.Error(w, r, errs.Invalid("id", "feature id must be an integer, got %q", r.PathValue("id")))
		return
	}
	res := p.int("res", spatial.CoverRes, 0, 15)
	if p.err != nil {
		httpapi.Error(w, r, p.err)
		return
	}
	f, err := s.Store.GetFeature(r.Context(), l.Name, id)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if n := estimateCells(f.Geometry, res); n > MaxCoverCell {
		httpapi.Error(w, r, errs.Invalid("res", "about %.0f cells cover this feature at resolution %d; at most %d (use a coarser res)", n, res, MaxCoverCell))
		return
	}
	cells := spatial.CoverCells(f.Geometry, res)
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = h3.Cell(c).String()
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"layer": l.Name, "id": id, "res": res, "count": len(out), "cells": out,
		"cell": h3.Cell(spatial.PointCell(spatial.RepresentativePoint(f.Geometry), res)).String(),
	})
}

// handleCellFeatures handles the "GET /api/v1/h3/features?layer=&cells="
// route: the features of the layer in the given cells (any resolution;
// resolution-10 cells use the feature_cells index, others the cells'
// hexagons).
func (s *Server) handleCellFeatures(w http.ResponseWriter, r *http.Request) {
	p, ok := s.begin(w, r, "layer", "cells", "limit")
	if !ok {
		return
	}
	l, err := s.layerParam("layer", p.str("layer"), false)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	limit := p.int("limit", 1000, 1, MaxResults)
	if p.err != nil {
		httpapi.Error(w, r, p.err)
		return
	}
	raw := p.str("cells")
	if raw == "" {
		httpapi.Error(w, r, errs.Invalid("cells", "cells=a,b,c (H3 indexes in hex) is required"))
		return
	}
	parts := strings.Split(raw, ",")
	if len(parts) > MaxCells {
		httpapi.Error(w, r, errs.Invalid("cells", "at most %d cells", MaxCells))
		return
	}
	var cells []int64
	var mp orb.MultiPolygon
	all10 := true
	for _, s := range parts {
		c, err := parseCell("cells", s)
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		cells = append(cells, int64(c))
		mp = append(mp, CellPolygon(c))
		all10 = all10 && c.Resolution() == spatial.CoverRes
	}
	where, wargs := l.Where(4)
	var sql string
	var args []any
	if all10 {
		sql = fmt.Sprintf(`SELECT t.id::text, ST_AsGeoJSON(t.geom), (%s)::text FROM %s t
WHERE t.id IN (SELECT feature_id FROM feature_cells WHERE layer = $1 AND cell = ANY($2)) AND %s ORDER BY t.id LIMIT $3`,
			l.PropsSQL("t", nil), l.TableIdent(), where)
		args = append([]any{l.Name, cells, limit}, wargs...)
	} else {
		sql = fmt.Sprintf(`SELECT t.id::text, ST_AsGeoJSON(t.geom), (%s)::text FROM %s t
WHERE ST_Intersects(t.geom, ST_SetSRID(ST_GeomFromWKB($1), 4326)) AND $2::int IS NOT NULL AND %s ORDER BY t.id LIMIT $3`,
			l.PropsSQL("t", nil), l.TableIdent(), where)
		args = append([]any{wkbOf(mp), 0, limit}, wargs...)
	}
	streamFeatures(w, r, s, l.Name, sql, args, map[string]any{"cells": parts})
}

// handleAggregate handles the "GET
// /api/v1/h3/aggregate?layer=&bbox=&res=&attr=&op=count|sum|mean" route:
// per H3 cell at res (the parent of each feature's cell), the count of the
// layer's features in bbox and the sum or mean of a numeric attribute, as a
// GeoJSON FeatureCollection of hexagons.
func (s *Server) handleAggregate(w http.ResponseWriter, r *http.Request) {
	p, ok := s.begin(w, r, "layer", "bbox", "res", "attr", "op")
	if !ok {
		return
	}
	l, err := s.layerParam("layer", p.str("layer"), false)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	b, _ := p.bbox(true)
	res := p.int("res", 8, 0, 15)
	if p.str("res") == "" {
		p.fail(errs.Invalid("res", "res (0..15) is required"))
	}
	op := p.str("op")
	if op == "" {
		op = "count"
	}
	if p.err != nil {
		httpapi.Error(w, r, p.err)
		return
	}
	attrSQL := "NULL::float8"
	switch op {
	case "count":
	case "sum", "mean":
		an := p.str("attr")
		a, ok := l.Attr(an)
		if !ok || (a.Type != spatial.TypeInteger && a.Type != spatial.TypeNumber) {
			httpapi.Error(w, r, errs.Invalid("attr", "op=%s needs attr naming a numeric attribute of %s, got %q", op, l.Name, an))
			return
		}
		attrSQL = pgx.Identifier{a.Name}.Sanitize() + "::float8"
	default:
		httpapi.Error(w, r, errs.Invalid("op", "op must be count, sum or mean, got %q", op))
		return
	}
	where, wargs := l.Where(7)
	sql := fmt.Sprintf(`SELECT ct_h3_parent(h3, $1) AS cell, count(*), sum(%s), avg(%s) FROM %s
WHERE geom && ST_MakeEnvelope($2, $3, $4, $5, 4326) AND h3 IS NOT NULL AND %s GROUP BY 1 ORDER BY 1 LIMIT $6`,
		attrSQL, attrSQL, l.TableIdent(), where)
	args := append([]any{res, b.Min[0], b.Min[1], b.Max[0], b.Max[1], MaxAggCells + 1}, wargs...)
	rows, err := s.Store.Pool.Query(r.Context(), sql, args...)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	defer rows.Close()
	type cellAgg struct {
		cell  int64
		count int64
		sum   *float64
		mean  *float64
	}
	var out []cellAgg
	for rows.Next() {
		var c cellAgg
		if err := rows.Scan(&c.cell, &c.count, &c.sum, &c.mean); err != nil {
			httpapi.Error(w, r, err)
			return
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if len(out) > MaxAggCells {
		httpapi.Error(w, r, errs.Invalid("res", "more than %d cells at resolution %d in this bbox; use a coarser res or a smaller bbox", MaxAggCells, res))
		return
	}
	features := make([]map[string]any, 0, len(out))
	var total int64
	for _, c := range out {
		cell := h3.Cell(c.cell)
		props := map[string]any{"cell": cell.String(), "count": c.count}
		switch op {
		case "count":
			props["value"] = c.count
		case "sum":
			props["value"] = c.sum
		case "mean":
			props["value"] = c.mean
		}
		total += c.count
		features = append(features, map[string]any{
			"type": "Feature", "id": cell.String(),
			"geometry":   map[string]any{"type": "Polygon", "coordinates": CellPolygon(cell)},
			"properties": props,
		})
	}
	httpapi.WriteJSONType(w, http.StatusOK, "application/geo+json", map[string]any{
		"type": "FeatureCollection", "layer": l.Name, "res": res, "op": op, "attr": p.str("attr"),
		"total": total, "features": features,
	})
}

// handleGaps handles the "GET
// /api/v1/coverage/gaps?layer=&bbox=&distance=&res=" route: the H3 cells
// of bbox at res whose centre has no feature of the layer (or device of
// kind, with layer=devices) within distance metres.
func (s *Server) handleGaps(w http.ResponseWriter, r *http.Request) {
	p, ok := s.begin(w, r, "layer", "kind", "bbox", "distance", "res")
	if !ok {
		return
	}
	name := p.str("layer")
	table, cond := "", "TRUE"
	var condArgs []any
	kind := p.str("kind")
	if name == "devices" {
		table, cond = "devices", "geom IS NOT NULL"
		if kind != "" {
			cond += " AND kind = $7"
			condArgs = append(condArgs, kind)
		}
	} else {
		l, err := s.layerParam("layer", name, false)
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		table = l.TableIdent()
		w0, wa := l.Where(7)
		cond, condArgs = w0, wa
		if kind != "" {
			if _, ok := l.Attr("kind"); !ok {
				httpapi.Error(w, r, errs.Invalid("kind", "layer %s has no kind", l.Name))
				return
			}
			cond += fmt.Sprintf(" AND kind = $%d", 7+len(condArgs))
			condArgs = append(condArgs, kind)
		}
	}
	b, _ := p.bbox(true)
	distance := p.float("distance", 5000, 1, MaxRadiusM, false)
	res := p.int("res", 7, 0, 12)
	if p.err != nil {
		httpapi.Error(w, r, p.err)
		return
	}
	area := geo.Area(b.ToPolygon())
	if n := area / h3.HexagonAreaAvgM2(res); n > MaxGapCells {
		httpapi.Error(w, r, errs.Invalid("res", "about %.0f cells at resolution %d in this bbox; at most %d", n, res, MaxGapCells))
		return
	}
	poly := b.ToPolygon()
	cells := h3.PolygonToCells(h3.GeoPolygon{GeoLoop: loopOf(poly[0])}, res)
	if len(cells) == 0 {
		cells = []h3.Cell{h3.LatLngToCell(h3.LatLng{Lat: b.Center()[1], Lng: b.Center()[0]}, res)}
	}
	ids := make([]int64, len(cells))
	lons := make([]float64, len(cells))
	lats := make([]float64, len(cells))
	for i, c := range cells {
		ll := c.LatLng()
		ids[i], lons[i], lats[i] = int64(c), ll.Lng, ll.Lat
	}
	dx, dy := expandDeg(distance, b.Center()[1])
	sql := fmt.Sprintf(`SELECT c.cell FROM unnest($1::bigint[], $2::float8[], $3::float8[]) AS c(cell, lon, lat)
WHERE NOT EXISTS (SELECT 1 FROM %s t WHERE t.geom && ST_Expand(ST_SetSRID(ST_MakePoint(c.lon, c.lat), 4326), $5, $6)
  AND ST_DWithin(t.geom::geography, ST_SetSRID(ST_MakePoint(c.lon, c.lat), 4326)::geography, $4) AND %s)
ORDER BY c.cell`, table, cond)
	args := append([]any{ids, lons, lats, distance, dx, dy}, condArgs...)
	rows, err := s.Store.Pool.Query(r.Context(), sql, args...)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	defer rows.Close()
	features := []map[string]any{}
	for rows.Next() {
		var c int64
		if err := rows.Scan(&c); err != nil {
			httpapi.Error(w, r, err)
			return
		}
		cell := h3.Cell(c)
		ll := cell.LatLng()
		features = append(features, map[string]any{
			"type": "Feature", "id": cell.String(),
			"geometry":   map[string]any{"type": "Polygon", "coordinates": CellPolygon(cell)},
			"properties": map[string]any{"cell": cell.String(), "center": []float64{round6(ll.Lng), round6(ll.Lat)}},
		})
	}
	if err := rows.Err(); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.WriteJSONType(w, http.StatusOK, "application/geo+json", map[string]any{
		"type": "FeatureCollection", "layer": name, "kind": kind, "res": res, "distance_m": distance,
		"cells_total": len(cells), "gaps": len(features), "features": features,
	})
}

func round6(f float64) float64 { return math.Round(f*1e6) / 1e6 }

func loopOf(r orb.Ring) h3.GeoLoop {
	n := len(r)
	if n > 1 && r[0].Equal(r[n-1]) {
		n--
	}
	l := make(h3.GeoLoop, n)
	for i := 0; i < n; i++ {
		l[i] = h3.LatLng{Lat: r[i][1], Lng: r[i][0]}
	}
	return l
}
