package importers_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/citytwin/citytwin/importers"
	"github.com/citytwin/citytwin/internal/errs"
)

func gbk(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestCSVGBKPoints(t *testing.T) {
	s := MustOpenStore(t)
	content := "编号,名称,经度,纬度,状态\nP1,长安街灯杆一号,116.3975,39.9087,ok\nP2,西单路口灯杆,116.3740,39.9070,fault\n"
	f := filepath.Join(t.TempDir(), "poles.csv")
	if err := os.WriteFile(f, gbk(t, content), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := importers.Run(context.Background(), s, nil, importers.Options{Files: []string{f}, Layer: "smart_poles",
		IDField: "编号", Map: map[string]string{"名称": "name", "状态": "status"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inserted != 2 {
		t.Fatalf("report %+v", rep)
	}
	var name, status string
	if err := s.Pool.QueryRow(context.Background(), `SELECT name, status FROM smart_poles WHERE source_id = 'P2'`).Scan(&name, &status); err != nil {
		t.Fatal(err)
	}
	if name != "西单路口灯杆" || status != "fault" {
		t.Fatalf("P2: %q %q", name, status)
	}
}

func TestCSVWKTAndBadRows(t *testing.T) {
	s := MustOpenStore(t)
	f := writeFile(t, "sites.csv", "id;name;wkt;stage\n"+
		"s1;Metro depot;POLYGON((116.39 39.90,116.40 39.90,116.40 39.91,116.39 39.91,116.39 39.90));planned\n"+
		"s2;Bad;POLYGON((116.39 39.90;planned\n"+
		"s3;Bad stage;POINT(116.39 39.90);someday\n")
	rep, err := importers.Run(context.Background(), s, nil, importers.Options{Files: []string{f}, Layer: "project_sites", SkipInvalid: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inserted != 1 || rep.Rejected != 2 || rep.Rejections[0].Record != 2 || rep.Rejections[1].Record != 3 {
		t.Fatalf("report %+v", rep)
	}
}

// writeGBKShapefile writes a point shapefile whose DBF holds GBK text.
func writeGBKShapefile(tb testing.TB, dir string, names []string, pts [][2]float64) string {
	tb.Helper()
	var shp bytes.Buffer
	le, be := binary.LittleEndian, binary.BigEndian
	hdr := make([]byte, 100)
	be.PutUint32(hdr[0:], 9994)
	be.PutUint32(hdr[24:], uint32((100+len(pts)*28)/2))
	le.PutUint32(hdr[28:], 1000)
	le.PutUint32(hdr[32:], 1)
	shp.Write(hdr)
	for i, p := range pts {
		rec := make([]byte, 28)
		be.PutUint32(rec[0:], uint32(i+1))
		be.PutUint32(rec[4:], 10)
		le.PutUint32(rec[8:], 1)
		le.PutUint64(rec[12:], math.Float64bits(p[0]))
		le.PutUint64(rec[20:], math.Float64bits(p[1]))
		shp.Write(rec)
	}
	// DBF: fields NAME C(40), FLOORS N(4,0).
	var dbf bytes.Buffer
	h := make([]byte, 32)
	h[0] = 3
	le.PutUint32(h[4:], uint32(len(pts)))
	le.PutUint16(h[8:], 32+2*32+1)
	le.PutUint16(h[10:], 1+40+4)
	h[29] = 0x4D
	dbf.Write(h)
	for _, fd := range []struct {
		name string
		typ  byte
		n    byte
	}{{"NAME", 'C', 40}, {"FLOORS", 'N', 4}} {
		d := make([]byte, 32)
		copy(d, fd.name)
		d[11], d[16] = fd.typ, fd.n
		dbf.Write(d)
	}
	dbf.WriteByte(0x0D)
	for i, n := range names {
		dbf.WriteByte(' ')
		b := append(gbk(tb, n), bytes.Repeat([]byte(" "), 40)...)
		dbf.Write(b[:40])
		dbf.WriteString("   " + string(rune('1'+i)))
	}
	dbf.WriteByte(0x1A)
	base := filepath.Join(dir, "楼")
	for ext, b := range map[string][]byte{".shp": shp.Bytes(), ".dbf": dbf.Bytes(), ".cpg": []byte("GBK"),
		".prj": []byte(`GEOGCS["China Geodetic Coordinate System 2000",DATUM["China_2000",SPHEROID["CGCS2000",6378137,298.257222101]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]`)} {
		if err := os.WriteFile(base+ext, b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return base + ".shp"
}

func TestShapefileGBK(t *testing.T) {
	s := MustOpenStore(t)
	dir := t.TempDir()
	writeGBKShapefile(t, dir, []string{"国贸大厦", "中关村创业大街"}, [][2]float64{{116.46, 39.91}, {116.31, 39.98}})
	// A folder with one shapefile; the points go to a new user layer.
	rep, err := importers.Run(context.Background(), s, nil, importers.Options{Files: []string{dir}, Layer: "landmarks"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inserted != 2 {
		t.Fatalf("report %+v", rep)
	}
	var name string
	var floors float64
	if err := s.Pool.QueryRow(context.Background(), `SELECT props->>'NAME', (props->>'FLOORS')::float FROM user_features WHERE layer = 'landmarks' AND source_id = '2'`).Scan(&name, &floors); err != nil {
		t.Fatal(err)
	}
	if name != "中关村创业大街" || floors != 2 {
		t.Fatalf("%q %v", name, floors)
	}
	if _, err := s.Registry.Layer("landmarks"); err != nil {
		t.Fatal("the new layer is not in the registry")
	}
}

func TestNaturalEarth(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	if _, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{sharedData(t, "shapefile/naturalearth_lowres")}, Layer: "countries", IDField: "name"}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT count(*) FROM user_features WHERE layer = 'countries'`); n != 177 {
		t.Errorf("%d countries", n)
	}
	if n := count(t, s, `SELECT count(*) FROM user_features WHERE layer = 'countries' AND source_id = 'China' AND props->>'iso_a3' = 'CHN'`); n != 1 {
		t.Errorf("China: %d", n)
	}
	if _, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{sharedData(t, "shapefile/naturalearth_cities/naturalearth_cities.shp")}, Layer: "cities"}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT count(*) FROM user_features WHERE layer = 'cities'`); n != 243 {
		t.Errorf("%d cities", n)
	}
}

func TestCityJSON(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	cases := []struct {
		file, crs string
		want      int64
	}{
		{"cjio_delft.json", "", 160},
		{"cjio_rotterdam_subset.json", "EPSG:28992", 16},
		// 4 buildings, one of them with its own geometry, and 8 parts.
		{"cjio_DH_01_subs.city.json", "EPSG:28992", 9},
		{"cjio_multi_lod.json", "EPSG:28992", 10},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			rep, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{sharedData(t, "cityjson/"+tc.file)}, CRS: tc.crs})
			if err != nil {
				t.Fatal(err)
			}
			src := tc.file[:len(tc.file)-len(filepath.Ext(tc.file))]
			if i := bytes.IndexByte([]byte(src), '.'); i > 0 {
				src = src[:i]
			}
			if n := count(t, s, `SELECT count(*) FROM buildings WHERE source = $1 AND geom3d IS NOT NULL AND height_m > 0`, src); n != tc.want {
				t.Errorf("%d buildings with 3D geometry and height, want %d (report %+v)", n, tc.want, rep)
			}
			// In the Netherlands, in lon/lat.
			if n := count(t, s, `SELECT count(*) FROM buildings WHERE source = $1 AND NOT ST_Intersects(geom, ST_MakeEnvelope(3, 50.7, 7.3, 53.6, 4326))`, src); n != 0 {
				t.Errorf("%d buildings outside the Netherlands", n)
			}
		})
	}
	if n := count(t, s, `SELECT count(*) FROM buildings WHERE source = 'cjio_DH_01_subs' AND props->>'cityjson_type' = 'BuildingPart' AND props ? 'parent'`); n != 8 {
		t.Errorf("%d building parts, want 8", n)
	}
	// Delft's measuredHeight is the height.
	if n := count(t, s, `SELECT count(*) FROM buildings WHERE source_id = 'b1105d28c-00ba-11e6-b420-2bdcc4ab5d7f' AND height_m = 6`); n != 1 {
		t.Errorf("measuredHeight not kept")
	}
	// Without a CRS, Dutch grid coordinates are refused.
	_, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{sharedData(t, "cityjson/cjio_rotterdam_subset.json")}, Source: "x"})
	if err == nil || !strings.Contains(err.Error(), "wrong CRS?") {
		t.Fatalf("err = %v", err)
	}
}

func TestGeoPackage(t *testing.T) {
	s := MustOpenStore(t)
	f := sharedData(t, "gpkg/planetiler-geopackage.gpkg")
	rep, err := importers.Run(context.Background(), s, nil, importers.Options{Files: []string{f}, Layer: "metro_stations"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inserted != 86 {
		t.Fatalf("report %+v", rep)
	}
	if n := count(t, s, `SELECT count(*) FROM user_features WHERE layer = 'metro_stations' AND props->>'name' <> '' AND props ? 'line' AND GeometryType(geom) = 'POINT'`); n != 86 {
		t.Errorf("%d stations with name and line", n)
	}
	if n := count(t, s, `SELECT count(*) FROM user_features WHERE layer = 'metro_stations' AND NOT ST_Intersects(geom, ST_MakeEnvelope(-77.5, 38.7, -76.8, 39.2, 4326))`); n != 0 {
		t.Errorf("%d stations outside Washington", n)
	}
}

// writeGeoPackage writes a GeoPackage with two feature tables: "Stations"
// (points) and "parks" (polygons), n features each.
func writeGeoPackage(tb testing.TB, n int) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "city.gpkg")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	gp := func(g orb.Geometry) []byte {
		w, err := wkb.Marshal(g)
		if err != nil {
			tb.Fatal(err)
		}
		// Header: magic, version 0, flags (little endian, no envelope), srs_id.
		return append([]byte{'G', 'P', 0, 1, 0xe6, 0x10, 0, 0}, w...)
	}
	for _, q := range []string{
		`CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT, srs_id INTEGER PRIMARY KEY, organization TEXT, organization_coordsys_id INTEGER, definition TEXT)`,
		`INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84', 4326, 'EPSG', 4326, '')`,
		`CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY, data_type TEXT, identifier TEXT, srs_id INTEGER)`,
		`CREATE TABLE gpkg_geometry_columns (table_name TEXT, column_name TEXT, geometry_type_name TEXT, srs_id INTEGER, z INTEGER, m INTEGER)`,
		`CREATE TABLE "Stations" (fid INTEGER PRIMARY KEY, geom BLOB, name TEXT)`,
		`CREATE TABLE parks (fid INTEGER PRIMARY KEY, geom BLOB, name TEXT)`,
		`INSERT INTO gpkg_contents VALUES ('Stations', 'features', 'Stations', 4326), ('parks', 'features', 'parks', 4326)`,
		`INSERT INTO gpkg_geometry_columns VALUES ('Stations', 'geom', 'POINT', 4326, 0, 0), ('parks', 'geom', 'POLYGON', 4326, 0, 0)`,
	} {
		if _, err := db.Exec(q); err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
	}
	for i := 1; i <= n; i++ {
		x, y := 116.3+float64(i)*0.001, 39.9
		if _, err := db.Exec(`INSERT INTO "Stations" VALUES (?, ?, ?)`, i, gp(orb.Point{x, y}), fmt.Sprintf("S%d", i)); err != nil {
			tb.Fatal(err)
		}
		park := orb.Polygon{{{x, y}, {x + 0.0005, y}, {x + 0.0005, y + 0.0005}, {x, y + 0.0005}, {x, y}}}
		if _, err := db.Exec(`INSERT INTO parks VALUES (?, ?, ?)`, i, gp(park), fmt.Sprintf("P%d", i)); err != nil {
			tb.Fatal(err)
		}
	}
	return path
}

// One table of a GeoPackage, named with --table (Options.Table) or as
// FILE.gpkg:TABLE; an unknown name lists the tables.
func TestGeoPackageTable(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	f := writeGeoPackage(t, 5)
	// All tables, each its own layer.
	rep, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{f}, Source: "all"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Layers["stations"] != 5 || rep.Layers["parks"] != 5 {
		t.Fatalf("all tables: %+v", rep)
	}
	// One table by option, into a layer of our choice.
	rep, err = importers.Run(ctx, s, nil, importers.Options{Files: []string{f}, Table: "parks", Layer: "green"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inserted != 5 || rep.Layers["green"] != 5 {
		t.Fatalf("--table parks: %+v", rep)
	}
	if n := count(t, s, `SELECT count(*) FROM user_features WHERE layer = 'green' AND GeometryType(geom) = 'POLYGON' AND props->>'name' LIKE 'P%'`); n != 5 {
		t.Fatalf("%d parks in green", n)
	}
	// One table by name after the file (its layer named after it).
	rep, err = importers.Run(ctx, s, nil, importers.Options{Files: []string{f + ":Stations"}, Source: "one"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inserted != 5 || rep.Layers["stations"] != 5 || len(rep.Layers) != 1 {
		t.Fatalf("city.gpkg:Stations: %+v", rep)
	}
	// An unknown table says which there are; nothing is written.
	before := count(t, s, `SELECT count(*) FROM user_features`)
	_, err = importers.Run(ctx, s, nil, importers.Options{Files: []string{f + ":roads"}})
	if errs.Code(err) != errs.EINVALID || !strings.Contains(err.Error(), "Stations, parks") {
		t.Fatalf("unknown table: %v", err)
	}
	if count(t, s, `SELECT count(*) FROM user_features`) != before {
		t.Fatal("an import of an unknown table wrote features")
	}
}

// ogr2ogr runs GDAL's ogr2ogr (installed by scripts/install-deps.sh), the
// tool most GIS departments' exports come from.
func ogr2ogr(tb testing.TB, args ...string) {
	tb.Helper()
	bin, err := exec.LookPath("ogr2ogr")
	if err != nil {
		tb.Fatalf("ogr2ogr (GDAL) not installed: %v", err)
	}
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		tb.Fatalf("ogr2ogr %v: %v\n%s", args, err, out)
	}
}

// Files as GDAL writes them from a 3D source: a GeoPackage with Z geometries
// (ISO WKB 1003/1006) in two tables of different CRSs (CGCS2000 lon/lat and
// its 3-degree Gauss-Kruger zone 39, EPSG:4527), and a CSV with
// "POLYGON Z" WKT; their HEIGHT and 层数 fields fill height_m and floors.
func TestGDALWrittenFiles(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	src := writeFile(t, "blocks.geojson", `{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"id":"b1","NAME":"楼A","HEIGHT":21.5,"层数":7},"geometry":{"type":"Polygon","coordinates":[[[116.30,39.90,10],[116.301,39.90,10],[116.301,39.901,10],[116.30,39.901,10],[116.30,39.90,10]]]}},
{"type":"Feature","properties":{"id":"b2","NAME":"楼B","HEIGHT":9,"层数":3},"geometry":{"type":"MultiPolygon","coordinates":[[[[116.31,39.90,0],[116.311,39.90,0],[116.311,39.901,0],[116.31,39.901,0],[116.31,39.90,0]]]]}}]}`)
	dir := t.TempDir()
	gpkg := filepath.Join(dir, "blocks.gpkg")
	ogr2ogr(t, "-f", "GPKG", gpkg, src, "-nln", "blocks_cgcs2000", "-a_srs", "EPSG:4490")
	ogr2ogr(t, "-f", "GPKG", "-update", gpkg, src, "-nln", "blocks_gk39", "-s_srs", "EPSG:4490", "-t_srs", "EPSG:4527")
	csvFile := filepath.Join(dir, "blocks.csv")
	ogr2ogr(t, "-f", "CSV", csvFile, src, "-lco", "GEOMETRY=AS_WKT")

	rep, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{gpkg}, Layer: "buildings", Source: "gdal-gpkg"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inserted != 4 || rep.Rejected != 0 {
		t.Fatalf("GeoPackage: %+v", rep)
	}
	rep, err = importers.Run(ctx, s, nil, importers.Options{Files: []string{csvFile}, Layer: "buildings", Source: "gdal-csv"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inserted != 2 || rep.Rejected != 0 {
		t.Fatalf("CSV: %+v", rep)
	}
	// Every copy of b1 lands where the source has it (the zone-39 table
	// reprojected from its own CRS, within a centimetre), with its name,
	// height and floors in their columns.
	for _, id := range []string{"blocks_cgcs2000/1", "blocks_gk39/1"} {
		if n := count(t, s, `SELECT count(*) FROM buildings WHERE source = 'gdal-gpkg' AND source_id = $1 AND name = '楼A' AND height_m = 21.5 AND floors = 7
			AND ST_HausdorffDistance(geom, ST_GeomFromText('POLYGON((116.30 39.90,116.301 39.90,116.301 39.901,116.30 39.901,116.30 39.90))', 4326)) < 1e-7`, id); n != 1 {
			t.Errorf("GeoPackage %s: not stored as in the source", id)
		}
	}
	if n := count(t, s, `SELECT count(*) FROM buildings WHERE source = 'gdal-csv' AND source_id = 'b2' AND name = '楼B' AND height_m = 9 AND floors = 3
		AND ST_Equals(geom, ST_GeomFromText('MULTIPOLYGON(((116.31 39.90,116.311 39.90,116.311 39.901,116.31 39.901,116.31 39.90)))', 4326))`); n != 1 {
		t.Error("CSV b2: not stored as in the source")
	}
	// --map goes before the default names: HEIGHT kept under another name.
	rep, err = importers.Run(ctx, s, nil, importers.Options{Files: []string{csvFile}, Layer: "buildings", Source: "gdal-csv-mapped", Map: map[string]string{"HEIGHT": "roof_m"}})
	if err != nil || rep.Inserted != 2 {
		t.Fatalf("CSV with --map: %+v, %v", rep, err)
	}
	if n := count(t, s, `SELECT count(*) FROM buildings WHERE source = 'gdal-csv-mapped' AND height_m IS NULL AND (props->>'roof_m')::float > 0`); n != 2 {
		t.Errorf("--map HEIGHT=roof_m: %d of 2 rows kept it apart", n)
	}
}

// A CSV export of a PostGIS table holds its geometry as hex EWKB; the SRID
// it carries is the record's CRS, and EWKT's too.
func TestCSVEWKB(t *testing.T) {
	s := MustOpenStore(t)
	// ST_AsEWKB('SRID=4527;POINT(39500000 4418000)') and the same point as EWKT.
	var hexPoint string
	if err := s.Pool.QueryRow(context.Background(), `SELECT encode(ST_AsEWKB(ST_GeomFromText('POINT Z (39500000 4418000 12)', 4527)), 'hex')`).Scan(&hexPoint); err != nil {
		t.Fatal(err)
	}
	f := writeFile(t, "poles.csv", "id,name,geom\np1,East gate,"+hexPoint+"\np2,West gate,SRID=4527;POINT(39500000 4418000)\np3,Lon/lat,POINT(116.3 39.9)\n")
	rep, err := importers.Run(context.Background(), s, nil, importers.Options{Files: []string{f}, Layer: "smart_poles", Source: "ewkb"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inserted != 3 {
		t.Fatalf("%+v", rep)
	}
	// 39500000 is the central meridian of zone 39 (117°E).
	if n := count(t, s, `SELECT count(*) FROM smart_poles WHERE source = 'ewkb' AND abs(ST_X(geom) - 117) < 1e-9 AND ST_Y(geom) BETWEEN 39.8 AND 40`); n != 2 {
		t.Errorf("%d of 2 projected points reprojected from their SRID", n)
	}
}

// Each file of one import is read in its own CRS: a Gauss-Kruger shapefile
// and a lon/lat one, in either order.
func TestFilesKeepTheirCRS(t *testing.T) {
	s := MustOpenStore(t)
	src := writeFile(t, "site.geojson", `{"type":"FeatureCollection","features":[{"type":"Feature","id":"s1","properties":{},"geometry":{"type":"Polygon","coordinates":[[[116.40,39.90],[116.41,39.90],[116.41,39.91],[116.40,39.90]]]}}]}`)
	dir := t.TempDir()
	gk := filepath.Join(dir, "gk.shp")
	ll := filepath.Join(dir, "ll.shp")
	ogr2ogr(t, "-f", "ESRI Shapefile", gk, src, "-s_srs", "EPSG:4326", "-t_srs", "EPSG:4527")
	ogr2ogr(t, "-f", "ESRI Shapefile", ll, src, "-s_srs", "EPSG:4326", "-t_srs", "EPSG:4326")
	for i, files := range [][]string{{gk, ll}, {ll, gk}} {
		layer := fmt.Sprintf("crs_order_%d", i)
		rep, err := importers.Run(context.Background(), s, nil, importers.Options{Files: files, Layer: layer})
		if err != nil {
			t.Fatalf("%v: %v", files, err)
		}
		if rep.Inserted != 2 {
			t.Fatalf("%v: %+v", files, rep)
		}
		if n := count(t, s, `SELECT count(*) FROM user_features WHERE layer = $1 AND ST_DWithin(ST_Centroid(geom), ST_SetSRID(ST_MakePoint(116.4067, 39.9033), 4326), 0.001)`, layer); n != 2 {
			t.Errorf("%v: %d of 2 sites where the source has them", files, n)
		}
	}
}

// Within one import an id names one feature: a repeat is rejected (it
// would silently replace the first), in one file or across files of one
// source. Ids and values beyond float64's integers keep their digits, and a
// GeoJSON "id" property stays when the feature's own id is the source id.
func TestIDsInOneImport(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	f := writeFile(t, "poles.geojson", `{"type":"FeatureCollection","features":[
{"type":"Feature","id":1734567890123456789,"properties":{"code":110101199003071234,"id":"P-77"},"geometry":{"type":"Point","coordinates":[116.30,39.90]}},
{"type":"Feature","id":1734567890123456790,"properties":{},"geometry":{"type":"Point","coordinates":[116.31,39.90]}},
{"type":"Feature","id":"1734567890123456789","properties":{},"geometry":{"type":"Point","coordinates":[116.32,39.90]}}]}`)
	_, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{f}, Layer: "smart_poles"})
	if err == nil || !strings.Contains(err.Error(), "record 3") || !strings.Contains(err.Error(), "repeats") {
		t.Fatalf("a repeated id: %v", err)
	}
	if n := count(t, s, `SELECT count(*) FROM smart_poles`); n != 0 {
		t.Fatalf("%d poles stayed after a refused import", n)
	}
	rep, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{f}, Layer: "smart_poles", SkipInvalid: true})
	if err != nil || rep.Inserted != 2 || rep.Rejected != 1 || rep.Rejections[0].Record != 3 {
		t.Fatalf("--skip-invalid: %+v, %v", rep, err)
	}
	if n := count(t, s, `SELECT count(*) FROM smart_poles WHERE source_id = '1734567890123456789' AND props->>'code' = '110101199003071234' AND props->>'id' = 'P-77' AND ST_X(geom) = 116.30`); n != 1 {
		t.Error("the first pole lost digits of its id or code, or its id property")
	}
	// Two files of one source whose ids overlap.
	a := writeFile(t, "a.csv", "id,lon,lat\nx1,116.3,39.9\n")
	b := filepath.Join(t.TempDir(), "a.csv")
	if err := os.WriteFile(b, []byte("id,lon,lat\nx1,116.4,39.9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{a, b}, Layer: "poles_twice"}); err == nil || !strings.Contains(err.Error(), `id "x1" repeats`) {
		t.Fatalf("two files with one id: %v", err)
	}
}

// A CSV whose first 64 KiB are ASCII and whose later rows are GBK (the
// encoding is told from the start), and rows of empty cells at the end, as
// a spreadsheet saves them.
func TestCSVLateGBKAndBlankRows(t *testing.T) {
	s := MustOpenStore(t)
	var b bytes.Buffer
	b.WriteString("id,name,lon,lat\n")
	for i := 0; b.Len() < 70000; i++ {
		fmt.Fprintf(&b, "a%d,Pole %d,116.3,39.9\n", i, i)
	}
	b.WriteString("late,")
	b.Write(gbk(t, "德州市医院"))
	b.WriteString(",116.31,39.91\n,,,\n, ,,\n")
	f := filepath.Join(t.TempDir(), "late.csv")
	if err := os.WriteFile(f, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := importers.Run(context.Background(), s, nil, importers.Options{Files: []string{f}, Layer: "smart_poles", Source: "late"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rejected != 0 || rep.Read != rep.Inserted {
		t.Fatalf("%+v", rep)
	}
	if n := count(t, s, `SELECT count(*) FROM smart_poles WHERE source = 'late' AND source_id = 'late' AND name = '德州市医院'`); n != 1 {
		t.Error("the late GBK row's name was not decoded")
	}
}
