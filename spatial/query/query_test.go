package query_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
	h3 "github.com/uber/h3-go/v4"

	"github.com/citytwin/citytwin/internal/app"
	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/spatial"
	"github.com/citytwin/citytwin/spatial/query"
)

// P is the point the fixtures are laid out around.
var P = orb.Point{116.30, 37.45}

func at(bearing, d float64) orb.Point { return geo.PointAtBearingAndDistance(P, bearing, d) }

func square(c orb.Point, half float64) orb.Polygon {
	sw := geo.PointAtBearingAndDistance(geo.PointAtBearingAndDistance(c, 180, half), 270, half)
	ne := geo.PointAtBearingAndDistance(geo.PointAtBearingAndDistance(c, 0, half), 90, half)
	return orb.Bound{Min: sw, Max: ne}.ToPolygon()
}

type fixture struct {
	a   *app.App
	ids map[string]int64
}

func insert(t *testing.T, f *fixture, key, layer string, g orb.Geometry, attrs map[string]any) {
	t.Helper()
	ctx := auth.WithPrincipal(context.Background(), &auth.Principal{Name: "fixture", Role: auth.Admin})
	out, err := f.a.Store.InsertFeature(ctx, &spatial.Feature{Layer: layer, Geometry: g, Attrs: attrs, SourceID: key})
	if err != nil {
		t.Fatalf("insert %s: %v", key, err)
	}
	f.ids[key] = out.ID
}

func setup(t *testing.T) *fixture {
	t.Helper()
	a := apptest.MustRun(t)
	f := &fixture{a: a, ids: map[string]int64{}}
	for _, p := range []struct {
		key     string
		bearing float64
		d       float64
	}{{"pole100", 90, 100}, {"pole190", 0, 190}, {"pole500", 180, 500}, {"pole2k", 270, 2000}} {
		insert(t, f, p.key, "smart_poles", at(p.bearing, p.d), map[string]any{"name": p.key, "functions": []string{"light", "camera"}})
	}
	insert(t, f, "b50", "buildings", square(at(0, 50), 10), map[string]any{"name": "Central Hospital", "use": "hospital", "floors": int64(5)})
	insert(t, f, "b150", "buildings", square(at(90, 150), 10), map[string]any{"name": "Riverside Flats", "use": "residential", "floors": int64(10)})
	insert(t, f, "b1k", "buildings", square(at(200, 1000), 10), map[string]any{"name": "No. 3 School", "use": "school", "floors": int64(3)})
	insert(t, f, "water1", "pipes", orb.LineString{at(270, 60), at(90, 60)}, map[string]any{"network": "water", "kind": "main", "diameter_mm": 300.0})
	insert(t, f, "gas1", "pipes", orb.LineString{at(0, 1000), at(0, 1200)}, map[string]any{"network": "gas", "kind": "pipe"})
	cams := []struct {
		key              string
		bearing, d       float64
		dir, fov, rangeM float64
	}{
		{"camA", 270, 100, 90, 60, 150},  // west of P looking east: sees P
		{"camB", 270, 100, 0, 60, 150},   // looking north: does not
		{"camC", 270, 100, 90, 60, 50},   // too short
		{"camD", 180, 300, 0, 30, 400},   // south looking north: sees P
		{"camE", 180, 300, 350, 30, 400}, // 10° off, fov 30: sees P
		{"camF", 180, 300, 330, 30, 400}, // 30° off, fov 30: does not
	}
	for _, c := range cams {
		insert(t, f, c.key, "cameras", at(c.bearing, c.d), map[string]any{"name": c.key, "direction_deg": c.dir, "fov_deg": c.fov, "range_m": c.rangeM})
	}
	if _, err := a.Pool.Exec(context.Background(), `INSERT INTO devices (id, kind, geom) VALUES ('ws1', 'weather_station', ST_SetSRID(ST_MakePoint($1, $2), 4326)),
		('aq1', 'air_quality', ST_SetSRID(ST_MakePoint($3, $4), 4326))`, P[0], P[1], P[0]+0.3, P[1]); err != nil {
		t.Fatal(err)
	}
	return f
}

type collection struct {
	Features []struct {
		ID         any
		Geometry   map[string]any
		Properties map[string]any
	}
	Total     int
	Gaps      int
	CellsTot  int `json:"cells_total"`
	NumberRet int `json:"numberReturned"`
}

func get(t *testing.T, u string, v any) {
	t.Helper()
	resp, body := apptest.Do(t, "GET", u, "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
}

func TestSpatialQueries(t *testing.T) {
	f := setup(t)
	key := apptest.Key(t, f.a, auth.Viewer)
	api := f.a.URL() + "/api/v1"
	getK := func(t *testing.T, u string, v any) {
		t.Helper()
		resp, body := apptest.Do(t, "GET", u, key, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
		}
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
	}
	pt := fmt.Sprintf("lon=%v&lat=%v", P[0], P[1])

	t.Run("nearest", func(t *testing.T) {
		var c collection
		getK(t, api+"/layers/smart_poles/nearest?"+pt+"&k=3", &c)
		want := []string{"pole100", "pole190", "pole500"}
		wantD := []float64{100, 190, 500}
		if len(c.Features) != 3 {
			t.Fatalf("got %d features", len(c.Features))
		}
		for i, ft := range c.Features {
			if ft.Properties["source_id"] != want[i] || math.Abs(ft.Properties["distance_m"].(float64)-wantD[i]) > wantD[i]*0.01 {
				t.Fatalf("nearest %d: %v", i, ft.Properties)
			}
		}
	})
	t.Run("within", func(t *testing.T) {
		for _, tc := range []struct {
			radius float64
			want   int
		}{{50, 0}, {150, 1}, {300, 2}, {600, 3}, {50000, 4}} {
			var c collection
			getK(t, fmt.Sprintf("%s/layers/smart_poles/within?%s&radius=%v", api, pt, tc.radius), &c)
			if len(c.Features) != tc.want {
				t.Fatalf("radius %v: %d features, want %d", tc.radius, len(c.Features), tc.want)
			}
		}
	})
	t.Run("intersects", func(t *testing.T) {
		poly := square(P, 300)
		b, _ := json.Marshal(map[string]any{"type": "Polygon", "coordinates": poly})
		resp, body := apptest.DoJSON(t, "POST", api+"/layers/buildings/intersects", key, string(b))
		var c collection
		json.Unmarshal(body, &c)
		if resp.StatusCode != 200 || len(c.Features) != 2 {
			t.Fatalf("intersects: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("search", func(t *testing.T) {
		var s struct {
			Results []query.SearchResult
		}
		getK(t, api+"/search?q=hospital", &s)
		if len(s.Results) != 1 || s.Results[0].Layer != "buildings" || s.Results[0].ID != f.ids["b50"] || math.Abs(s.Results[0].Point[1]-at(0, 50)[1]) > 1e-4 {
			t.Fatalf("search hospital: %+v", s)
		}
		getK(t, api+"/search?q=pole1", &s)
		if len(s.Results) != 2 {
			t.Fatalf("search pole1: %+v", s)
		}
		getK(t, api+"/search?q="+url.QueryEscape("%"), &s)
		if len(s.Results) != 0 {
			t.Fatalf("search %%: %+v", s)
		}
	})
	t.Run("impact", func(t *testing.T) {
		var im query.Impact
		getK(t, api+"/impact?"+pt+"&radius=200", &im)
		if im.Buildings.Count != 2 || im.Buildings.Floors != 15 || im.Buildings.ByUse["hospital"] != 1 || im.Buildings.ByUse["residential"] != 1 ||
			im.Buildings.Items[0].ID != f.ids["b50"] {
			t.Fatalf("buildings: %+v", im.Buildings)
		}
		if im.Pipes.Count != 1 || im.Pipes.ByNetwork["water"] == nil || im.Pipes.ByNetwork["water"].Count != 1 || math.Abs(im.Pipes.ByNetwork["water"].LengthM-120) > 2 {
			t.Fatalf("pipes: %+v %+v", im.Pipes, im.Pipes.ByNetwork["water"])
		}
		if im.Poles.Count != 2 || im.Poles.Items[0].ID != f.ids["pole100"] {
			t.Fatalf("poles: %+v", im.Poles)
		}
		var cams []string
		for _, c := range im.Cameras.Items {
			cams = append(cams, *c.Name)
		}
		if strings.Join(cams, ",") != "camA,camD,camE" {
			t.Fatalf("cameras: %v", cams)
		}
		// A polygon around the 150 m building only.
		b, _ := json.Marshal(map[string]any{"type": "Polygon", "coordinates": square(at(90, 150), 20)})
		resp, body := apptest.DoJSON(t, "POST", api+"/impact?radius=0", key, string(b))
		im = query.Impact{}
		json.Unmarshal(body, &im)
		if resp.StatusCode != 200 || im.Buildings.Count != 1 || im.Buildings.Items[0].ID != f.ids["b150"] || im.Buildings.Items[0].DistanceM != 0 {
			t.Fatalf("polygon impact: %d %s", resp.StatusCode, body)
		}
		// A polygon spanning the globe: its edges are straight in lon/lat
		// (RFC 7946), so it holds everything, as intersects says; as a
		// geography its edges went the other way round and held nothing.
		b = []byte(`{"type":"Polygon","coordinates":[[[-179,-89],[179,-89],[179,89],[-179,89],[-179,-89]]]}`)
		resp, body = apptest.DoJSON(t, "POST", api+"/impact?radius=0", key, string(b))
		im = query.Impact{}
		json.Unmarshal(body, &im)
		var all collection
		aresp, abody := apptest.DoJSON(t, "POST", api+"/layers/buildings/intersects", key, string(b))
		json.Unmarshal(abody, &all)
		if resp.StatusCode != 200 || aresp.StatusCode != 200 || im.Buildings.Count == 0 || im.Buildings.Count != len(all.Features) || im.Poles.Count == 0 {
			t.Fatalf("global impact: %d buildings (intersects: %d), %d poles: %d %.300s", im.Buildings.Count, len(all.Features), im.Poles.Count, resp.StatusCode, body)
		}
	})
	t.Run("h3", func(t *testing.T) {
		var cells struct {
			Cells []string
			Cell  string
		}
		getK(t, fmt.Sprintf("%s/layers/buildings/features/%d/cells?res=10", api, f.ids["b50"]), &cells)
		if len(cells.Cells) == 0 || !contains(cells.Cells, cells.Cell) {
			t.Fatalf("cells: %+v", cells)
		}
		var c collection
		getK(t, api+"/h3/features?layer=buildings&cells="+cells.Cell, &c)
		if len(c.Features) != 1 || c.Features[0].Properties["source_id"] != "b50" {
			t.Fatalf("h3 features res 10: %+v", c)
		}
		parent := h3.LatLngToCell(h3.LatLng{Lat: P[1], Lng: P[0]}, 6).String()
		getK(t, api+"/h3/features?layer=buildings&cells="+parent, &c)
		if len(c.Features) != 3 {
			t.Fatalf("h3 features res 6: %d", len(c.Features))
		}
		bbox := "116.2,37.4,116.4,37.5"
		var agg collection
		getK(t, api+"/h3/aggregate?layer=buildings&bbox="+bbox+"&res=5", &agg)
		if agg.Total != 3 || len(agg.Features) != 1 || agg.Features[0].Properties["count"] != float64(3) {
			t.Fatalf("aggregate count: %+v", agg)
		}
		getK(t, api+"/h3/aggregate?layer=buildings&bbox="+bbox+"&res=5&op=sum&attr=floors", &agg)
		if agg.Features[0].Properties["value"] != float64(18) {
			t.Fatalf("aggregate sum: %+v", agg.Features[0].Properties)
		}
		getK(t, api+"/h3/aggregate?layer=buildings&bbox="+bbox+"&res=5&op=mean&attr=floors", &agg)
		if agg.Features[0].Properties["value"] != float64(6) || agg.Features[0].Geometry["type"] != "Polygon" {
			t.Fatalf("aggregate mean: %+v", agg.Features[0])
		}
	})
	t.Run("coverage gaps", func(t *testing.T) {
		bbox := orb.Bound{Min: orb.Point{P[0] - 0.15, P[1] - 0.1}, Max: orb.Point{P[0] + 0.15, P[1] + 0.1}}
		var c collection
		getK(t, fmt.Sprintf("%s/coverage/gaps?layer=devices&kind=weather_station&bbox=%v,%v,%v,%v&distance=5000&res=7", api,
			bbox.Min[0], bbox.Min[1], bbox.Max[0], bbox.Max[1]), &c)
		// Worked out independently: a cell is a gap when its centre is more
		// than 5 km from the one weather station at P.
		all := h3.PolygonToCells(h3.GeoPolygon{GeoLoop: h3.GeoLoop{{Lat: bbox.Min[1], Lng: bbox.Min[0]}, {Lat: bbox.Min[1], Lng: bbox.Max[0]},
			{Lat: bbox.Max[1], Lng: bbox.Max[0]}, {Lat: bbox.Max[1], Lng: bbox.Min[0]}}}, 7)
		want := 0
		for _, cell := range all {
			ll := cell.LatLng()
			if geo.Distance(P, orb.Point{ll.Lng, ll.Lat}) > 5000 {
				want++
			}
		}
		if c.CellsTot != len(all) || c.Gaps != want || want == 0 || want == len(all) {
			t.Fatalf("gaps %d of %d, want %d of %d", c.Gaps, c.CellsTot, want, len(all))
		}
	})
	t.Run("bad input", func(t *testing.T) {
		cases := []struct{ path, where string }{
			{"/layers/smart_poles/within?" + pt + "&radius=-1", "radius"},
			{"/layers/smart_poles/within?" + pt + "&radius=1e9", "radius"},
			{"/layers/smart_poles/within?" + pt, "radius"},
			{"/layers/smart_poles/nearest?" + pt + "&k=1000000", "k"},
			{"/layers/smart_poles/nearest?lon=200&lat=1", "lon"},
			{"/layers/smart_poles/nearest?lon=1", "lat"},
			{"/layers/smart_poles/nearest?" + pt + "&kk=1", "kk"},
			{"/layers/buildings/features/1/cells?res=16", "res"},
			{"/layers/buildings/features/1/cells?res=-1", "res"},
			{"/h3/aggregate?layer=buildings&bbox=1,2,3&res=5", "bbox"},
			{"/h3/aggregate?layer=buildings&bbox=1,2,3,4&res=16", "res"},
			{"/h3/aggregate?layer=nosuch&bbox=1,2,3,4&res=5", "layer"},
			{"/h3/aggregate?layer=buildings&bbox=1,2,3,4&res=5&op=sum&attr=name", "attr"},
			{"/h3/aggregate?layer=buildings&bbox=1,2,3,4&res=5&op=max", "op"},
			{"/h3/features?layer=buildings&cells=zz", "cells"},
			{"/coverage/gaps?layer=devices&bbox=100,30,120,40&res=9", "res"},
			{"/impact?" + pt + "&radius=1e9", "radius"},
			{"/search?q=", "q"},
		}
		for _, tc := range cases {
			resp, body := apptest.Do(t, "GET", api+tc.path, key, nil)
			if resp.StatusCode != 400 {
				t.Errorf("%s: %d %s", tc.path, resp.StatusCode, body)
				continue
			}
			if _, _, where := apptest.ErrorBody(t, body); where != tc.where {
				t.Errorf("%s: where %q, want %q", tc.path, where, tc.where)
			}
		}
		resp, body := apptest.Do(t, "GET", api+"/layers/nosuch/nearest?"+pt, key, nil)
		if resp.StatusCode != 404 {
			t.Errorf("unknown layer: %d %s", resp.StatusCode, body)
		}
		// A polygon of a million vertices.
		var sb strings.Builder
		sb.WriteString(`{"type":"Polygon","coordinates":[[`)
		for i := 0; i < 1_000_000; i++ {
			a := 2 * math.Pi * float64(i) / 1e6
			fmt.Fprintf(&sb, "[%.6f,%.6f],", P[0]+0.01*math.Cos(a), P[1]+0.01*math.Sin(a))
		}
		fmt.Fprintf(&sb, "[%.6f,%.6f]]]}", P[0]+0.01, P[1])
		resp, body = apptest.DoJSON(t, "POST", api+"/layers/buildings/intersects", key, sb.String())
		if resp.StatusCode != 400 {
			t.Fatalf("huge polygon: %d %.200s", resp.StatusCode, body)
		}
		if _, _, where := apptest.ErrorBody(t, body); where != "geometry" {
			t.Fatalf("huge polygon where %q", where)
		}
		resp, body = apptest.DoJSON(t, "POST", api+"/layers/buildings/intersects", key, `{"type":"Polygon"`)
		if resp.StatusCode != 400 {
			t.Fatalf("malformed: %d %s", resp.StatusCode, body)
		}
		// What orb's decoder lets through but RFC 7946 does not: a 400 naming
		// the geometry, not PostGIS's 500.
		for _, g := range []string{
			`{"type":"Polygon","coordinates":[[[116.295,37.446],[116.305,37.452],[116.305,37.446]]]}`,
			`{"type":"Polygon","coordinates":[[[116.295,37.446],[116.305,37.452],[116.305,37.446],[116.296,37.446]]]}`,
			`{"type":"Point","coordinates":[116.2982]}`,
			`{"type":"LineString","coordinates":[[116.2982,37.4]]}`,
			`{"type":"MultiPolygon","coordinates":[[[116.2982,37.4],[116.3,37.4]]]}`,
			`{"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[1]}]}`,
		} {
			for _, u := range []string{"/layers/buildings/intersects", "/impact?radius=0"} {
				resp, body = apptest.DoJSON(t, "POST", api+u, key, g)
				if resp.StatusCode != 400 {
					t.Fatalf("%s %s: %d %s", u, g, resp.StatusCode, body)
				}
				if _, _, where := apptest.ErrorBody(t, body); where != "geometry" {
					t.Fatalf("%s %s: where %q", u, g, where)
				}
			}
		}
		// Reads need a key unless reads are public.
		resp, _ = apptest.Do(t, "GET", api+"/layers/smart_poles/nearest?"+pt, "", nil)
		if resp.StatusCode != 401 {
			t.Fatalf("anonymous read: %d", resp.StatusCode)
		}
	})
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

var _ = get
