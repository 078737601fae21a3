package load

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/paulmach/orb"
	h3 "github.com/uber/h3-go/v4"

	"github.com/citytwin/citytwin/spatial"
)

// The fast cover of small polygons gives the cells spatial.CoverCells gives.
func TestSmallCoverMatchesCoverCells(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cc := &cellCache{}
	for i := 0; i < 2000; i++ {
		x, y := 116.3+r.Float64()*0.1, 39.8+r.Float64()*0.1
		w, h := 0.00005+r.Float64()*0.0004, 0.00005+r.Float64()*0.0004
		p := orb.Polygon{{{x, y}, {x + w, y}, {x + w, y + h}, {x, y + h}, {x, y}}}
		if !small(p, p.Bound()) {
			continue
		}
		got := smallCover(p, cc)
		want := spatial.CoverCells(p, spatial.CoverRes)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("polygon %v: cells %v, CoverCells %v", p, got, want)
		}
	}
}

// The cell cache gives the cell H3 gives, everywhere on the globe and
// especially close to cell edges and vertices.
func TestCellCacheMatchesH3(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cc := &cellCache{}
	hits := 0
	check := func(p orb.Point) {
		want := spatial.PointCell(p, spatial.CoverRes)
		if got := cc.cell(p); got != want {
			t.Fatalf("point %v: cache says %x, H3 %x", p, got, want)
		}
	}
	for i := 0; i < 3000; i++ {
		// A random place, then points scattered around it at scales from a
		// building's size down to a hair's breadth of a cell edge.
		c := orb.Point{-180 + r.Float64()*360, -85 + r.Float64()*170}
		check(c)
		for _, v := range h3.Cell(spatial.PointCell(c, spatial.CoverRes)).Boundary() {
			for k := 0; k < 20; k++ {
				s := math.Pow(10, -2-r.Float64()*6) // 1e-2 .. 1e-8 degrees
				check(orb.Point{v.Lng + (r.Float64()-0.5)*s, v.Lat + (r.Float64()-0.5)*s})
			}
		}
		for k := 0; k < 40; k++ {
			p := orb.Point{c[0] + (r.Float64()-0.5)*0.003, c[1] + (r.Float64()-0.5)*0.003}
			if p[0] < -180 || p[0] > 180 || p[1] < -90 || p[1] > 90 {
				continue
			}
			for _, e := range cc.ents[:cc.n] {
				if e.contains(p) {
					hits++
					break
				}
			}
			check(p)
		}
	}
	if hits == 0 {
		t.Fatal("the cache never answered")
	}
}
