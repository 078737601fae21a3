package wkx

import (
	"encoding/hex"
	"testing"

	"github.com/paulmach/orb"
)

func TestText(t *testing.T) {
	square := orb.Polygon{{{116.3, 39.9}, {116.301, 39.9}, {116.301, 39.901}, {116.3, 39.9}}}
	for _, tc := range []struct {
		name, in string
		want     orb.Geometry
		srid     int
	}{
		{"WKT", "POLYGON ((116.3 39.9, 116.301 39.9, 116.301 39.901, 116.3 39.9))", square, 0},
		{"WKT Z as GDAL's CSV writes it", "POLYGON Z ((116.3 39.9 10,116.301 39.9 10,116.301 39.901 10,116.3 39.9 10))", square, 0},
		{"WKT lower case", "polygon((116.3 39.9,116.301 39.9,116.301 39.901,116.3 39.9))", square, 0},
		{"WKT ZM point", "POINT ZM (1 2 3 4)", orb.Point{1, 2}, 0},
		{"WKT M multilinestring", "MULTILINESTRING M ((1 2 3, 5 6 7))", orb.MultiLineString{{{1, 2}, {5, 6}}}, 0},
		{"EWKT", "SRID=4490;POINT(116.3 39.9)", orb.Point{116.3, 39.9}, 4490},
		// PostGIS: ST_AsEWKB('SRID=4490;POLYGON Z (...)'), as a CSV export of a table holds it.
		{"hex EWKB with SRID and Z", "01030000a08a11000001000000040000003333333333135d403333333333f3434000000000000024402506819543135d403333333333f3434000000000000024402506819543135d4017d9cef753f3434000000000000024403333333333135d403333333333f343400000000000002440", square, 4490},
		{"hex EWKB collection, upper case", "01070000A0E6100000020000000101000080000000000000F03F00000000000000400000000000000840010200008002000000000000000000F03F00000000000000400000000000000840000000000000104000000000000014400000000000001840",
			orb.Collection{orb.Point{1, 2}, orb.LineString{{1, 2}, {4, 5}}}, 4326},
		// PostGIS: ST_AsBinary('MULTILINESTRING ZM (...)'): ISO WKB, type 3005.
		{"hex ISO WKB ZM", "01bd0b00000100000001ba0b000002000000000000000000f03f000000000000004000000000000008400000000000001040000000000000144000000000000018400000000000001c400000000000002040",
			orb.MultiLineString{{{1, 2}, {5, 6}}}, 0},
		// ST_AsBinary('POINT M (1 2 3)', 'XDR'): big endian, type 2001.
		{"hex ISO WKB M big endian", "00000007d13ff000000000000040000000000000004008000000000000", orb.Point{1, 2}, 0},
		{"GeoJSON", `{"type":"Point","coordinates":[116.3,39.9,12]}`, orb.Point{116.3, 39.9}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, srid, err := Text(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !orb.Equal(g, tc.want) {
				t.Errorf("got %v, want %v", g, tc.want)
			}
			if srid != tc.srid {
				t.Errorf("srid %d, want %d", srid, tc.srid)
			}
		})
	}
	for _, bad := range []string{"", "POLYGON ((1 2, 3", "SRID=x;POINT(1 2)", "SRID=4326 POINT(1 2)", "0103000000", "01ff000000000000", `{"type":"Pointy"}`, "CIRCULARSTRING(0 0, 1 1, 2 0)"} {
		if g, _, err := Text(bad); err == nil {
			t.Errorf("Text(%q) = %v, want an error", bad, g)
		}
	}
}

func TestWKB(t *testing.T) {
	b, _ := hex.DecodeString("01bd0b00000100000001ba0b000002000000000000000000f03f000000000000004000000000000008400000000000001040000000000000144000000000000018400000000000001c400000000000002040")
	for n := 0; n < len(b); n++ {
		if _, _, err := WKB(b[:n]); err == nil {
			t.Errorf("WKB of the first %d of %d bytes: no error", n, len(b))
		}
	}
}

func FuzzText(f *testing.F) {
	for _, s := range []string{"POINT Z (1 2 3)", "SRID=4490;MULTIPOLYGON(((0 0,1 0,1 1,0 0)))", "01bd0b00000100000001ba0b000002000000000000000000f03f000000000000004000000000000008400000000000001040000000000000144000000000000018400000000000001c400000000000002040", `{"type":"LineString","coordinates":[[1,2],[3,4]]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, _, err := Text(s)
		if err == nil && g == nil {
			t.Fatal("no geometry and no error")
		}
	})
}
