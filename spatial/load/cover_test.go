package load

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/spatial"
)

// The fast cover of small polygons gives the cells spatial.CoverCells gives.
func TestSmallCoverMatchesCoverCells(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 2000; i++ {
		x, y := 116.3+r.Float64()*0.1, 39.8+r.Float64()*0.1
		w, h := 0.00005+r.Float64()*0.0004, 0.00005+r.Float64()*0.0004
		p := orb.Polygon{{{x, y}, {x + w, y}, {x + w, y + h}, {x, y + h}, {x, y}}}
		if !small(p, p.Bound()) {
			continue
		}
		got := smallCover(p)
		want := spatial.CoverCells(p, spatial.CoverRes)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("polygon %v: cells %v, CoverCells %v", p, got, want)
		}
	}
}
