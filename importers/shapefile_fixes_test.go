package importers_test

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/citytwin/citytwin/importers"
)

// writeDBFShapefile writes a point shapefile (and its .prj when prj is not
// "") whose DBF has the given columns (name, type, width) and raw rows,
// deletion flag first, padded to the widths; no .cpg and no language
// driver.
func writeDBFShapefile(tb testing.TB, dir string, fields [][3]any, rows []string, pts [][2]float64, prj string) string {
	tb.Helper()
	be, le := binary.BigEndian, binary.LittleEndian
	shp := make([]byte, 100)
	be.PutUint32(shp, 9994)
	be.PutUint32(shp[24:], uint32((100+28*len(pts))/2))
	le.PutUint32(shp[28:], 1000)
	le.PutUint32(shp[32:], 1)
	for i, p := range pts {
		rec := make([]byte, 28)
		be.PutUint32(rec, uint32(i+1))
		be.PutUint32(rec[4:], 10)
		le.PutUint32(rec[8:], 1)
		le.PutUint64(rec[12:], math.Float64bits(p[0]))
		le.PutUint64(rec[20:], math.Float64bits(p[1]))
		shp = append(shp, rec...)
	}
	recLen := 1
	for _, f := range fields {
		recLen += f[2].(int)
	}
	dbf := make([]byte, 32)
	dbf[0] = 3
	le.PutUint32(dbf[4:], uint32(len(rows)))
	le.PutUint16(dbf[8:], uint16(32+32*len(fields)+1))
	le.PutUint16(dbf[10:], uint16(recLen))
	for _, f := range fields {
		d := make([]byte, 32)
		copy(d, f[0].(string))
		d[11], d[16] = f[1].(byte), byte(f[2].(int))
		dbf = append(dbf, d...)
	}
	dbf = append(dbf, 0x0D)
	for _, r := range rows {
		if len(r) != recLen {
			tb.Fatalf("row %q is %d bytes, the record %d", r, len(r), recLen)
		}
		dbf = append(dbf, r...)
	}
	dbf = append(dbf, 0x1A)
	base := filepath.Join(dir, "quirks")
	files := map[string][]byte{".shp": shp, ".dbf": dbf}
	if prj != "" {
		files[".prj"] = []byte(prj)
	}
	for ext, b := range files {
		if err := os.WriteFile(base+ext, b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return base + ".shp"
}

// A DBF as GDAL and other writers leave them: a deleted record, NUL-padded
// text, a null date written as zeros, an N(20,0) key beyond float64's digits
// used as --id-field, and GBK text without a .cpg after ASCII rows.
func TestShapefileDBFQuirks(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	gbk, err := simplifiedchinese.GBK.NewEncoder().String("国贸")
	if err != nil {
		t.Fatal(err)
	}
	nul := func(v string, n int) string { return v + strings.Repeat("\x00", n-len(v)) }
	rpad := func(v string, n int) string { return v + strings.Repeat(" ", n-len(v)) }
	fields := [][3]any{{"bid", byte('N'), 20}, {"name", byte('C'), 10}, {"built", byte('D'), 8}}
	rows := []string{
		"   440305001001001001" + nul("a", 10) + "20190501",
		"*  440305001001001002" + nul("b", 10) + "20190502",
		"   440305001001001003" + nul("c", 10) + "00000000",
		"   440305001001001004" + rpad(gbk, 10) + "        ",
	}
	pts := [][2]float64{{116.40, 39.90}, {116.41, 39.90}, {116.42, 39.90}, {116.43, 39.90}}
	file := writeDBFShapefile(t, t.TempDir(), fields, rows, pts, "")
	rep, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{file}, Layer: "quirks", IDField: "bid"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inserted != 3 {
		t.Fatalf("report %+v, want 3 inserted (the deleted record skipped)", rep)
	}
	for _, c := range []struct {
		q    string
		want int64
	}{
		{`SELECT count(*) FROM user_features WHERE layer = 'quirks' AND source_id IN ('440305001001001001', '440305001001001003', '440305001001001004')`, 3},
		{`SELECT count(*) FROM user_features WHERE layer = 'quirks' AND props->>'bid' = source_id AND ogc_json LIKE '%"bid": ' || source_id || '%'`, 3},
		{`SELECT count(*) FROM user_features WHERE layer = 'quirks' AND source_id = '440305001001001001' AND props->>'name' = 'a' AND props->>'built' = '2019-05-01'`, 1},
		{`SELECT count(*) FROM user_features WHERE layer = 'quirks' AND source_id = '440305001001001003' AND props->>'name' = 'c' AND NOT props ? 'built'`, 1},
		{`SELECT count(*) FROM user_features WHERE layer = 'quirks' AND source_id = '440305001001001004' AND props->>'name' = '国贸'`, 1},
	} {
		if n := count(t, s, c.q); n != c.want {
			t.Errorf("%s: %d, want %d", c.q, n, c.want)
		}
	}
	// Without --id-field the record numbers are the shapefile's.
	rep, err = importers.Run(ctx, s, nil, importers.Options{Files: []string{file}, Layer: "quirks_n", Source: "n"})
	if err != nil || rep.Inserted != 3 {
		t.Fatalf("%+v, %v", rep, err)
	}
	if n := count(t, s, `SELECT count(*) FROM user_features WHERE layer = 'quirks_n' AND source_id IN ('1', '3', '4')`); n != 3 {
		t.Errorf("%d records numbered 1, 3, 4", n)
	}
}

// A .prj naming a 6-degree CGCS2000 Gauss-Kruger zone (EPSG:4499) places
// the points.
func TestShapefileSixDegreeGKPrj(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	var x, y float64
	if err := s.Pool.QueryRow(ctx, `SELECT ST_X(p), ST_Y(p) FROM ST_Transform(ST_SetSRID(ST_MakePoint(123.43, 41.80), 4326), 4499) p`).Scan(&x, &y); err != nil {
		t.Fatal(err)
	}
	prj := `PROJCS["CGCS2000_GK_Zone_21",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],PARAMETER["False_Easting",21500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",123.0],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]`
	file := writeDBFShapefile(t, t.TempDir(), [][3]any{{"id", byte('N'), 4}}, []string{"    1"}, [][2]float64{{x, y}}, prj)
	if _, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{file}, Layer: "gk6"}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT count(*) FROM user_features WHERE layer = 'gk6' AND ST_DWithin(geom, ST_SetSRID(ST_MakePoint(123.43, 41.80), 4326), 1e-6)`); n != 1 {
		t.Errorf("the point is not at 123.43, 41.80")
	}
}
