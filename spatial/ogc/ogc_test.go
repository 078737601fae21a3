package ogc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/citytwin/citytwin/internal/app"
	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/config"
	"github.com/citytwin/citytwin/spatial"
)

type fc struct {
	Type           string            `json:"type"`
	Features       []json.RawMessage `json:"features"`
	NumberMatched  int               `json:"numberMatched"`
	NumberReturned int               `json:"numberReturned"`
	Links          []struct {
		Href, Rel, Type string
	} `json:"links"`
}

func (c fc) link(rel string) string {
	for _, l := range c.Links {
		if l.Rel == rel {
			return l.Href
		}
	}
	return ""
}

type feat struct {
	ID         int64          `json:"id"`
	Geometry   map[string]any `json:"geometry"`
	Properties map[string]any `json:"properties"`
	Links      []any          `json:"links"`
}

func building(i int, use string, floors int) string {
	x, y := 116.30+float64(i)*0.001, 37.45
	return fmt.Sprintf(`{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[%f,%f],[%f,%f],[%f,%f],[%f,%f],[%f,%f]]]},
		"properties":{"name":"B%d","use":%q,"floors":%d,"height_m":%d,"source":"test","source_id":"b%d","colour":"red"}}`,
		x, y, x+0.0005, y, x+0.0005, y+0.0005, x, y+0.0005, x, y, i, use, floors, floors*3, i)
}

func mustRun(t *testing.T) (*app.App, string) {
	t.Helper()
	a := apptest.MustRun(t, func(c *config.Config) { c.PublicReads = true })
	return a, apptest.Key(t, a, auth.Operator)
}

func TestOGCFeaturesEndToEnd(t *testing.T) {
	a, op := mustRun(t)
	base := a.URL() + "/ogc"
	var mu sync.Mutex
	var changes []spatial.Change
	a.Store.OnChange(func(_ context.Context, cs []spatial.Change) {
		mu.Lock()
		changes = append(changes, cs...)
		mu.Unlock()
	})

	// Writes need an operator key.
	resp, body := apptest.DoJSON(t, "POST", base+"/collections/buildings/items", "", building(0, "office", 3))
	if resp.StatusCode != 401 {
		t.Fatalf("anonymous POST: %d %s", resp.StatusCode, body)
	}
	viewer := apptest.Key(t, a, auth.Viewer)
	resp, body = apptest.DoJSON(t, "POST", base+"/collections/buildings/items", viewer, building(0, "office", 3))
	if resp.StatusCode != 403 {
		t.Fatalf("viewer POST: %d %s", resp.StatusCode, body)
	}
	var ids []int64
	uses := []string{"office", "residential", "office", "school", "residential"}
	for i, u := range uses {
		resp, body := apptest.DoJSON(t, "POST", base+"/collections/buildings/items", op, building(i, u, i+2))
		if resp.StatusCode != 201 {
			t.Fatalf("POST %d: %d %s", i, resp.StatusCode, body)
		}
		var f feat
		if err := json.Unmarshal(body, &f); err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get("Location") == "" || f.ID == 0 || f.Properties["use"] != u || f.Properties["colour"] != "red" || f.Properties["source_id"] != fmt.Sprintf("b%d", i) {
			t.Fatalf("created feature: %s (Location %q)", body, resp.Header.Get("Location"))
		}
		ids = append(ids, f.ID)
	}
	// Same source id again: conflict.
	resp, body = apptest.DoJSON(t, "POST", base+"/collections/buildings/items", op, building(0, "office", 3))
	if resp.StatusCode != 409 {
		t.Fatalf("duplicate POST: %d %s", resp.StatusCode, body)
	}
	// H3, cells, audit, changes, all from the same transaction.
	ctx := context.Background()
	var h3 int64
	var cells, audits int
	if err := a.Pool.QueryRow(ctx, `SELECT h3 FROM buildings WHERE id = $1`, ids[0]).Scan(&h3); err != nil || h3 == 0 {
		t.Fatalf("h3 = %d, %v", h3, err)
	}
	if uint64(h3) != spatial.PointCell(spatial.RepresentativePoint(mustFeature(t, a, ids[0]).Geometry), 15) {
		t.Fatalf("h3 cell is not the representative point's")
	}
	a.Pool.QueryRow(ctx, `SELECT count(*) FROM feature_cells WHERE layer = 'buildings' AND feature_id = $1`, ids[0]).Scan(&cells)
	a.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'feature.create' AND actor = 'test-operator'`).Scan(&audits)
	if cells == 0 || audits != len(uses) {
		t.Fatalf("cells %d, audits %d", cells, audits)
	}
	mu.Lock()
	if len(changes) != len(uses) || changes[0].Layer != "buildings" || changes[0].IDs[0] != ids[0] || changes[0].Bound.Min[0] < 116.29 {
		t.Fatalf("changes: %+v", changes)
	}
	mu.Unlock()

	// Paging with numberMatched and next/prev links.
	var page fc
	getJSON(t, base+"/collections/buildings/items?limit=2", 200, &page)
	if page.NumberMatched != 5 || page.NumberReturned != 2 || len(page.Features) != 2 || page.link("next") == "" || page.link("prev") != "" {
		t.Fatalf("page 1: %+v", page)
	}
	seen := 2
	for next := page.link("next"); next != ""; next = page.link("next") {
		page = fc{}
		getJSON(t, next, 200, &page)
		seen += page.NumberReturned
		if page.link("prev") == "" || page.NumberMatched != 5 {
			t.Fatalf("later page: %+v", page)
		}
	}
	if seen != 5 {
		t.Fatalf("paged through %d features, want 5", seen)
	}

	cases := []struct {
		name  string
		query string
		want  int
	}{
		{"all", "", 5},
		{"bbox", "bbox=116.2995,37.449,116.3016,37.451", 2},
		{"bbox-crs 4326 lat/lon", "bbox=37.449,116.2995,37.451,116.3016&bbox-crs=" + url.QueryEscape("http://www.opengis.net/def/crs/EPSG/0/4326"), 2},
		{"bbox-crs 3857", "bbox=12946401,4501877,12946634,4502158&bbox-crs=" + url.QueryEscape("http://www.opengis.net/def/crs/EPSG/0/3857"), 2},
		{"property", "use=office", 2},
		{"property number", "floors=4", 1},
		{"cql2 comparison", "filter=" + url.QueryEscape("floors >= 4 AND use <> 'school'"), 2},
		{"cql2 in", "filter=" + url.QueryEscape("use IN ('school','office')"), 3},
		{"cql2 like", "filter=" + url.QueryEscape("name LIKE 'B%' AND NOT name LIKE 'B1'") + "&filter-lang=cql2-text", 4},
		{"cql2 between", "filter=" + url.QueryEscape("height_m BETWEEN 9 AND 13"), 2},
		{"cql2 s_intersects", "filter=" + url.QueryEscape("S_INTERSECTS(geometry, POLYGON((116.2995 37.449, 116.3016 37.449, 116.3016 37.451, 116.2995 37.451, 116.2995 37.449)))"), 2},
		{"cql2 s_within bbox", "filter=" + url.QueryEscape("S_WITHIN(geometry, BBOX(116.2995,37.449,116.3016,37.451))"), 2},
		{"cql2 hostile string", "filter=" + url.QueryEscape("name = 'x''; DROP TABLE buildings; --'"), 0},
		{"datetime open", "datetime=" + url.QueryEscape("2000-01-01T00:00:00Z/.."), 5},
		{"datetime past", "datetime=" + url.QueryEscape("../2000-01-01T00:00:00Z"), 0},
		{"source", "source_id=b3", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p fc
			getJSON(t, base+"/collections/buildings/items?"+tc.query, 200, &p)
			if p.NumberMatched != tc.want || len(p.Features) != tc.want {
				t.Fatalf("matched %d, returned %d, want %d", p.NumberMatched, len(p.Features), tc.want)
			}
		})
	}

	// numberMatched of bbox pages (counted in the page query), full, past the
	// end, and in another CRS or with selected properties (rendered).
	for _, tc := range []struct {
		query             string
		matched, returned int
		next              bool
	}{
		{"bbox=116.2995,37.449,116.3016,37.451&limit=1", 2, 1, true},
		{"bbox=116.2995,37.449,116.3016,37.451&limit=1&offset=1", 2, 1, false},
		{"bbox=116.2995,37.449,116.3016,37.451&offset=7", 2, 0, false},
		{"bbox=116.2995,37.449,116.3016,37.451&limit=1&properties=use", 2, 1, true},
		{"bbox=116.2995,37.449,116.3016,37.451&limit=1&crs=" + url.QueryEscape("http://www.opengis.net/def/crs/EPSG/0/3857"), 2, 1, true},
		{"limit=2", 5, 2, true},
	} {
		var p fc
		getJSON(t, base+"/collections/buildings/items?"+tc.query, 200, &p)
		if p.NumberMatched != tc.matched || p.NumberReturned != tc.returned || len(p.Features) != tc.returned || (p.link("next") != "") != tc.next {
			t.Fatalf("%s: matched %d, returned %d (%d features), next %q", tc.query, p.NumberMatched, p.NumberReturned, len(p.Features), p.link("next"))
		}
	}

	// sortby and properties.
	var p fc
	getJSON(t, base+"/collections/buildings/items?sortby=-floors&properties=floors,colour", 200, &p)
	var f0 feat
	json.Unmarshal(p.Features[0], &f0)
	if f0.Properties["floors"] != float64(6) || len(f0.Properties) != 2 || f0.Properties["colour"] != "red" || len(f0.Links) == 0 {
		t.Fatalf("sorted first: %+v", f0)
	}
	// crs=EPSG:3857 output.
	resp, body = apptest.Do(t, "GET", base+"/collections/buildings/items/"+fmt.Sprint(ids[0])+"?crs="+url.QueryEscape("http://www.opengis.net/def/crs/EPSG/0/3857"), "", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Crs") != "<http://www.opengis.net/def/crs/EPSG/0/3857>" || !strings.Contains(string(body), "1294") {
		t.Fatalf("crs 3857: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Crs"), body)
	}

	// Bad input: 400 naming the parameter, 404 for unknown collections.
	bad := []struct {
		query, where string
		status       int
	}{
		{"/collections/buildings/items?colour=red", "colour", 400},
		{"/collections/buildings/items?bogus=1", "bogus", 400},
		{"/collections/buildings/items?bbox=1,2,3", "bbox", 400},
		{"/collections/buildings/items?bbox=a,b,c,d", "bbox", 400},
		{"/collections/buildings/items?bbox=10,10,5,5", "bbox", 400},
		{"/collections/buildings/items?limit=0", "limit", 400},
		{"/collections/buildings/items?offset=-1", "offset", 400},
		{"/collections/buildings/items?floors=many", "floors", 400},
		{"/collections/buildings/items?filter=" + url.QueryEscape("floors >"), "filter", 400},
		{"/collections/buildings/items?filter=" + url.QueryEscape("nosuch = 1"), "filter", 400},
		{"/collections/buildings/items?filter=" + url.QueryEscape("name = 3"), "filter", 400},
		{"/collections/buildings/items?filter=x&filter-lang=cql2-json", "filter-lang", 400},
		{"/collections/buildings/items?crs=EPSG:9999", "crs", 400},
		{"/collections/buildings/items?datetime=yesterday", "datetime", 400},
		{"/collections/buildings/items?sortby=geometry", "sortby", 400},
		{"/collections/buildings/items?f=xml", "f", 400},
		{"/collections/nosuch/items", "collectionId", 404},
		{"/collections/nosuch", "collectionId", 404},
		{"/collections/buildings/items/999999", "featureId", 404},
		{"/collections/buildings/items/abc", "featureId", 404},
		{"/conformance?x=1", "x", 400},
	}
	for _, b := range bad {
		resp, body := apptest.Do(t, "GET", base+b.query, "", nil)
		if resp.StatusCode != b.status {
			t.Errorf("GET %s: %d %s", b.query, resp.StatusCode, body)
			continue
		}
		if _, _, where := apptest.ErrorBody(t, body); where != b.where {
			t.Errorf("GET %s: where %q, want %q", b.query, where, b.where)
		}
	}

	// limit above the maximum is capped.
	getJSON(t, base+"/collections/buildings/items?limit=1000000", 200, &p)

	// PUT, PATCH, DELETE.
	item := fmt.Sprintf("%s/collections/buildings/items/%d", base, ids[1])
	resp, body = apptest.DoJSON(t, "PUT", item, op, building(1, "hospital", 7))
	if resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	resp, body = apptest.DoJSON(t, "PATCH", item, op, `{"properties":{"floors":8,"colour":null,"note":"patched"}}`)
	var pf feat
	json.Unmarshal(body, &pf)
	if resp.StatusCode != 200 || pf.Properties["floors"] != float64(8) || pf.Properties["use"] != "hospital" || pf.Properties["colour"] != nil || pf.Properties["note"] != "patched" {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	resp, body = apptest.DoJSON(t, "PATCH", item, op, `{"properties":{"floors":"eight"}}`)
	if resp.StatusCode != 400 {
		t.Fatalf("bad PATCH: %d %s", resp.StatusCode, body)
	}
	if _, _, where := apptest.ErrorBody(t, body); where != "properties.floors" {
		t.Fatalf("bad PATCH where %q", where)
	}
	resp, body = apptest.DoJSON(t, "PUT", item, op, `{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{}}`)
	if resp.StatusCode != 400 {
		t.Fatalf("PUT point into buildings: %d %s", resp.StatusCode, body)
	}
	resp, body = apptest.DoJSON(t, "POST", base+"/collections/buildings/items", op, `{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[500,1],[501,1],[501,2],[500,1]]]},"properties":{}}`)
	if resp.StatusCode != 400 {
		t.Fatalf("POST out of range: %d %s", resp.StatusCode, body)
	}
	// Writes in another CRS (Part 2 with Part 4): the body's CRS is its
	// Content-Crs; stored, and answered, as lon/lat on WGS 84.
	crsBody := func(pts [][2]float64) string {
		b, _ := json.Marshal(map[string]any{"type": "Feature", "properties": map[string]any{"name": "crs"},
			"geometry": map[string]any{"type": "Polygon", "coordinates": [][][2]float64{pts}}})
		return string(b)
	}
	lonlat := [][2]float64{{116.30, 37.45}, {116.301, 37.45}, {116.301, 37.451}, {116.30, 37.45}}
	var merc, latlon [][2]float64
	for _, p := range lonlat {
		var x, y float64
		a.Pool.QueryRow(ctx, `SELECT ST_X(g), ST_Y(g) FROM ST_Transform(ST_SetSRID(ST_MakePoint($1, $2), 4326), 3857) g`, p[0], p[1]).Scan(&x, &y)
		merc = append(merc, [2]float64{x, y})
		latlon = append(latlon, [2]float64{p[1], p[0]})
	}
	for _, tc := range []struct {
		crs string
		pts [][2]float64
	}{
		{"<http://www.opengis.net/def/crs/EPSG/0/3857>", merc},
		{"<http://www.opengis.net/def/crs/EPSG/0/4326>", latlon},
		{"<http://www.opengis.net/def/crs/EPSG/0/4490>", latlon},
	} {
		resp, body = apptest.Do(t, "POST", base+"/collections/buildings/items", op, strings.NewReader(crsBody(tc.pts)), "Content-Type", "application/geo+json", "Content-Crs", tc.crs)
		if resp.StatusCode != 201 || resp.Header.Get("Content-Crs") != "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>" {
			t.Fatalf("POST in %s: %d %s", tc.crs, resp.StatusCode, body)
		}
		var made struct{ ID int64 }
		json.Unmarshal(body, &made)
		var d float64
		if err := a.Pool.QueryRow(ctx, `SELECT ST_HausdorffDistance(geom, ST_GeomFromText('POLYGON((116.30 37.45,116.301 37.45,116.301 37.451,116.30 37.45))', 4326)) FROM buildings WHERE id = $1`, made.ID).Scan(&d); err != nil || d > 1e-7 {
			t.Fatalf("POST in %s: stored %g degrees off (%v)", tc.crs, d, err)
		}
		// A PATCH's geometry is in the Content-Crs too.
		resp, body = apptest.Do(t, "PATCH", fmt.Sprintf("%s/collections/buildings/items/%d", base, made.ID), op,
			strings.NewReader(crsBody(tc.pts)), "Content-Type", "application/merge-patch+json", "Content-Crs", tc.crs)
		if resp.StatusCode != 200 {
			t.Fatalf("PATCH in %s: %d %s", tc.crs, resp.StatusCode, body)
		}
		if err := a.Pool.QueryRow(ctx, `SELECT ST_HausdorffDistance(geom, ST_GeomFromText('POLYGON((116.30 37.45,116.301 37.45,116.301 37.451,116.30 37.45))', 4326)) FROM buildings WHERE id = $1`, made.ID).Scan(&d); err != nil || d > 1e-7 {
			t.Fatalf("PATCH in %s: stored %g degrees off (%v)", tc.crs, d, err)
		}
		apptest.Do(t, "DELETE", fmt.Sprintf("%s/collections/buildings/items/%d", base, made.ID), op, nil)
	}
	resp, body = apptest.Do(t, "POST", base+"/collections/buildings/items", op, strings.NewReader(crsBody(lonlat)), "Content-Type", "application/geo+json", "Content-Crs", "<http://www.opengis.net/def/crs/EPSG/0/2000>")
	if code, _, where := apptest.ErrorBody(t, body); resp.StatusCode != 400 || code != "invalid" || where != "Content-Crs" {
		t.Fatalf("POST in an unsupported CRS: %d %s", resp.StatusCode, body)
	}
	resp, body = apptest.Do(t, "DELETE", item, op, nil)
	if resp.StatusCode != 204 {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	resp, _ = apptest.Do(t, "GET", item, "", nil)
	if resp.StatusCode != 404 {
		t.Fatalf("GET deleted: %d", resp.StatusCode)
	}
	a.Pool.QueryRow(ctx, `SELECT count(*) FROM feature_cells WHERE layer = 'buildings' AND feature_id = $1`, ids[1]).Scan(&cells)
	a.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE entity_id = $1`, fmt.Sprintf("buildings/%d", ids[1])).Scan(&audits)
	if cells != 0 || audits != 4 {
		t.Fatalf("after delete: cells %d audits %d", cells, audits)
	}

	// Queryables, collections, conformance, HTML.
	resp, body = apptest.Do(t, "GET", base+"/collections/buildings/queryables", "", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/schema+json" || !strings.Contains(string(body), `"floors"`) {
		t.Fatalf("queryables: %d %s", resp.StatusCode, body)
	}
	var conf struct{ ConformsTo []string }
	getJSON(t, base+"/conformance", 200, &conf)
	if !contains(conf.ConformsTo, "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core") || !contains(conf.ConformsTo, "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text") {
		t.Fatalf("conformance: %v", conf.ConformsTo)
	}
	var cols struct {
		Collections []struct {
			ID     string
			Extent struct{ Spatial struct{ Bbox [][]float64 } }
		}
	}
	getJSON(t, base+"/collections", 200, &cols)
	if len(cols.Collections) < 12 || cols.Collections[6].ID != "buildings" || len(cols.Collections[6].Extent.Spatial.Bbox) != 1 {
		t.Fatalf("collections: %+v", cols)
	}
	resp, body = apptest.Do(t, "GET", base+"/collections/buildings/items?f=html", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<table") {
		t.Fatalf("html: %d %s", resp.StatusCode, body)
	}
	var page1 fc
	getJSON(t, base+"/collections/buildings/items?limit=1&bbox=116.29,37.44,116.32,37.46", 200, &page1)
	resp, body = apptest.Do(t, "GET", base+"/collections/buildings/items?f=html&limit=1&bbox=116.29,37.44,116.32,37.46", "", nil)
	if resp.StatusCode != 200 || page1.NumberMatched < 2 || !strings.Contains(string(body), fmt.Sprintf("<p>1 of %d</p>", page1.NumberMatched)) || !strings.Contains(string(body), "&#34;use&#34;") {
		t.Fatalf("html bbox page: %d %s", resp.StatusCode, body)
	}
	// Its next link names the format once; a JSON page's links name none.
	if strings.Count(string(body), "f=html") != 1+strings.Count(string(body), "items/") || !strings.Contains(string(body), "?f=html&amp;") {
		t.Fatalf("html page links: %s", body)
	}
	getJSON(t, base+"/collections/buildings/items?f=json&limit=1&bbox=116.29,37.44,116.32,37.46", 200, &page1)
	if n := page1.link("next"); strings.Contains(n, "f=") {
		t.Fatalf("next link of a JSON page: %s", n)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func mustFeature(t *testing.T, a *app.App, id int64) *spatial.Feature {
	t.Helper()
	f, err := a.Store.GetFeature(context.Background(), "buildings", id)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func getJSON(t *testing.T, u string, status int, v any) {
	t.Helper()
	resp, body := apptest.Do(t, "GET", u, "", nil)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, body)
	}
}

// TestOpenAPIDocument validates /ogc/api with kin-openapi and checks that it
// names exactly the routes the server answers.
func TestOpenAPIDocument(t *testing.T) {
	a, _ := mustRun(t)
	_, body := apptest.Do(t, "GET", a.URL()+"/ogc/api", "", nil)
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("OpenAPI document invalid: %v", err)
	}
	want := map[string][]string{
		"/": {"GET"}, "/conformance": {"GET"}, "/api": {"GET"}, "/collections": {"GET"},
		"/collections/{collectionId}":                   {"GET"},
		"/collections/{collectionId}/queryables":        {"GET"},
		"/collections/{collectionId}/items":             {"GET", "POST"},
		"/collections/{collectionId}/items/{featureId}": {"GET", "PUT", "PATCH", "DELETE"},
	}
	if doc.Paths.Len() != len(want) {
		t.Fatalf("document has %d paths, want %d", doc.Paths.Len(), len(want))
	}
	for p, methods := range want {
		item := doc.Paths.Value(p)
		if item == nil {
			t.Fatalf("path %s missing", p)
		}
		if len(item.Operations()) != len(methods) {
			t.Fatalf("path %s: %d operations, want %v", p, len(item.Operations()), methods)
		}
		for _, m := range methods {
			if item.GetOperation(m) == nil {
				t.Fatalf("path %s: no %s", p, m)
			}
			// The route answers (not 404 from the mux, not 405).
			u := a.URL() + "/ogc" + strings.NewReplacer("{collectionId}", "buildings", "{featureId}", "1").Replace(p)
			if p == "/" {
				u = a.URL() + "/ogc"
			}
			resp, _ := apptest.Do(t, m, u, "", nil)
			if resp.StatusCode == 405 || (resp.StatusCode == 404 && !strings.Contains(p, "featureId")) {
				t.Fatalf("%s %s: %d", m, u, resp.StatusCode)
			}
		}
	}
}

// TestGDALClient reads the API with GDAL's OAPIF driver: ogrinfo lists the
// collections and ogr2ogr copies a collection with every feature and
// attribute.
func TestGDALClient(t *testing.T) {
	ogrinfo, err := exec.LookPath("ogrinfo")
	if err != nil {
		t.Fatalf("ogrinfo not installed (scripts/install-deps.sh installs gdal-bin): %v", err)
	}
	ogr2ogr, err := exec.LookPath("ogr2ogr")
	if err != nil {
		t.Fatalf("ogr2ogr not installed: %v", err)
	}
	a, op := mustRun(t)
	base := a.URL() + "/ogc"
	const n = 250 // more than GDAL's page size, so it follows next links
	for i := 0; i < n; i++ {
		resp, body := apptest.DoJSON(t, "POST", base+"/collections/buildings/items", op, building(i, []string{"office", "residential"}[i%2], i%20+1))
		if resp.StatusCode != 201 {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
	}
	out, err := exec.Command(ogrinfo, "-ro", "-q", "OAPIF:"+base).CombinedOutput()
	if err != nil {
		t.Fatalf("ogrinfo: %v\n%s", err, out)
	}
	for _, l := range []string{"buildings", "pipes", "network_nodes", "smart_poles", "districts"} {
		if !strings.Contains(string(out), l) {
			t.Fatalf("ogrinfo does not list %s:\n%s", l, out)
		}
	}
	dst := filepath.Join(t.TempDir(), "out.geojson")
	out, err = exec.Command(ogr2ogr, "-f", "GeoJSON", dst, "OAPIF:"+base, "buildings").CombinedOutput()
	if err != nil {
		t.Fatalf("ogr2ogr: %v\n%s", err, out)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Features []struct {
			Properties map[string]any
			Geometry   struct{ Type string }
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Features) != n {
		t.Fatalf("ogr2ogr copied %d features, want %d", len(got.Features), n)
	}
	for _, f := range got.Features {
		for _, k := range []string{"name", "use", "floors", "height_m", "source", "source_id", "updated_at", "colour"} {
			if _, ok := f.Properties[k]; !ok {
				t.Fatalf("copied feature lacks %s: %v", k, f.Properties)
			}
		}
		if f.Geometry.Type != "Polygon" && f.Geometry.Type != "MultiPolygon" {
			t.Fatalf("geometry %s", f.Geometry.Type)
		}
	}
	// GDAL pushes attribute filters down as CQL2 when the server declares it.
	out, err = exec.Command(ogrinfo, "-ro", "-so", "-where", "use = 'office'", "OAPIF:"+base, "buildings").CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("Feature Count: %d", n/2)) {
		t.Fatalf("ogrinfo -where: %v\n%s", err, out)
	}
}
