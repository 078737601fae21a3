package importers_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/citytwin/citytwin/importers"
	"github.com/citytwin/citytwin/internal/dbtest"
	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial"
)

// MustOpenStore returns a store on a fresh, migrated database.
func MustOpenStore(tb testing.TB) *spatial.Store {
	tb.Helper()
	pool := dbtest.MustOpenPool(tb)
	reg := spatial.NewRegistry()
	return spatial.NewStore(pool, reg)
}

// sharedData returns the path of a file in ../shared/data, failing when it is
// missing.
func sharedData(tb testing.TB, rel string) string {
	tb.Helper()
	root, err := dbtest.ModuleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(root, "..", "shared", "data", rel)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("test data %s: %v", rel, err)
	}
	return p
}

func writeFile(tb testing.TB, name, content string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

func count(tb testing.TB, s *spatial.Store, q string, args ...any) int64 {
	tb.Helper()
	var n int64
	if err := s.Pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	return n
}

func square(lon, lat, d float64) string {
	return fmt.Sprintf(`[[[%g,%g],[%g,%g],[%g,%g],[%g,%g],[%g,%g]]]`, lon, lat, lon+d, lat, lon+d, lat+d, lon, lat+d, lon, lat)
}

func TestGeoJSONBuildingsUpsert(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	var b strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, `{"type":"Feature","id":"b%d","properties":{"height_m":%d,"floors":%d,"use":"office","name":"楼%d","extra":"x"},"geometry":{"type":"Polygon","coordinates":%s}}`+"\n",
			i, 10+i, 3, i, square(116.39+float64(i)*0.001, 39.9, 0.0002))
	}
	f := writeFile(t, "buildings.ndjson", b.String())
	var changes []spatial.Change
	s.OnChange(func(_ context.Context, c []spatial.Change) { changes = append(changes, c...) })
	rep, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{f}, Layer: "buildings"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Read != 50 || rep.Inserted != 50 || rep.Updated != 0 || rep.Rejected != 0 {
		t.Fatalf("report %+v", rep)
	}
	if n := count(t, s, `SELECT count(*) FROM buildings WHERE source = 'buildings' AND h3 IS NOT NULL`); n != 50 {
		t.Fatalf("%d buildings", n)
	}
	var h float64
	var name, extra string
	if err := s.Pool.QueryRow(ctx, `SELECT height_m, name, props->>'extra' FROM buildings WHERE source_id = 'b7'`).Scan(&h, &name, &extra); err != nil {
		t.Fatal(err)
	}
	if h != 17 || name != "楼7" || extra != "x" {
		t.Fatalf("b7: %v %q %q", h, name, extra)
	}
	if n := count(t, s, `SELECT count(*) FROM feature_cells WHERE layer = 'buildings'`); n < 50 {
		t.Fatalf("%d cells", n)
	}
	if n := count(t, s, `SELECT count(*) FROM audit_log WHERE action = 'import'`); n != 1 {
		t.Fatalf("%d audit entries", n)
	}
	if len(changes) != 1 || changes[0].Layer != "buildings" || len(changes[0].IDs) != 50 || changes[0].Bound.Min[0] < 116.38 {
		t.Fatalf("changes %+v", changes)
	}
	// Again: nothing changed, so every feature is unchanged and its cells kept.
	cells := count(t, s, `SELECT count(*) FROM feature_cells`)
	rep, err = importers.Run(ctx, s, nil, importers.Options{Files: []string{f}, Layer: "buildings"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inserted != 0 || rep.Updated != 0 || rep.Unchanged != 50 {
		t.Fatalf("report %+v", rep)
	}
	if n := count(t, s, `SELECT count(*) FROM feature_cells`); n != cells {
		t.Fatalf("cells %d, was %d", n, cells)
	}
}

func TestRejectionsAllOrNothing(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	content := `{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"id":"a"},"geometry":{"type":"Polygon","coordinates":` + square(116.39, 39.9, 0.0002) + `}},
{"type":"Feature","properties":{"id":"b"},"geometry":{"type":"LineString","coordinates":[[116.39,39.9],[116.4,39.91]]}},
{"type":"Feature","properties":{"id":"c"},"geometry":{"type":"Polygon","coordinates":` + square(500000, 4400000, 20) + `}},
{"type":"Feature","properties":{"id":"d","floors":"many"},"geometry":{"type":"Polygon","coordinates":` + square(116.39, 39.9, 0.0002) + `}}
]}`
	f := writeFile(t, "b.geojson", content)
	_, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{f}, Layer: "buildings"})
	if errs.Code(err) != errs.EINVALID || !strings.Contains(err.Error(), "record 2") {
		t.Fatalf("err = %v", err)
	}
	if n := count(t, s, `SELECT count(*) FROM buildings`); n != 0 {
		t.Fatalf("%d buildings after a failed import", n)
	}
	rep, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{f}, Layer: "buildings", SkipInvalid: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inserted != 1 || rep.Rejected != 3 || len(rep.Rejections) != 3 {
		t.Fatalf("report %+v", rep)
	}
	want := []string{"MultiPolygon geometries, got LineString", "wrong CRS?", "floors"}
	for i, r := range rep.Rejections {
		if r.Record != int64(i+2) || !strings.Contains(r.Reason, want[i]) {
			t.Errorf("rejection %d: %+v", i, r)
		}
	}
}

func TestBadInput(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	cases := []struct {
		name, file, content, layer, want string
	}{
		{"truncated", "t.geojson", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[1,2]}},{"type":"Fea`, "smart_poles", "truncated"},
		{"not json", "t.geojson", `hello`, "smart_poles", "not GeoJSON"},
		{"unknown layer", "t.geojson", `{"type":"FeatureCollection","features":[]}`, "No Such", "unknown layer"},
		{"no layer", "t.geojson", `{"type":"FeatureCollection","features":[]}`, "", "--layer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := writeFile(t, tc.file, tc.content)
			_, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{f}, Layer: tc.layer})
			if err == nil || errs.Code(err) == errs.EINTERNAL || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v (%s)", err, errs.Code(err))
			}
		})
	}
	if n := count(t, s, `SELECT count(*) FROM smart_poles`); n != 0 {
		t.Fatalf("%d poles", n)
	}
}

func osmTestdata(tb testing.TB, name string) string {
	tb.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/paulmach/osm").Output()
	if err != nil {
		tb.Fatalf("find the osm module: %v", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "testdata", name)
	if _, err := os.Stat(p); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestOSMMonaco(t *testing.T) {
	s := MustOpenStore(t)
	rep, err := importers.Run(context.Background(), s, nil, importers.Options{Files: []string{sharedData(t, "osm/monaco-latest.osm.pbf")}, SkipInvalid: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report %+v", rep)
	for q, want := range map[string]int64{
		`SELECT count(*) FROM buildings`:                                     1207,
		`SELECT count(*) FROM buildings WHERE props ? 'osm:height'`:          35,
		`SELECT count(*) FROM buildings WHERE props ? 'osm:building:levels'`: 101,
		`SELECT count(*) FROM smart_poles WHERE 'light' = ANY(functions)`:    17,
	} {
		if n := count(t, s, q); n != want {
			t.Errorf("%s = %d, want %d", q, n, want)
		}
	}
}

func TestOSMDelaware(t *testing.T) {
	s := MustOpenStore(t)
	_, err := importers.Run(context.Background(), s, nil, importers.Options{Files: []string{osmTestdata(t, "delaware-latest.osm.pbf")}, Layer: "buildings", SkipInvalid: true})
	if err != nil {
		t.Fatal(err)
	}
	// ../shared/data's README counts 8,260 building polygons (GDAL's
	// multipolygons layer, building IS NOT NULL). citytwin also takes 8,260,
	// not quite the same ones: GDAL counts a parking lot tagged building=no
	// (way 71219093), which is no building; GDAL leaves out Fort Delaware
	// (way 376886036, an outer member of an untagged two-ring relation),
	// which is one. Five old-style multipolygons (tags on the outer way)
	// keep their way's id here, their relation's id in GDAL. The outer ways
	// of the building relations 1113072 and 5473636 are the same buildings
	// as their relations: once imported twice (8,262), now once.
	if n := count(t, s, `SELECT count(*) FROM buildings`); n != 8260 {
		t.Errorf("%d buildings, want 8260", n)
	}
	for id, want := range map[string]int64{
		"way/71219093": 0, "way/376886036": 1, "way/71219104": 1,
		"relation/1113072": 1, "way/71218998": 0, "relation/5473636": 1, "way/368331159": 0,
	} {
		if n := count(t, s, `SELECT count(*) FROM buildings WHERE source_id = $1`, id); n != want {
			t.Errorf("%s: %d buildings, want %d", id, n, want)
		}
	}
	// The relation keeps its courtyard (an inner ring).
	if n := count(t, s, `SELECT count(*) FROM buildings WHERE source_id = 'relation/5473636' AND ST_NumInteriorRings(ST_GeometryN(geom, 1)) = 1`); n != 1 {
		t.Errorf("Nemours Building has lost its courtyard")
	}
}

func TestEPANETNetworks(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	cases := []struct {
		file                                       string
		junctions, reservoirs, tanks, pipes, pumps int64
	}{
		{"Net1.inp", 9, 1, 1, 12, 1},
		{"Net2.inp", 35, 0, 1, 40, 0},
		{"Net3.inp", 92, 2, 3, 117, 2},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			f := sharedData(t, "epanet/"+tc.file)
			if _, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{f}}); errs.Code(err) != errs.EINVALID || !strings.Contains(err.Error(), "--crs") {
				t.Fatalf("without a CRS: %v", err)
			}
			rep, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{f}, CRS: "local:7.42,43.73,10"})
			if err != nil {
				t.Fatal(err)
			}
			src := strings.TrimSuffix(tc.file, ".inp")
			for kind, want := range map[string]int64{"junction": tc.junctions, "reservoir": tc.reservoirs, "tank": tc.tanks} {
				if n := count(t, s, `SELECT count(*) FROM network_nodes WHERE source = $1 AND network = 'water' AND kind = $2`, src, kind); n != want {
					t.Errorf("%d %s, want %d", n, kind, want)
				}
			}
			for kind, want := range map[string]int64{"pipe": tc.pipes, "pump": tc.pumps} {
				if n := count(t, s, `SELECT count(*) FROM pipes WHERE source = $1 AND kind = $2`, src, kind); n != want {
					t.Errorf("%d %s, want %d (report %+v)", n, kind, want, rep)
				}
			}
			// Every link is connected to its nodes.
			if n := count(t, s, `SELECT count(*) FROM pipes WHERE source = $1 AND (from_node_id IS NULL OR to_node_id IS NULL)`, src); n != 0 {
				t.Errorf("%d links without their nodes", n)
			}
		})
	}
	// Net1 pipe 10: 10530 ft, 18 in, from node 10 to 11.
	var l, d float64
	var from, to string
	if err := s.Pool.QueryRow(ctx, `SELECT p.length_m, p.diameter_mm, a.source_id, b.source_id FROM pipes p
		JOIN network_nodes a ON a.id = p.from_node_id JOIN network_nodes b ON b.id = p.to_node_id
		WHERE p.source = 'Net1' AND p.source_id = '10'`).Scan(&l, &d, &from, &to); err != nil {
		t.Fatal(err)
	}
	if l < 3209.5 || l > 3209.7 || d != 18*25.4 || from != "10" || to != "11" {
		t.Errorf("Net1 pipe 10: %v m, %v mm, %s -> %s", l, d, from, to)
	}
}

func TestSWMMExample1(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	f := sharedData(t, "drainage/swmm_Example1.inp")
	if _, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{f}, CRS: "local:116.39,39.9,1"}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT count(*) FROM network_nodes WHERE network = 'drainage' AND kind = 'manhole'`); n != 13 {
		t.Errorf("%d junctions", n)
	}
	if n := count(t, s, `SELECT count(*) FROM pipes WHERE network = 'drainage' AND kind = 'conduit' AND from_node_id IS NOT NULL AND to_node_id IS NOT NULL`); n != 13 {
		t.Errorf("%d conduits", n)
	}
	// Conduit 7: 21 -> 22, inlet and outlet offsets 1 ft above inverts 990 and 987 ft.
	var fi, ti float64
	if err := s.Pool.QueryRow(ctx, `SELECT from_invert_m, to_invert_m FROM pipes WHERE source_id = '7'`).Scan(&fi, &ti); err != nil {
		t.Fatal(err)
	}
	if fi < 302.05 || fi > 302.06 || ti < 301.14 || ti > 301.15 {
		t.Errorf("conduit 7 inverts %v, %v", fi, ti)
	}
}

func TestSWMMStatePlane(t *testing.T) {
	s := MustOpenStore(t)
	f := sharedData(t, "drainage/swmmio_model_state_plane.inp")
	if _, err := importers.Run(context.Background(), s, nil, importers.Options{Files: []string{f}, CRS: "local:116.39,39.9,0.3048"}); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]int64{
		`SELECT count(*) FROM network_nodes WHERE kind = 'manhole'`: 31,
		`SELECT count(*) FROM network_nodes WHERE kind = 'storage'`: 13,
		`SELECT count(*) FROM network_nodes WHERE kind = 'outfall'`: 1,
		`SELECT count(*) FROM pipes WHERE kind = 'conduit'`:         44,
	} {
		if n := count(t, s, q); n != want {
			t.Errorf("%s = %d, want %d", q, n, want)
		}
	}
}

func TestReprojection(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	// Web Mercator, named by the file's legacy crs member.
	f := writeFile(t, "m.geojson", `{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::3857"}},"features":[
{"type":"Feature","id":"m1","properties":{},"geometry":{"type":"Point","coordinates":[12957224.6,4852834.0]}}]}`)
	if _, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{f}, Layer: "cameras"}); err != nil {
		t.Fatal(err)
	}
	var x, y float64
	if err := s.Pool.QueryRow(ctx, `SELECT ST_X(geom), ST_Y(geom) FROM cameras WHERE source_id = 'm1'`).Scan(&x, &y); err != nil {
		t.Fatal(err)
	}
	if x < 116.396 || x > 116.398 || y < 39.908 || y > 39.910 {
		t.Errorf("3857 -> (%v, %v)", x, y)
	}
	// GCJ-02 (a Chinese web map's point) back to WGS84.
	f = writeFile(t, "g.csv", "id,lng,lat\ng1,116.41024449916938,39.91640428150164\n")
	if _, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{f}, Layer: "cameras", CRS: "gcj02"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Pool.QueryRow(ctx, `SELECT ST_X(geom), ST_Y(geom) FROM cameras WHERE source_id = 'g1'`).Scan(&x, &y); err != nil {
		t.Fatal(err)
	}
	if d := math.Hypot(x-116.404, y-39.915); d > 1e-7 {
		t.Errorf("gcj02 -> (%v, %v), %g° from the WGS84 point", x, y, d)
	}
	// A guessed CRS that puts the data off the planet.
	f = writeFile(t, "w.csv", "id,x,y\nw1,116.4,39.9\n")
	_, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{f}, Layer: "cameras", CRS: "EPSG:4326", Source: "w"})
	if err != nil {
		t.Fatal(err)
	}
	f = writeFile(t, "w2.csv", "id,x,y\nw2,440000,4420000\n")
	_, err = importers.Run(ctx, s, nil, importers.Options{Files: []string{f}, Layer: "cameras"})
	if errs.Code(err) != errs.EINVALID || !strings.Contains(err.Error(), "wrong CRS?") {
		t.Fatalf("metres as degrees: %v", err)
	}
}
