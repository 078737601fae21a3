package query

import (
	"context"
	"net/http"

	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/internal/httpapi"
)

// MaxImpactItems bounds the items listed per kind (counts are complete).
const MaxImpactItems = 500

// Impact is what a point or area affects within a radius.
type Impact struct {
	Point     *[2]float64 `json:"point,omitempty"`
	RadiusM   float64     `json:"radius_m"`
	Buildings struct {
		Count  int            `json:"count"`
		Floors int64          `json:"floors"`
		ByUse  map[string]int `json:"by_use"`
		Items  []ImpactItem   `json:"items"`
	} `json:"buildings"`
	Pipes struct {
		Count     int                       `json:"count"`
		ByNetwork map[string]*NetworkImpact `json:"by_network"`
		Items     []ImpactItem              `json:"items"`
	} `json:"pipes"`
	Poles struct {
		Count int          `json:"count"`
		Items []ImpactItem `json:"items"`
	} `json:"poles"`
	Cameras struct {
		Count int          `json:"count"`
		Items []ImpactItem `json:"items"`
	} `json:"cameras"`
}

// NetworkImpact counts the pipes of one network and their length within
// the area.
type NetworkImpact struct {
	Count   int     `json:"count"`
	LengthM float64 `json:"length_m"`
}

// ImpactItem is one affected feature, with its distance from the point or
// area (0 inside) and its main attributes.
type ImpactItem struct {
	ID        int64          `json:"id"`
	Name      *string        `json:"name,omitempty"`
	DistanceM float64        `json:"distance_m"`
	Attrs     map[string]any `json:"attributes"`
}

// handleImpact handles the "GET /api/v1/impact?lon=&lat=&radius=" and "POST
// /api/v1/impact?radius=" (GeoJSON polygon body) routes.
func (s *Server) handleImpact(w http.ResponseWriter, r *http.Request) {
	allowed := []string{"radius"}
	if r.Method == http.MethodGet {
		allowed = append(allowed, "lon", "lat")
	}
	p, ok := s.begin(w, r, allowed...)
	if !ok {
		return
	}
	var g orb.Geometry
	var out Impact
	if r.Method == http.MethodGet {
		pt := p.point()
		g = pt
		out.Point = &[2]float64{pt[0], pt[1]}
	}
	def := 200.0
	if r.Method == http.MethodPost {
		def = 0
	}
	out.RadiusM = p.float("radius", def, 0, MaxRadiusM, false)
	if p.err != nil {
		httpapi.Error(w, r, p.err)
		return
	}
	if r.Method == http.MethodPost {
		var err error
		g, _, err = readGeometry(w, r, "geometry")
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
	}
	if err := s.impact(r.Context(), g, &out); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) impact(ctx context.Context, g orb.Geometry, out *Impact) error {
	b := g.Bound()
	dx, dy := expandDeg(out.RadiusM, b.Center()[1])
	// $1 area WKB, $2 radius m, $3/$4 expansion in degrees.
	area := `WITH a AS (SELECT ST_SetSRID(ST_GeomFromWKB($1), 4326) AS g, $2::float8 AS r, $3::float8 AS dx, $4::float8 AS dy)`
	// Inside the area is decided in lon/lat, where RFC 7946 draws a
	// GeoJSON polygon's edges (a geography would take them as great
	// circles: a polygon spanning the globe then covers another area);
	// metres from it on the spheroid.
	near := `t.geom && ST_Expand(a.g, a.dx, a.dy) AND (ST_Intersects(t.geom, a.g) OR ST_DWithin(t.geom::geography, a.g::geography, a.r))`
	dist := `CASE WHEN ST_Intersects(t.geom, a.g) THEN 0 ELSE round(ST_Distance(t.geom::geography, a.g::geography)::numeric, 2)::float8 END`
	args := []any{wkbOf(g), out.RadiusM, dx, dy}
	scan := func(sql string, fn func(id int64, name *string, d float64, attrs map[string]any)) error {
		rows, err := s.Store.Pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var name *string
			var d float64
			var attrs map[string]any
			if err := rows.Scan(&id, &name, &d, &attrs); err != nil {
				return err
			}
			fn(id, name, d, attrs)
		}
		return rows.Err()
	}
	out.Buildings.ByUse = map[string]int{}
	out.Buildings.Items = []ImpactItem{}
	err := scan(area+` SELECT t.id, t.name, `+dist+` AS d, jsonb_build_object('use', t.use, 'floors', t.floors, 'height_m', t.height_m, 'address', t.address)
FROM buildings t, a WHERE `+near+` ORDER BY d, t.id`, func(id int64, name *string, d float64, attrs map[string]any) {
		out.Buildings.Count++
		if f, ok := attrs["floors"].(float64); ok {
			out.Buildings.Floors += int64(f)
		}
		use, _ := attrs["use"].(string)
		if use == "" {
			use = "unknown"
		}
		out.Buildings.ByUse[use]++
		if len(out.Buildings.Items) < MaxImpactItems {
			out.Buildings.Items = append(out.Buildings.Items, ImpactItem{id, name, d, attrs})
		}
	})
	if err != nil {
		return err
	}
	out.Pipes.ByNetwork = map[string]*NetworkImpact{}
	out.Pipes.Items = []ImpactItem{}
	err = scan(area+`, b AS (SELECT ST_Union(a.g, ST_Buffer(a.g::geography, greatest(a.r, 0.01))::geometry) AS g FROM a)
SELECT t.id, t.name, `+dist+` AS d, jsonb_build_object('network', t.network, 'kind', t.kind, 'diameter_mm', t.diameter_mm, 'status', t.status, 'material', t.material,
  'length_in_area_m', round(ST_Length(ST_Intersection(t.geom, b.g)::geography)::numeric, 1))
FROM pipes t, a, b WHERE `+near+` ORDER BY d, t.id`, func(id int64, name *string, d float64, attrs map[string]any) {
		out.Pipes.Count++
		n, _ := attrs["network"].(string)
		ni := out.Pipes.ByNetwork[n]
		if ni == nil {
			ni = &NetworkImpact{}
			out.Pipes.ByNetwork[n] = ni
		}
		ni.Count++
		if l, ok := attrs["length_in_area_m"].(float64); ok {
			ni.LengthM += l
		}
		if len(out.Pipes.Items) < MaxImpactItems {
			out.Pipes.Items = append(out.Pipes.Items, ImpactItem{id, name, d, attrs})
		}
	})
	if err != nil {
		return err
	}
	out.Poles.Items = []ImpactItem{}
	err = scan(area+` SELECT t.id, t.name, `+dist+` AS d, jsonb_build_object('functions', t.functions, 'status', t.status, 'road', t.road)
FROM smart_poles t, a WHERE `+near+` ORDER BY d, t.id`, func(id int64, name *string, d float64, attrs map[string]any) {
		out.Poles.Count++
		if len(out.Poles.Items) < MaxImpactItems {
			out.Poles.Items = append(out.Poles.Items, ImpactItem{id, name, d, attrs})
		}
	})
	if err != nil {
		return err
	}
	// Cameras whose sector (direction ± fov/2, out to range_m) covers the
	// point, or the area's point nearest to the camera; a camera inside the
	// area sees it whatever its direction.
	out.Cameras.Items = []ImpactItem{}
	err = scan(area+`, c AS (
  SELECT t.*, ST_ClosestPoint(a.g, t.geom) AS cp FROM cameras t, a
  WHERE t.range_m IS NOT NULL AND t.geom && ST_Expand(a.g, a.dx + 0.05, a.dy + 0.05)
), d AS (
  SELECT c.*, ST_Distance(c.geom::geography, c.cp::geography) AS dm, degrees(ST_Azimuth(c.geom::geography, c.cp::geography)) AS az FROM c
)
SELECT d.id, d.name, round(d.dm::numeric, 2)::float8 AS dd, jsonb_build_object('direction_deg', d.direction_deg, 'fov_deg', d.fov_deg, 'range_m', d.range_m,
  'status', d.status, 'stream_url', d.stream_url, 'pole', d.pole, 'bearing_deg', round(d.az::numeric, 1))
FROM d WHERE d.dm <= d.range_m AND (d.az IS NULL OR d.fov_deg IS NULL OR d.fov_deg >= 360 OR d.direction_deg IS NULL OR
  abs((d.az - d.direction_deg + 540) - 360 * floor((d.az - d.direction_deg + 540) / 360) - 180) <= d.fov_deg / 2)
ORDER BY dd, d.id`, func(id int64, name *string, d float64, attrs map[string]any) {
		out.Cameras.Count++
		if len(out.Cameras.Items) < MaxImpactItems {
			out.Cameras.Items = append(out.Cameras.Items, ImpactItem{id, name, d, attrs})
		}
	})
	return err
}
