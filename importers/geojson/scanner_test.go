package geojson

import (
	"strings"
	"testing"

	"github.com/paulmach/orb"
)

// The document forms found in the wild: each gives its features and CRS.
func TestScannerForms(t *testing.T) {
	const pt = `{"type":"Point","coordinates":[12958400,4852800]}`
	for _, tc := range []struct {
		name, doc, crs string
		n              int
	}{
		{"text sequence (RFC 8142)", "\x1e{\"type\":\"Feature\",\"geometry\":" + pt + "}\n\x1e{\"type\":\"Feature\",\"geometry\":" + pt + "}\n", "", 2},
		{"one-line Feature with a legacy crs", `{"type":"Feature","crs":{"type":"name","properties":{"name":"EPSG:3857"}},"geometry":` + pt + `}`, "EPSG:3857", 1},
		{"crs of the 2008 drafts' EPSG type", `{"type":"FeatureCollection","crs":{"type":"EPSG","properties":{"code":3857}},"features":[{"type":"Feature","geometry":` + pt + `}]}`, "EPSG:3857", 1},
		{"bare geometry", pt, "", 1},
		{"bare geometry with a crs", `{"crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::3857"}},"type":"Point","coordinates":[12958400,4852800]}`, "urn:ogc:def:crs:EPSG::3857", 1},
		{"one-line FeatureCollection", `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":` + pt + `},{"type":"Feature","geometry":` + pt + `}]}`, "", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewScanner(strings.NewReader(tc.doc), "f")
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for s.Scan() {
				r := s.Record()
				if err := r.Decode(r); err != nil {
					t.Fatalf("feature %d: %v", n+1, err)
				}
				if !orb.Equal(r.Geom, orb.Point{12958400, 4852800}) {
					t.Fatalf("feature %d: %v", n+1, r.Geom)
				}
				n++
			}
			if s.Err() != nil || n != tc.n || s.CRS() != tc.crs {
				t.Fatalf("%d features, crs %q, err %v; want %d, %q", n, s.CRS(), s.Err(), tc.n, tc.crs)
			}
		})
	}
}
