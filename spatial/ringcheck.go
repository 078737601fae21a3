package spatial

import (
	"math"

	"github.com/paulmach/orb"
)

// A GEOS validity check costs a WKB round trip and several cgo calls per
// feature; most footprints are a single small ring that is plainly simple.
// simpleShell proves that in Go, with orientation tests whose sign is
// certain (Shewchuk's error bound), and leaves every doubtful case to GEOS.

// maxSimpleShell bounds the ring size checked in Go (the test is quadratic).
const maxSimpleShell = 64

// ccwErrBound is Shewchuk's bound for the fast orientation test: when the
// determinant exceeds it times the sum of its terms' magnitudes, its sign
// is exact.
const ccwErrBound = (3 + 16*0x1p-53) * 0x1p-53

// turn returns the sign of the turn a→b→c (1 left, -1 right), or 0 when
// floating point cannot tell it for certain (collinear or nearly so).
func turn(a, b, c orb.Point) int {
	l := (a[0] - c[0]) * (b[1] - c[1])
	r := (a[1] - c[1]) * (b[0] - c[0])
	det := l - r
	bound := ccwErrBound * (math.Abs(l) + math.Abs(r))
	switch {
	case det > bound:
		return 1
	case -det > bound:
		return -1
	}
	return 0
}

// simpleShell reports whether g is a polygon, or a multipolygon of one
// polygon, with no hole and a closed shell of at most maxSimpleShell points
// that is certainly simple: no repeated point, no two edges that touch but
// neighbours at their shared vertex, and no neighbours that fold back onto
// one another. Such a polygon is valid as GEOS sees it. False means only
// that GEOS must decide.
func simpleShell(g orb.Geometry) bool {
	var p orb.Polygon
	switch g := g.(type) {
	case orb.Polygon:
		p = g
	case orb.MultiPolygon:
		if len(g) != 1 {
			return false
		}
		p = g[0]
	default:
		return false
	}
	if len(p) != 1 {
		return false
	}
	r := p[0]
	n := len(r) - 1 // edges
	if n < 3 || n > maxSimpleShell || r[0] != r[n] {
		return false
	}
	for i := 0; i < n; i++ {
		if r[i] == r[i+1] {
			return false
		}
		// Neighbours i and i+1 share r[i+1]: certainly not collinear, so
		// they cannot overlap.
		if turn(r[i], r[i+1], r[(i+2)%n]) == 0 {
			return false
		}
	}
	for i := 0; i < n; i++ {
		a, b := r[i], r[i+1]
		for j := i + 2; j < n; j++ {
			if i == 0 && j == n-1 {
				continue // neighbours through the closing vertex
			}
			c, d := r[j], r[j+1]
			if math.Max(a[0], b[0]) < math.Min(c[0], d[0]) || math.Max(c[0], d[0]) < math.Min(a[0], b[0]) ||
				math.Max(a[1], b[1]) < math.Min(c[1], d[1]) || math.Max(c[1], d[1]) < math.Min(a[1], b[1]) {
				continue
			}
			o1, o2 := turn(a, b, c), turn(a, b, d)
			o3, o4 := turn(c, d, a), turn(c, d, b)
			if o1 == 0 || o2 == 0 || o3 == 0 || o4 == 0 {
				return false
			}
			if o1 != o2 && o3 != o4 {
				return false // they cross
			}
		}
	}
	return true
}
