package spatial_test

import (
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
	h3 "github.com/uber/h3-go/v4"

	"github.com/citytwin/citytwin/spatial"
)

func TestGeomCheck(t *testing.T) {
	reg := spatial.NewRegistry()
	buildings, _ := reg.Layer("buildings")
	pipes, _ := reg.Layer("pipes")
	poles, _ := reg.Layer("smart_poles")
	sq := orb.Polygon{{{116.30, 37.45}, {116.30, 37.451}, {116.301, 37.451}, {116.301, 37.45}, {116.30, 37.45}}} // clockwise
	bowtie := orb.Polygon{{{116.30, 37.45}, {116.301, 37.451}, {116.301, 37.45}, {116.30, 37.451}, {116.30, 37.45}}}
	cases := []struct {
		name     string
		layer    *spatial.Layer
		g        orb.Geometry
		wantType string
		repaired bool
		wantErr  string
	}{
		{"polygon becomes multipolygon", buildings, sq, "MultiPolygon", false, ""},
		{"bowtie repaired", buildings, bowtie, "MultiPolygon", true, ""},
		{"point into buildings", buildings, orb.Point{116.3, 37.45}, "", false, "takes MultiPolygon"},
		{"projected coordinates", buildings, orb.Polygon{{{500000, 4100000}, {500010, 4100000}, {500010, 4100010}, {500000, 4100000}}}, "", false, "wrong CRS"},
		{"huge building", buildings, orb.Polygon{{{100, 30}, {110, 30}, {110, 40}, {100, 30}}}, "", false, "too large"},
		{"empty", buildings, orb.Polygon{}, "", false, "empty"},
		{"short ring", buildings, orb.Polygon{{{116.3, 37.45}, {116.31, 37.45}, {116.3, 37.45}}}, "", false, "at least 4"},
		{"single multiline into pipes", pipes, orb.MultiLineString{{{116.3, 37.45}, {116.301, 37.45}}}, "LineString", false, ""},
		{"degenerate line", pipes, orb.LineString{{116.3, 37.45}, {116.3, 37.45}}, "", false, "two distinct points"},
		{"point", poles, orb.Point{116.3, 37.45}, "Point", false, ""},
		{"nil", poles, nil, "", false, "missing"},
	}
	c := spatial.NewGeomChecker()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, repaired, err := c.Check(tc.layer, tc.g)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.GeoJSONType() != tc.wantType || repaired != tc.repaired {
				t.Fatalf("got %s repaired=%v, want %s repaired=%v", g.GeoJSONType(), repaired, tc.wantType, tc.repaired)
			}
			if mp, ok := g.(orb.MultiPolygon); ok {
				for _, p := range mp {
					if p[0].Orientation() != orb.CCW {
						t.Fatal("exterior ring not counter-clockwise (RFC 7946)")
					}
					if planar.Area(p) <= 0 {
						t.Fatal("zero area")
					}
				}
			}
		})
	}
}

func TestH3Cells(t *testing.T) {
	p := orb.Point{116.30, 37.45}
	cell := h3.Cell(spatial.FeatureCell(p))
	if cell.Resolution() != spatial.PointRes || !cell.IsValid() {
		t.Fatalf("cell %v", cell)
	}
	ll := cell.LatLng()
	if d := (ll.Lat-37.45)*(ll.Lat-37.45) + (ll.Lng-116.30)*(ll.Lng-116.30); d > 1e-8 {
		t.Fatalf("cell centre %v far from the point", ll)
	}
	// A 1 km line at resolution 10 (edge ~76 m) passes through several cells,
	// each adjacent to the next.
	line := orb.LineString{{116.30, 37.45}, {116.3113, 37.45}}
	cells := spatial.CoverCells(line, spatial.CoverRes)
	if len(cells) < 6 || len(cells) > 20 {
		t.Fatalf("%d cells cover a 1 km line", len(cells))
	}
	// A 500 m square holds its interior cells and boundary cells.
	sq := orb.Polygon{{{116.30, 37.45}, {116.3056, 37.45}, {116.3056, 37.4545}, {116.30, 37.4545}, {116.30, 37.45}}}
	pc := spatial.CoverCells(sq, spatial.CoverRes)
	if len(pc) < 15 {
		t.Fatalf("%d cells cover a 500 m square", len(pc))
	}
	// A tiny building is still covered by one cell.
	tiny := orb.Polygon{{{116.30, 37.45}, {116.3001, 37.45}, {116.3001, 37.4501}, {116.30, 37.4501}, {116.30, 37.45}}}
	if n := len(spatial.CoverCells(tiny, spatial.CoverRes)); n < 1 || n > 2 {
		t.Fatalf("%d cells cover a 10 m building", n)
	}
}
