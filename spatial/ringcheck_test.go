package spatial

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/twpayne/go-geos"
)

// Whenever simpleShell vouches for a polygon, GEOS finds it valid; and it
// vouches for the plain footprints that make up most files.
func TestSimpleShellAgreesWithGEOS(t *testing.T) {
	ctx := geos.NewContext()
	r := rand.New(rand.NewPCG(7, 8))
	vouched, valid := 0, 0
	for i := 0; i < 100000; i++ {
		n := 3 + r.IntN(8)
		ring := make(orb.Ring, 0, n+1)
		x0, y0 := 116+r.Float64(), 39+r.Float64()
		for k := 0; k < n; k++ {
			var p orb.Point
			switch i % 4 {
			case 0: // anywhere in a small box: often self-intersecting
				p = orb.Point{x0 + r.Float64()*1e-3, y0 + r.Float64()*1e-3}
			case 1: // on a coarse grid: exact touches, collinear runs, repeats
				p = orb.Point{x0 + float64(r.IntN(4))*1e-4, y0 + float64(r.IntN(4))*1e-4}
			case 2: // a convex polygon with one vertex nudged a hair
				a := float64(k) / float64(n) * 6.283185307179586
				p = orb.Point{x0 + 1e-4*math.Cos(a), y0 + 1e-4*math.Sin(a)}
				if k == 1 {
					p[0] += (r.Float64() - 0.5) * 1e-15
				}
			default: // a rectangle or L shape as generated footprints are
				w, h := 1e-4+r.Float64()*2e-4, 1e-4+r.Float64()*2e-4
				shape := []orb.Point{{0, 0}, {w, 0}, {w, h / 2}, {w / 2, h / 2}, {w / 2, h}, {0, h}}
				if r.IntN(2) == 0 {
					shape = []orb.Point{{0, 0}, {w, 0}, {w, h}, {0, h}}
				}
				if k < len(shape) {
					p = orb.Point{x0 + shape[k][0], y0 + shape[k][1]}
				} else {
					p = ring[len(ring)-1]
				}
			}
			ring = append(ring, p)
		}
		ring = append(ring, ring[0])
		poly := orb.Polygon{ring}
		b, err := wkb.Marshal(poly)
		if err != nil {
			t.Fatal(err)
		}
		g, err := ctx.NewGeomFromWKB(b)
		if err != nil {
			continue // GEOS refuses it outright (too few points)
		}
		ok := g.IsValid()
		g.Destroy()
		if ok {
			valid++
		}
		if simpleShell(poly) {
			vouched++
			if !ok {
				t.Fatalf("simpleShell vouches for %v, which GEOS finds invalid", ring)
			}
		}
	}
	if vouched < valid/2 {
		t.Fatalf("simpleShell vouched for %d of %d valid polygons", vouched, valid)
	}
	t.Logf("vouched for %d of %d valid polygons", vouched, valid)
}
