package tiles_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/encoding/wkt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
	"github.com/paulmach/orb/planar"

	"github.com/citytwin/citytwin/internal/app"
	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/config"
	"github.com/citytwin/citytwin/spatial"
)

// The test district sits in Dezhou; tiles are taken around these points.
var (
	centre = orb.Point{116.3575, 37.4355}
	far    = orb.Point{116.5210, 37.3010} // another z14 tile, with one building
)

// square returns a square polygon of side d degrees centred on p.
func square(p orb.Point, d float64) orb.MultiPolygon {
	h := d / 2
	return orb.MultiPolygon{{{
		{p[0] - h, p[1] - h}, {p[0] + h, p[1] - h}, {p[0] + h, p[1] + h}, {p[0] - h, p[1] + h}, {p[0] - h, p[1] - h},
	}}}
}

// insertBuilding stores a building and returns its id.
func insertBuilding(t testing.TB, pool *pgxpool.Pool, g orb.MultiPolygon, use string, height float64, floors int, name, address string) int64 {
	t.Helper()
	var id int64
	err := pool.QueryRow(context.Background(), `INSERT INTO buildings (name, address, use, height_m, floors, year_built, h3, geom)
		VALUES ($1, $2, $3, $4, $5, 1999, $6, ST_GeomFromText($7, 4326)) RETURNING id`,
		name, address, use, height, floors, int64(spatial.FeatureCell(g)), wkt.MarshalString(g)).Scan(&id)
	if err != nil {
		t.Fatalf("insert building: %v", err)
	}
	return id
}

// tileURL is the URL of the z tile holding p in map (and layer).
func tileURL(a *app.App, m, layer string, p orb.Point, z maptile.Zoom) (string, maptile.Tile) {
	tl := maptile.At(p, z)
	if layer != "" {
		m += "/" + layer
	}
	return fmt.Sprintf("%s/tiles/%s/%d/%d/%d.pbf", a.URL(), m, tl.Z, tl.X, tl.Y), tl
}

// getTile fetches and decodes a tile; it fails on anything but 200 or 204.
func getTile(t *testing.T, url, key string, tl maptile.Tile) (*http.Response, map[string]*geojson.FeatureCollection) {
	t.Helper()
	resp, body := apptest.Do(t, "GET", url, key, nil, "Accept-Encoding", "identity")
	switch resp.StatusCode {
	case http.StatusNoContent:
		return resp, map[string]*geojson.FeatureCollection{}
	case http.StatusOK:
	default:
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.mapbox-vector-tile" {
		t.Fatalf("GET %s: Content-Type %q", url, ct)
	}
	layers, err := mvt.Unmarshal(body)
	if err != nil {
		t.Fatalf("GET %s: not an MVT: %v", url, err)
	}
	layers.ProjectToWGS84(tl)
	return resp, layers.ToFeatureCollections()
}

func featureByID(fc *geojson.FeatureCollection, id int64) *geojson.Feature {
	if fc == nil {
		return nil
	}
	for _, f := range fc.Features {
		if v, ok := f.ID.(float64); ok && int64(v) == id {
			return f
		}
	}
	return nil
}

// near reports whether a and b are within tol degrees.
func near(a, b orb.Point, tol float64) bool {
	return math.Abs(a[0]-b[0]) <= tol && math.Abs(a[1]-b[1]) <= tol
}

func TestBaseTileMatchesDatabase(t *testing.T) {
	a := apptest.MustRun(t)
	key := apptest.Key(t, a, auth.Viewer)
	ids := map[int64]orb.MultiPolygon{}
	for i, use := range []string{"residential", "office", "school"} {
		g := square(orb.Point{centre[0] + float64(i)*0.001, centre[1]}, 0.0004)
		ids[insertBuilding(t, a.Pool, g, use, 12+float64(i)*10, 4+i, fmt.Sprintf("B%d", i), "1 Main St")] = g
	}
	if _, err := a.Pool.Exec(context.Background(), `INSERT INTO roads (name, name_en, class, lanes, oneway, geom)
		VALUES ('德州大道', 'Dezhou Dadao', 'primary', 4, false, ST_GeomFromText('MULTILINESTRING((116.355 37.435, 116.360 37.436))', 4326))`); err != nil {
		t.Fatal(err)
	}

	for _, z := range []maptile.Zoom{14, 16} {
		url, tl := tileURL(a, "base", "", centre, z)
		if z == 16 {
			url, tl = tileURL(a, "base", "", orb.Point{centre[0] + 0.001, centre[1]}, z)
		}
		_, fcs := getTile(t, url, key, tl)
		b := fcs["buildings"]
		if b == nil {
			t.Fatalf("z%d: no buildings layer; layers: %v", z, keys(fcs))
		}
		var rows int
		err := a.Pool.QueryRow(context.Background(), `SELECT count(*) FROM buildings WHERE geom && ST_MakeEnvelope($1, $2, $3, $4, 4326)`,
			tl.Bound().Min[0], tl.Bound().Min[1], tl.Bound().Max[0], tl.Bound().Max[1]).Scan(&rows)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Features) != rows {
			t.Fatalf("z%d: %d buildings in the tile, %d in the database", z, len(b.Features), rows)
		}
		for id, g := range ids {
			f := featureByID(b, id)
			if f == nil {
				if tl.Bound().Intersects(g.Bound()) {
					t.Fatalf("z%d: building %d missing", z, id)
				}
				continue
			}
			var use string
			var height float64
			var floors int
			if err := a.Pool.QueryRow(context.Background(), `SELECT use, height_m, floors FROM buildings WHERE id = $1`, id).Scan(&use, &height, &floors); err != nil {
				t.Fatal(err)
			}
			if f.Properties["use"] != use || f.Properties["height_m"] != height || f.Properties["floors"] != float64(floors) {
				t.Fatalf("z%d: building %d properties %v, database use=%s height=%g floors=%d", z, id, f.Properties, use, height, floors)
			}
			if _, ok := f.Properties["name"]; !ok {
				t.Fatalf("z%d: name missing (TileMinZoom 14): %v", z, f.Properties)
			}
			if _, ok := f.Properties["address"]; ok != (z >= 16) {
				t.Fatalf("z%d: address present=%v, but its TileMinZoom is 16", z, ok)
			}
			// positions: the decoded polygon's centroid is the stored one's,
			// clipped to the tile and its 64-unit buffer, to within a few
			// units of the 4096 grid
			tol := 4 * (tl.Bound().Max[0] - tl.Bound().Min[0]) / 4096
			var gc orb.Point
			err = a.Pool.QueryRow(context.Background(), `SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Transform(ST_Centroid(
				ST_ClipByBox2D(ST_Transform(geom, 3857), ST_Expand(ST_TileEnvelope($2, $3, $4), (ST_XMax(ST_TileEnvelope($2, $3, $4)) - ST_XMin(ST_TileEnvelope($2, $3, $4))) * 64 / 4096))), 4326) AS c
				FROM buildings WHERE id = $1) t`, id, int(tl.Z), int(tl.X), int(tl.Y)).Scan(&gc[0], &gc[1])
			if err != nil {
				t.Fatal(err)
			}
			fc, _ := planar.CentroidArea(f.Geometry)
			if !near(gc, fc, tol) {
				t.Fatalf("z%d: building %d centroid %v, database %v", z, id, fc, gc)
			}
		}
	}
	// roads at z14 carry class and name but not lanes (TileMinZoom 15)
	url, tl := tileURL(a, "base", "roads", centre, 14)
	_, fcs := getTile(t, url, key, tl)
	if len(fcs) != 1 || fcs["roads"] == nil || len(fcs["roads"].Features) != 1 {
		t.Fatalf("per-layer tile: want one road only, got %v", keys(fcs))
	}
	p := fcs["roads"].Features[0].Properties
	if p["class"] != "primary" || p["name"] != "德州大道" || p["name_en"] != "Dezhou Dadao" {
		t.Fatalf("road properties %v", p)
	}
	if _, ok := p["lanes"]; ok {
		t.Fatalf("lanes at z14: %v", p)
	}
}

func keys(m map[string]*geojson.FeatureCollection) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestInfraTile(t *testing.T) {
	a := apptest.MustRun(t, func(c *config.Config) { c.PublicReads = true })
	ctx := context.Background()
	var pipe, valve, pole, site int64
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.Pool.QueryRow(ctx, `INSERT INTO pipes (network, diameter_mm, depth_m, status, geom)
		VALUES ('water', 300, 1.5, 'ok', ST_GeomFromText('LINESTRING(116.3570 37.4350, 116.3580 37.4360)', 4326)) RETURNING id`).Scan(&pipe))
	must(a.Pool.QueryRow(ctx, `INSERT INTO network_nodes (network, kind, valve_state, geom)
		VALUES ('water', 'valve', 'closed', ST_GeomFromText('POINT(116.3575 37.4355)', 4326)) RETURNING id`).Scan(&valve))
	must(a.Pool.QueryRow(ctx, `INSERT INTO smart_poles (functions, status, geom)
		VALUES ('{light,camera}', 'fault', ST_GeomFromText('POINT(116.3576 37.4356)', 4326)) RETURNING id`).Scan(&pole))
	must(a.Pool.QueryRow(ctx, `INSERT INTO project_sites (name, stage, progress_pct, start_date, geom)
		VALUES ('Metro depot', 'under_construction', 42.5, '2025-03-01', ST_GeomFromText($1, 4326)) RETURNING id`,
		wkt.MarshalString(square(centre, 0.002))).Scan(&site))

	url, tl := tileURL(a, "infra", "", centre, 15)
	_, fcs := getTile(t, url, "", tl)
	check := func(layer string, id int64, want map[string]any) *geojson.Feature {
		t.Helper()
		f := featureByID(fcs[layer], id)
		if f == nil {
			t.Fatalf("%s %d missing; layers %v", layer, id, keys(fcs))
		}
		for k, v := range want {
			if f.Properties[k] != v {
				t.Fatalf("%s %d: %s = %v, want %v (all: %v)", layer, id, k, f.Properties[k], v, f.Properties)
			}
		}
		return f
	}
	check("pipes", pipe, map[string]any{"network": "water", "diameter_mm": 300.0, "depth_m": 1.5, "status": "ok"})
	f := check("network_nodes", valve, map[string]any{"kind": "valve", "valve_state": "closed"})
	tol := 4 * (tl.Bound().Max[0] - tl.Bound().Min[0]) / 4096
	if pt, ok := f.Geometry.(orb.Point); !ok || !near(pt, orb.Point{116.3575, 37.4355}, tol) {
		t.Fatalf("valve at %v", f.Geometry)
	}
	check("smart_poles", pole, map[string]any{"functions": "light,camera", "status": "fault"})
	check("project_sites", site, map[string]any{"stage": "under_construction", "progress_pct": 42.5, "start_date": "2025-03-01"})
	if fcs["buildings"] != nil {
		t.Fatal("infra map carries buildings")
	}
}

func TestEditedFeatureIsFreshInNextTile(t *testing.T) {
	a := apptest.MustRun(t, func(c *config.Config) { c.PublicReads = true })
	ctx := context.Background()
	g := square(centre, 0.0004)
	id := insertBuilding(t, a.Pool, g, "residential", 10, 3, "A", "")
	farID := insertBuilding(t, a.Pool, square(far, 0.0004), "office", 50, 12, "F", "")

	url, tl := tileURL(a, "base", "", centre, 15)
	layerURL, _ := tileURL(a, "base", "buildings", centre, 15)
	farURL, farTile := tileURL(a, "base", "", far, 15)
	for _, u := range []string{url, layerURL} {
		resp, fcs := getTile(t, u, "", tl)
		if resp.Header.Get("X-Tile-Cache") != "miss" || featureByID(fcs["buildings"], id).Properties["height_m"] != 10.0 {
			t.Fatalf("first fetch: %s %v", resp.Header.Get("X-Tile-Cache"), fcs["buildings"].Features[0].Properties)
		}
		if resp, _ := getTile(t, u, "", tl); resp.Header.Get("X-Tile-Cache") != "hit" {
			t.Fatalf("second fetch of %s not from the cache", u)
		}
	}
	getTile(t, farURL, "", farTile)

	// the edit: SQL, then the store's change notice, as every writer does
	if _, err := a.Pool.Exec(ctx, `UPDATE buildings SET height_m = 99, use = 'hospital' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	a.Store.Changed(ctx, spatial.Change{Layer: "buildings", IDs: []int64{id}, Bound: g.Bound()})

	for _, u := range []string{url, layerURL} {
		resp, fcs := getTile(t, u, "", tl)
		f := featureByID(fcs["buildings"], id)
		if resp.Header.Get("X-Tile-Cache") != "miss" || f.Properties["height_m"] != 99.0 || f.Properties["use"] != "hospital" {
			t.Fatalf("after the edit %s: %s %v", u, resp.Header.Get("X-Tile-Cache"), f.Properties)
		}
	}
	// the far tile was not touched by the edit and stays cached
	resp, fcs := getTile(t, farURL, "", farTile)
	if resp.Header.Get("X-Tile-Cache") != "hit" || featureByID(fcs["buildings"], farID) == nil {
		t.Fatalf("far tile: %s", resp.Header.Get("X-Tile-Cache"))
	}
	// every zoom holding the feature was dropped, lower ones too
	for z := maptile.Zoom(12); z <= 18; z++ {
		u, tz := tileURL(a, "base", "", centre, z)
		getTile(t, u, "", tz)
	}
	// an edit through the feature API (OGC API - Features, merge patch)
	op := apptest.Key(t, a, auth.Operator)
	getTile(t, url, "", tl)
	resp, b := apptest.DoJSON(t, "PATCH", fmt.Sprintf("%s/ogc/collections/buildings/items/%d", a.URL(), id), op, `{"properties": {"height_m": 77}}`)
	if resp.StatusCode != 200 {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, b)
	}
	resp, fcs = getTile(t, url, "", tl)
	if f := featureByID(fcs["buildings"], id); resp.Header.Get("X-Tile-Cache") != "miss" || f.Properties["height_m"] != 77.0 {
		t.Fatalf("after the API edit: %s %v", resp.Header.Get("X-Tile-Cache"), f.Properties)
	}
	if _, err := a.Pool.Exec(ctx, `UPDATE buildings SET height_m = 7 WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	a.Store.Changed(ctx, spatial.Change{Layer: "buildings", IDs: []int64{id}, Bound: g.Bound()})
	for z := maptile.Zoom(12); z <= 18; z++ {
		u, tz := tileURL(a, "base", "", centre, z)
		resp, fcs := getTile(t, u, "", tz)
		f := featureByID(fcs["buildings"], id)
		if resp.Header.Get("X-Tile-Cache") != "miss" || f == nil || f.Properties["height_m"] != 7.0 {
			t.Fatalf("z%d after the second edit: %s %v", z, resp.Header.Get("X-Tile-Cache"), f)
		}
	}
}

func TestTileHTTP(t *testing.T) {
	a := apptest.MustRun(t, func(c *config.Config) { c.PublicReads = true })
	insertBuilding(t, a.Pool, square(centre, 0.0004), "residential", 10, 3, "A", "")
	url, _ := tileURL(a, "base", "", centre, 15)

	resp, gz := apptest.Do(t, "GET", url, "", nil, "Accept-Encoding", "gzip")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("ETag") == "" {
		t.Fatalf("gzip: %d %v", resp.StatusCode, resp.Header)
	}
	if _, err := mvt.UnmarshalGzipped(gz); err != nil {
		t.Fatalf("gzip body: %v", err)
	}
	if cc := resp.Header.Get("Cache-Control"); cc == "" {
		t.Fatal("no Cache-Control")
	}
	resp2, _ := apptest.Do(t, "GET", url, "", nil, "Accept-Encoding", "gzip", "If-None-Match", resp.Header.Get("ETag"))
	if resp2.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", resp2.StatusCode)
	}
	resp3, raw := apptest.Do(t, "GET", url, "", nil, "Accept-Encoding", "identity")
	if resp3.StatusCode != 200 || resp3.Header.Get("Content-Encoding") != "" || resp3.Header.Get("ETag") == resp.Header.Get("ETag") {
		t.Fatalf("identity: %d %v", resp3.StatusCode, resp3.Header)
	}
	if _, err := mvt.Unmarshal(raw); err != nil {
		t.Fatalf("identity body: %v", err)
	}
	// an empty tile (open sea) is 204
	sea, _ := tileURL(a, "base", "", orb.Point{-30, 0}, 14)
	if resp, b := apptest.Do(t, "GET", sea, "", nil); resp.StatusCode != http.StatusNoContent || len(b) != 0 {
		t.Fatalf("empty tile: %d %d bytes", resp.StatusCode, len(b))
	}
	// a zoom below every layer of the map is empty too, without a query
	if resp, _ := apptest.Do(t, "GET", a.URL()+"/tiles/infra/2/3/1.pbf", "", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("z2 infra: %d", resp.StatusCode)
	}
}

func TestTileReadsNeedAKey(t *testing.T) {
	a := apptest.MustRun(t)
	url, _ := tileURL(a, "base", "", centre, 15)
	if resp, b := apptest.Do(t, "GET", url, "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d %s", resp.StatusCode, b)
	}
	key := apptest.Key(t, a, auth.Viewer)
	if resp, b := apptest.Do(t, "GET", url+"?access_token="+key, "", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("access_token: %d %s", resp.StatusCode, b)
	}
}

func TestBadTileRequests(t *testing.T) {
	a := apptest.MustRun(t, func(c *config.Config) { c.PublicReads = true })
	cases := []struct {
		path   string
		status int
		where  string
	}{
		{"/tiles/base/23/0/0.pbf", 400, "z"},
		{"/tiles/base/99999999999/0/0.pbf", 400, "z"},
		{"/tiles/base/-1/0/0.pbf", 400, "z"},
		{"/tiles/base/a/0/0.pbf", 400, "z"},
		{"/tiles/base/1/2/0.pbf", 400, "x"},
		{"/tiles/base/1/0/2.pbf", 400, "y"},
		{"/tiles/base/1/0/x.pbf", 400, "y"},
		{"/tiles/base/1/1.5/0.pbf", 400, "x"},
		{"/tiles/base/1/0/0.png", 400, "y"},
		{"/tiles/base/1/0/0", 400, "y"},
		{"/tiles/nope/1/0/0.pbf", 404, "map"},
		{"/tiles/base/pipes/14/0/0.pbf", 404, "layer"},
		{"/tiles/base/nolayer/1/0/0.pbf", 404, "layer"},
		{"/tiles/nope.json", 404, "map"},
		{"/tiles/base.xml", 404, ""},
		{"/tiles/base/1/0", 404, ""},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.path, "/", "_"), func(t *testing.T) {
			resp, b := apptest.Do(t, "GET", a.URL()+tc.path, "", nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("%s: %d %s, want %d", tc.path, resp.StatusCode, b, tc.status)
			}
			_, _, where := apptest.ErrorBody(t, b)
			if where != tc.where {
				t.Fatalf("%s: where %q, want %q (%s)", tc.path, where, tc.where, b)
			}
		})
	}
	// none of them reached tegola: no tile was rendered
	_, m := apptest.Do(t, "GET", a.URL()+"/metrics", "", nil)
	for _, line := range strings.Split(string(m), "\n") {
		if strings.HasPrefix(line, "citytwin_tiles_render_seconds_count") && !strings.HasSuffix(line, " 0") {
			t.Fatalf("bad requests rendered tiles: %s", line)
		}
	}
}

func TestPurgeByBBox(t *testing.T) {
	a := apptest.MustRun(t, func(c *config.Config) { c.PublicReads = true })
	insertBuilding(t, a.Pool, square(centre, 0.0004), "residential", 10, 3, "A", "")
	insertBuilding(t, a.Pool, square(far, 0.0004), "office", 20, 5, "F", "")
	near, tl := tileURL(a, "base", "", centre, 14)
	farURL, farTile := tileURL(a, "base", "", far, 14)
	getTile(t, near, "", tl)
	getTile(t, farURL, "", farTile)

	admin := apptest.Key(t, a, auth.Admin)
	op := apptest.Key(t, a, auth.Operator)
	body := fmt.Sprintf(`{"layer": "buildings", "bbox": [%f, %f, %f, %f], "minzoom": 10, "maxzoom": 16}`,
		centre[0]-0.0002, centre[1]-0.0002, centre[0]+0.0002, centre[1]+0.0002)
	if resp, b := apptest.DoJSON(t, "POST", a.URL()+"/api/v1/tiles/purge", "", body); resp.StatusCode != 401 {
		t.Fatalf("anonymous purge: %d %s", resp.StatusCode, b)
	}
	if resp, b := apptest.DoJSON(t, "POST", a.URL()+"/api/v1/tiles/purge", op, body); resp.StatusCode != 403 {
		t.Fatalf("operator purge: %d %s", resp.StatusCode, b)
	}
	resp, b := apptest.DoJSON(t, "POST", a.URL()+"/api/v1/tiles/purge", admin, body)
	if resp.StatusCode != 200 {
		t.Fatalf("purge: %d %s", resp.StatusCode, b)
	}
	var out struct{ Purged int }
	if err := json.Unmarshal(b, &out); err != nil || out.Purged != 1 {
		t.Fatalf("purge answer %s, want 1 tile purged", b)
	}
	if resp, _ := getTile(t, near, "", tl); resp.Header.Get("X-Tile-Cache") != "miss" {
		t.Fatal("purged tile still cached")
	}
	if resp, _ := getTile(t, farURL, "", farTile); resp.Header.Get("X-Tile-Cache") != "hit" {
		t.Fatal("tile outside the bbox was purged")
	}
	// a purge outside the zoom range spares the tile
	getTile(t, near, "", tl)
	body = strings.Replace(body, `"minzoom": 10, "maxzoom": 16`, `"minzoom": 15, "maxzoom": 22`, 1)
	if resp, b := apptest.DoJSON(t, "POST", a.URL()+"/api/v1/tiles/purge", admin, body); resp.StatusCode != 200 {
		t.Fatalf("purge: %d %s", resp.StatusCode, b)
	}
	if resp, _ := getTile(t, near, "", tl); resp.Header.Get("X-Tile-Cache") != "hit" {
		t.Fatal("a purge of z15-22 dropped a z14 tile")
	}

	bad := []struct{ body, where string }{
		{`{"layer": "nope"}`, "layer"},
		{`{"bbox": [1, 2, 3]}`, "bbox"},
		{`{"bbox": [10, 0, 5, 1]}`, "bbox"},
		{`{"bbox": [0, -95, 1, 1]}`, "bbox"},
		{`{"minzoom": 5, "maxzoom": 2}`, "minzoom"},
		{`{"maxzoom": 23}`, "maxzoom"},
		{`{"minzoom": -1}`, "minzoom"},
		{`{"layers": "buildings"}`, "layers"},
		{`{"bbox": "1,2,3,4"}`, "bbox"},
		{`not json`, "body"},
	}
	for _, tc := range bad {
		resp, b := apptest.DoJSON(t, "POST", a.URL()+"/api/v1/tiles/purge", admin, tc.body)
		if resp.StatusCode != 400 {
			t.Fatalf("%s: %d %s", tc.body, resp.StatusCode, b)
		}
		if _, _, where := apptest.ErrorBody(t, b); !strings.HasPrefix(where, tc.where) {
			t.Fatalf("%s: where %q, want %q", tc.body, where, tc.where)
		}
	}
}

func TestNoStaleTileUnderConcurrentReads(t *testing.T) {
	a := apptest.MustRun(t, func(c *config.Config) { c.PublicReads = true })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := square(centre, 0.0004)
	id := insertBuilding(t, a.Pool, g, "residential", 1, 1, "A", "")
	url, tl := tileURL(a, "base", "buildings", centre, 15)
	done := make(chan struct{})
	for i := 0; i < 4; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}()
	}
	for v := 2; v <= 12; v++ {
		if _, err := a.Pool.Exec(ctx, `UPDATE buildings SET height_m = $2 WHERE id = $1`, id, v); err != nil {
			t.Fatal(err)
		}
		a.Store.Changed(ctx, spatial.Change{Layer: "buildings", IDs: []int64{id}, Bound: g.Bound()})
		_, fcs := getTile(t, url, "", tl)
		if f := featureByID(fcs["buildings"], id); f == nil || f.Properties["height_m"] != float64(v) {
			t.Fatalf("write %d returned, next tile has %v", v, f)
		}
	}
	cancel()
	for i := 0; i < 4; i++ {
		<-done
	}
}

func TestUserLayerInBaseMap(t *testing.T) {
	a := apptest.MustRun(t, func(c *config.Config) { c.PublicReads = true })
	ctx := context.Background()
	tx, err := a.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l, err := spatial.EnsureUserLayer(ctx, tx, a.Registry, "trees", "Trees", "Point")
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO user_features (layer, geom) VALUES ('trees', ST_SetSRID(ST_MakePoint($1, $2), 4326)) RETURNING id`,
		centre[0], centre[1]).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	a.Registry.Add(l)
	a.Store.Changed(ctx, spatial.Change{Layer: "trees", IDs: []int64{id}, Bound: orb.Bound{Min: centre, Max: centre}})
	url, tl := tileURL(a, "base", "trees", centre, 15)
	_, fcs := getTile(t, url, "", tl)
	if featureByID(fcs["trees"], id) == nil {
		t.Fatalf("user layer feature missing: %v", keys(fcs))
	}
}
