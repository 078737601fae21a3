package crs

import (
	"math"
	"strconv"
	"testing"
)

// Reference values published by wandergis/coordtransform (test/app.js) for
// the point (116.404, 39.915) in Beijing.
func TestChineseOffsetsReferencePoints(t *testing.T) {
	near := func(name string, gx, gy, wx, wy, tol float64) {
		t.Helper()
		if math.Abs(gx-wx) > tol || math.Abs(gy-wy) > tol {
			t.Errorf("%s = (%.12f, %.12f), want (%.12f, %.12f) ±%g", name, gx, gy, wx, wy, tol)
		}
	}
	x, y := WGS84ToGCJ02(116.404, 39.915)
	near("WGS84ToGCJ02", x, y, 116.41024449916938, 39.91640428150164, 1e-12)
	x, y = GCJ02ToBD09(116.404, 39.915)
	near("GCJ02ToBD09", x, y, 116.41036949371029, 39.92133699351021, 1e-12)
	// The published inverses are one-step approximations; the iterative
	// inverse agrees with them to their error (a few metres at most)...
	x, y = GCJ02ToWGS84(116.404, 39.915)
	near("GCJ02ToWGS84", x, y, 116.39775550083061, 39.91359571849836, 2e-5)
	x, y = BD09ToGCJ02(116.404, 39.915)
	near("BD09ToGCJ02", x, y, 116.39762729119315, 39.90865673957631, 2e-5)
	// ...and inverts the forward offsets exactly (under a millimetre).
	for _, p := range [][2]float64{{116.404, 39.915}, {121.4737, 31.2304}, {113.2644, 23.1291}, {104.0665, 30.5723}, {126.6424, 45.7567}} {
		gx, gy := WGS84ToGCJ02(p[0], p[1])
		wx, wy := GCJ02ToWGS84(gx, gy)
		near("GCJ02 round trip", wx, wy, p[0], p[1], 1e-8)
		bx, by := WGS84ToBD09(p[0], p[1])
		wx, wy = BD09ToWGS84(bx, by)
		near("BD09 round trip", wx, wy, p[0], p[1], 1e-8)
	}
	// Outside China nothing moves.
	x, y = GCJ02ToWGS84(7.42, 43.73)
	near("outside China", x, y, 7.42, 43.73, 0)
}

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		srid int
		fn   bool
	}{
		{"EPSG:4547", 4547, false},
		{"epsg:3857", 3857, false},
		{"4490", 4490, false},
		{"urn:ogc:def:crs:EPSG::28992", 28992, false},
		{"http://www.opengis.net/def/crs/EPSG/0/7415", 7415, false},
		{"urn:ogc:def:crs:OGC:1.3:CRS84", 4326, false},
		{"OGC:CRS84", 4326, false},
		{"https://www.opengis.net/def/crs/OGC/1.3/CRS84", 4326, false},
		{"http://www.opengis.net/def/crs/OGC/0/CRS84", 4326, false},
		{"https://www.opengis.net/def/crs/EPSG/0/4547", 4547, false},
		{"gcj02", 4326, true},
		{"GCJ-02", 4326, true},
		{"bd09", 4326, true},
		{"local:116.39,39.9,0.5", 4326, true},
	}
	for _, tc := range cases {
		c, err := Parse(tc.in)
		if err != nil || c.SRID != tc.srid || (c.Transform != nil) != tc.fn {
			t.Errorf("Parse(%q) = %+v, %v", tc.in, c, err)
		}
	}
	for _, bad := range []string{"", "wgs85", "EPSG:", "local:1", "local:500,0"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestFromWKT(t *testing.T) {
	cases := []struct {
		wkt  string
		want int
	}{
		{`GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]`, 4326},
		{`GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]`, 4490},
		{`PROJCS["CGCS2000_3_Degree_GK_CM_114E",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",114.0],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]`, 4547},
		{`PROJCS["CGCS2000_3_Degree_GK_Zone_39",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],PARAMETER["False_Easting",39500000.0],PARAMETER["Central_Meridian",117.0],UNIT["Meter",1.0]]`, 4527},
		{`PROJCS["CGCS2000_GK",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]]],PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",500000.0],PARAMETER["Central_Meridian",120.0],UNIT["Meter",1.0]]`, 4549},
		{`PROJCS["WGS_1984_Web_Mercator_Auxiliary_Sphere",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]]],PROJECTION["Mercator_Auxiliary_Sphere"],UNIT["Meter",1.0]]`, 3857},
		{`PROJCS["WGS_1984_UTM_Zone_50N",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]]],PROJECTION["Transverse_Mercator"],UNIT["Meter",1.0]]`, 32650},
		{`PROJCS["WGS 84 / UTM zone 33S",GEOGCS["WGS 84"],PROJECTION["Transverse_Mercator"]]`, 32733},
		{`PROJCS["Amersfoort / RD New",GEOGCS["Amersfoort",DATUM["Amersfoort",SPHEROID["Bessel 1841",6377397.155,299.1528128,AUTHORITY["EPSG","7004"]],AUTHORITY["EPSG","6289"]],AUTHORITY["EPSG","4289"]],PROJECTION["Oblique_Stereographic"],UNIT["metre",1,AUTHORITY["EPSG","9001"]],AUTHORITY["EPSG","28992"]]`, 28992},
		{`COMPD_CS["Amersfoort / RD New + NAP height",PROJCS["Amersfoort / RD New"],VERT_CS["NAP height"]]`, 7415},
	}
	for _, tc := range cases {
		got, err := FromWKT(tc.wkt)
		if err != nil || got != tc.want {
			t.Errorf("FromWKT(%.50s…) = %d, %v; want %d", tc.wkt, got, err, tc.want)
		}
	}
	if _, err := FromWKT(`PROJCS["Mars_Polar",GEOGCS["Mars"]]`); err == nil {
		t.Error("an unknown CRS was recognised")
	}
}

// The 6-degree CGCS2000 Gauss-Kruger projections, as ESRI names them in a
// .prj (CGCS2000_GK_Zone_21, CGCS2000_GK_CM_75E), as EPSG does, and by their
// parameters alone; the 3-degree ones of the same meridian stay apart.
func TestFromWKTSixDegreeGK(t *testing.T) {
	esri := func(name string, cm, fe float64) string {
		return `PROJCS["` + name + `",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],PARAMETER["False_Easting",` +
			strconv.FormatFloat(fe, 'f', 1, 64) + `],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",` + strconv.FormatFloat(cm, 'f', 1, 64) +
			`],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]`
	}
	cases := []struct {
		wkt  string
		want int
	}{
		{esri("CGCS2000_GK_Zone_21", 123, 21500000), 4499},
		{esri("CGCS2000_GK_Zone_13", 75, 13500000), 4491},
		{esri("CGCS2000_GK_Zone_23", 135, 23500000), 4501},
		{esri("CGCS2000_GK_CM_75E", 75, 500000), 4502},
		{esri("CGCS2000_GK_CM_123E", 123, 500000), 4510},
		{esri("CGCS2000_GK_CM_135E", 135, 500000), 4512},
		{`PROJCS["CGCS2000 / Gauss-Kruger zone 17",GEOGCS["China Geodetic Coordinate System 2000"],PROJECTION["Transverse_Mercator"]]`, 4495},
		{`PROJCS["CGCS2000 / Gauss-Kruger CM 111E",GEOGCS["China Geodetic Coordinate System 2000"],PROJECTION["Transverse_Mercator"]]`, 4508},
		// Named otherwise: a 6-degree zone's false easting says it.
		{esri("CGCS2000_Custom", 123, 21500000), 4499},
		// 3-degree, on the same meridians.
		{esri("CGCS2000_3_Degree_GK_CM_75E", 75, 500000), 4534},
		{esri("CGCS2000_3_Degree_GK_CM_123E", 123, 500000), 4550},
		{`PROJCS["CGCS2000 / 3-degree Gauss-Kruger CM 123E",GEOGCS["China Geodetic Coordinate System 2000"],PROJECTION["Transverse_Mercator"]]`, 4550},
		{esri("CGCS2000_3_Degree_GK_Zone_41", 123, 41500000), 4529},
		{esri("CGCS2000_Custom", 123, 41500000), 4529},
	}
	for _, tc := range cases {
		got, err := FromWKT(tc.wkt)
		if err != nil || got != tc.want {
			t.Errorf("FromWKT(%.60s…) = %d, %v; want %d", tc.wkt, got, err, tc.want)
		}
	}
	// A zone's false easting with another zone's meridian is no zone.
	if n, err := FromWKT(esri("CGCS2000_Custom", 117, 21500000)); err == nil {
		t.Errorf("inconsistent zone recognised as %d", n)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"EPSG:4326", "gcj02", "local:1,2,3", `PROJCS["CGCS2000_3_Degree_GK_CM_114E"]`, `GEOGCS["x"`, "COMPD_CS["} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err == nil && c.Transform != nil {
			c.Transform(116.4, 39.9)
		}
	})
}
