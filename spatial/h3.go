package spatial

import (
	"math"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/planar"
	h3 "github.com/uber/h3-go/v4"
)

// H3 resolutions used by the store.
const (
	// PointRes is the resolution of every feature's representative cell (the
	// h3 column); a parent at any coarser resolution is a bit operation
	// (ct_h3_parent in SQL, Cell.Parent in Go).
	PointRes = 15
	// CoverRes is the resolution of the cells that cover lines and polygons
	// (the feature_cells table) and of live subscriptions.
	CoverRes = 10
	// MaxCoverCells bounds the points sampled along one line segment.
	MaxCoverCells = 20000
)

// RepresentativePoint is a point of g used for its H3 cell: the point itself,
// a polygon's centroid when it lies inside (else its first vertex), a line's
// middle vertex.
func RepresentativePoint(g orb.Geometry) orb.Point {
	switch g := g.(type) {
	case orb.Point:
		return g
	case orb.MultiPoint:
		if len(g) > 0 {
			return g[0]
		}
	case orb.LineString:
		if len(g) > 0 {
			return g[len(g)/2]
		}
	case orb.MultiLineString:
		if len(g) > 0 {
			return RepresentativePoint(g[0])
		}
	case orb.Polygon:
		if len(g) == 0 || len(g[0]) == 0 {
			break
		}
		c, _ := planar.CentroidArea(g)
		if planar.PolygonContains(g, c) {
			return c
		}
		return g[0][0]
	case orb.MultiPolygon:
		// The largest part's point.
		best, area := -1, -1.0
		for i, p := range g {
			if a := math.Abs(planar.Area(p)); a > area {
				best, area = i, a
			}
		}
		if best >= 0 {
			return RepresentativePoint(g[best])
		}
	case orb.Collection:
		if len(g) > 0 {
			return RepresentativePoint(g[0])
		}
	}
	b := g.Bound()
	return b.Center()
}

// PointCell is the H3 cell of p at resolution res.
func PointCell(p orb.Point, res int) uint64 {
	return uint64(h3.LatLngToCell(h3.LatLng{Lat: p[1], Lng: p[0]}, res))
}

// FeatureCell is g's representative cell at PointRes (the h3 column).
func FeatureCell(g orb.Geometry) uint64 {
	return PointCell(RepresentativePoint(g), PointRes)
}

// CoverCells returns the H3 cells at res that cover g: a point's cell; the
// cells along a line (sampled at a third of the cell edge); the cells whose
// centres lie in a polygon plus those of its boundary, so that small
// polygons are covered too.
func CoverCells(g orb.Geometry, res int) []uint64 {
	set := map[uint64]struct{}{}
	add := func(p orb.Point) { set[PointCell(p, res)] = struct{}{} }
	step := h3.HexagonEdgeLengthAvgM(res) / 3
	var line func(ls orb.LineString)
	line = func(ls orb.LineString) {
		for i := 0; i < len(ls); i++ {
			add(ls[i])
			if i == 0 {
				continue
			}
			d := geo.Distance(ls[i-1], ls[i])
			if n := int(d / step); n > 0 {
				if n > MaxCoverCells {
					n = MaxCoverCells
				}
				for k := 1; k <= n; k++ {
					t := float64(k) / float64(n+1)
					add(orb.Point{ls[i-1][0] + t*(ls[i][0]-ls[i-1][0]), ls[i-1][1] + t*(ls[i][1]-ls[i-1][1])})
				}
			}
		}
	}
	var poly func(p orb.Polygon)
	poly = func(p orb.Polygon) {
		if len(p) == 0 {
			return
		}
		gp := h3.GeoPolygon{GeoLoop: loop(p[0])}
		for _, hole := range p[1:] {
			gp.Holes = append(gp.Holes, loop(hole))
		}
		for _, c := range h3.PolygonToCells(gp, res) {
			set[uint64(c)] = struct{}{}
		}
		for _, r := range p {
			line(orb.LineString(r))
		}
	}
	var walk func(g orb.Geometry)
	walk = func(g orb.Geometry) {
		switch g := g.(type) {
		case orb.Point:
			add(g)
		case orb.MultiPoint:
			for _, p := range g {
				add(p)
			}
		case orb.LineString:
			line(g)
		case orb.MultiLineString:
			for _, ls := range g {
				line(ls)
			}
		case orb.Ring:
			poly(orb.Polygon{g})
		case orb.Polygon:
			poly(g)
		case orb.MultiPolygon:
			for _, p := range g {
				poly(p)
			}
		case orb.Collection:
			for _, x := range g {
				walk(x)
			}
		case orb.Bound:
			poly(g.ToPolygon())
		}
	}
	walk(g)
	out := make([]uint64, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	return out
}

func loop(r orb.Ring) h3.GeoLoop {
	n := len(r)
	if n > 1 && r[0].Equal(r[n-1]) {
		n--
	}
	l := make(h3.GeoLoop, n)
	for i := 0; i < n; i++ {
		l[i] = h3.LatLng{Lat: r[i][1], Lng: r[i][0]}
	}
	return l
}
