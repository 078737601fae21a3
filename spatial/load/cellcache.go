package load

import (
	"math"

	"github.com/paulmach/orb"
	h3 "github.com/uber/h3-go/v4"

	"github.com/citytwin/citytwin/spatial"
)

// cellCache finds the cover cell (spatial.CoverRes) of a point without a
// call into the H3 C library when the point lies well inside a cell met
// shortly before. A building's vertices and the next buildings of a file
// mostly fall in a few cells, and a call costs about a microsecond, several
// per building, which made H3 the largest cost of a load.
//
// H3 cells are hexagons whose edges are great-circle arcs between the
// vertices cellToBoundary returns. Over a resolution-10 edge (about 66 m) an
// arc departs from the straight line in longitude/latitude by less than a
// micrometre, so a point more than cellMargin (about a centimetre) inside
// every edge of the straight-edged hexagon is in the cell; nearer an edge,
// or near the poles, the antimeridian or a pentagon, the library decides.
// A cellCache belongs to one goroutine.
type cellCache struct {
	ents [cellCacheSize]cellEnt
	n    int // entries filled
	next int // entry to replace next
}

const (
	cellCacheSize = 8
	// cellMargin is the distance in degrees a point must keep from every
	// edge of a cached cell.
	cellMargin = 1e-7
)

type cellEnt struct {
	cell                   uint64
	minX, minY, maxX, maxY float64
	// Edge i holds the points p with a·p[0] + b·p[1] >= c + cellMargin
	// (normalised so that the left side is inside).
	edges [6][3]float64
}

// cell returns p's cell at spatial.CoverRes.
func (c *cellCache) cell(p orb.Point) uint64 {
	if c == nil {
		return spatial.PointCell(p, spatial.CoverRes)
	}
	for i := 0; i < c.n; i++ {
		if e := &c.ents[i]; e.contains(p) {
			return e.cell
		}
	}
	cell := spatial.PointCell(p, spatial.CoverRes)
	if math.Abs(p[1]) < 80 && math.Abs(p[0]) < 179 {
		var e cellEnt
		if e.set(cell) {
			c.ents[c.next] = e
			c.next = (c.next + 1) % cellCacheSize
			if c.n < cellCacheSize {
				c.n++
			}
		}
	}
	return cell
}

// set fills e with cell's hexagon; false when the cell is not one to cache.
func (e *cellEnt) set(cell uint64) bool {
	hc := h3.Cell(cell)
	if hc.IsPentagon() {
		return false
	}
	bnd := hc.Boundary()
	if len(bnd) != 6 {
		return false
	}
	var vs [6]orb.Point
	e.minX, e.minY, e.maxX, e.maxY = math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for i, v := range bnd {
		vs[i] = orb.Point{v.Lng, v.Lat}
		e.minX, e.maxX = math.Min(e.minX, v.Lng), math.Max(e.maxX, v.Lng)
		e.minY, e.maxY = math.Min(e.minY, v.Lat), math.Max(e.maxY, v.Lat)
	}
	if e.maxX-e.minX > 0.1 || e.maxY-e.minY > 0.1 {
		return false
	}
	// Orientation: the sign of the area.
	area := 0.0
	for i := range vs {
		j := (i + 1) % 6
		area += vs[i][0]*vs[j][1] - vs[j][0]*vs[i][1]
	}
	sign := 1.0
	if area < 0 {
		sign = -1
	} else if area == 0 {
		return false
	}
	for i := range vs {
		a, b := vs[i], vs[(i+1)%6]
		dx, dy := b[0]-a[0], b[1]-a[1]
		l := math.Hypot(dx, dy)
		if l == 0 {
			return false
		}
		// Left of a→b (for a counter-clockwise ring): -dy·x + dx·y >= -dy·ax + dx·ay.
		na, nb := -dy/l*sign, dx/l*sign
		e.edges[i] = [3]float64{na, nb, na*a[0] + nb*a[1]}
	}
	e.cell = cell
	return true
}

func (e *cellEnt) contains(p orb.Point) bool {
	if p[0] < e.minX || p[0] > e.maxX || p[1] < e.minY || p[1] > e.maxY {
		return false
	}
	for _, ed := range e.edges {
		if ed[0]*p[0]+ed[1]*p[1] < ed[2]+cellMargin {
			return false
		}
	}
	return true
}
