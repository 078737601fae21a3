package spatial

import (
	"math"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/paulmach/orb/planar"
	"github.com/twpayne/go-geos"

	"github.com/citytwin/citytwin/internal/errs"
)

// MaxVertices bounds the vertices of one feature's geometry.
const MaxVertices = 250_000

// maxExtentDeg is the largest span (in degrees) a feature of a layer may have;
// bigger means a wrong CRS or a broken record. Layers not listed allow 5°,
// user layers any size.
var maxExtentDeg = map[string]float64{
	"buildings": 0.05, "smart_poles": 0, "cameras": 0, "network_nodes": 0,
	"parking_lots": 0.1, "project_sites": 0.5, "pipes": 0.5,
}

// GeomChecker validates and repairs geometries for a layer with GEOS. A
// checker is not safe for concurrent use: give each goroutine its own.
type GeomChecker struct {
	ctx *geos.Context
}

// NewGeomChecker returns a checker with its own GEOS context.
func NewGeomChecker() *GeomChecker { return &GeomChecker{ctx: geos.NewContext()} }

// Check makes g fit layer l: it refuses empty geometries, coordinates outside
// lon/lat range, features too large for the layer and too many vertices;
// converts between single and multi types where the layer asks for one;
// repairs invalid polygons with GEOS MakeValid when the result is still
// polygonal; and orients polygon rings as RFC 7946 says (exterior
// counter-clockwise). It returns the geometry to store and whether it was
// repaired. Its errors are EINVALID with the reason.
func (c *GeomChecker) Check(l *Layer, g orb.Geometry) (orb.Geometry, bool, error) {
	if g == nil {
		return nil, false, errs.Invalid("geometry", "missing geometry")
	}
	if err := checkCoords(g); err != nil {
		return nil, false, err
	}
	if isEmpty(g) {
		return nil, false, errs.Invalid("geometry", "empty %s", g.GeoJSONType())
	}
	g, err := coerce(l, g)
	if err != nil {
		return nil, false, err
	}
	b := g.Bound()
	if lim, ok := maxExtentDeg[l.Name]; ok && lim > 0 && (b.Max[0]-b.Min[0] > lim || b.Max[1]-b.Min[1] > lim) {
		return nil, false, errs.Invalid("geometry", "a %s feature spanning %.3f° × %.3f° is too large (at most %g°): wrong CRS or a broken record?",
			l.Name, b.Max[0]-b.Min[0], b.Max[1]-b.Min[1], lim)
	}
	if !l.User && l.Name != "districts" && l.Name != "water" && l.Name != "landuse" && l.Name != "roads" && l.Name != "waterways" {
		if _, ok := maxExtentDeg[l.Name]; !ok && (b.Max[0]-b.Min[0] > 5 || b.Max[1]-b.Min[1] > 5) {
			return nil, false, errs.Invalid("geometry", "a %s feature spanning more than 5° is too large", l.Name)
		}
	}
	repaired := false
	switch gg := g.(type) {
	case orb.Polygon, orb.MultiPolygon:
		g, repaired, err = c.repairPolygonal(gg)
		if err != nil {
			return nil, false, err
		}
		g, err = coerce(l, g)
		if err != nil {
			return nil, false, err
		}
		orient(g)
	case orb.LineString:
		ls := dedupe(gg)
		if len(ls) < 2 {
			return nil, false, errs.Invalid("geometry", "a line needs at least two distinct points")
		}
		g = ls
	case orb.MultiLineString:
		out := make(orb.MultiLineString, 0, len(gg))
		for _, ls := range gg {
			if ls = dedupe(ls); len(ls) >= 2 {
				out = append(out, ls)
			}
		}
		if len(out) == 0 {
			return nil, false, errs.Invalid("geometry", "a line needs at least two distinct points")
		}
		g = out
	}
	return g, repaired, nil
}

func checkCoords(g orb.Geometry) error {
	n := 0
	var bad error
	EachPoint(g, func(p orb.Point) bool {
		n++
		if math.IsNaN(p[0]) || math.IsNaN(p[1]) || math.IsInf(p[0], 0) || math.IsInf(p[1], 0) {
			bad = errs.Invalid("geometry", "coordinate %d is not a finite number", n)
			return false
		}
		if p[0] < -180 || p[0] > 180 || p[1] < -90 || p[1] > 90 {
			bad = errs.Invalid("geometry", "coordinate %d (%g, %g) is outside longitude/latitude range: wrong CRS? (an import takes the file's CRS with --crs, an API write with the Content-Crs header)", n, p[0], p[1])
			return false
		}
		if n > MaxVertices {
			bad = errs.Invalid("geometry", "more than %d vertices", MaxVertices)
			return false
		}
		return true
	})
	return bad
}

// EachPoint calls fn with every vertex of g until fn returns false; it
// reports whether it went through all of them.
func EachPoint(g orb.Geometry, fn func(orb.Point) bool) bool {
	switch g := g.(type) {
	case orb.Point:
		return fn(g)
	case orb.MultiPoint:
		for _, p := range g {
			if !fn(p) {
				return false
			}
		}
	case orb.LineString:
		for _, p := range g {
			if !fn(p) {
				return false
			}
		}
	case orb.Ring:
		for _, p := range g {
			if !fn(p) {
				return false
			}
		}
	case orb.MultiLineString:
		for _, ls := range g {
			if !EachPoint(ls, fn) {
				return false
			}
		}
	case orb.Polygon:
		for _, r := range g {
			if !EachPoint(r, fn) {
				return false
			}
		}
	case orb.MultiPolygon:
		for _, p := range g {
			if !EachPoint(p, fn) {
				return false
			}
		}
	case orb.Collection:
		for _, x := range g {
			if !EachPoint(x, fn) {
				return false
			}
		}
	case orb.Bound:
		return EachPoint(g.ToPolygon(), fn)
	}
	return true
}

func isEmpty(g orb.Geometry) bool {
	empty := true
	EachPoint(g, func(orb.Point) bool { empty = false; return false })
	return empty
}

// coerce converts g to the layer's geometry type where that keeps its meaning.
func coerce(l *Layer, g orb.Geometry) (orb.Geometry, error) {
	want := l.GeomType
	got := g.GeoJSONType()
	if want == "Geometry" || want == got {
		return g, nil
	}
	switch want {
	case "MultiPolygon":
		switch g := g.(type) {
		case orb.Polygon:
			return orb.MultiPolygon{g}, nil
		case orb.Bound:
			return orb.MultiPolygon{g.ToPolygon()}, nil
		case orb.Collection:
			var mp orb.MultiPolygon
			for _, x := range g {
				switch x := x.(type) {
				case orb.Polygon:
					mp = append(mp, x)
				case orb.MultiPolygon:
					mp = append(mp, x...)
				}
			}
			if len(mp) > 0 {
				return mp, nil
			}
		}
	case "Polygon":
		if mp, ok := g.(orb.MultiPolygon); ok && len(mp) == 1 {
			return mp[0], nil
		}
	case "MultiLineString":
		if ls, ok := g.(orb.LineString); ok {
			return orb.MultiLineString{ls}, nil
		}
	case "LineString":
		if mls, ok := g.(orb.MultiLineString); ok {
			if len(mls) == 1 {
				return mls[0], nil
			}
			if joined, ok := joinLines(mls); ok {
				return joined, nil
			}
		}
	case "Point":
		if mp, ok := g.(orb.MultiPoint); ok && len(mp) == 1 {
			return mp[0], nil
		}
	case "MultiPoint":
		if p, ok := g.(orb.Point); ok {
			return orb.MultiPoint{p}, nil
		}
	}
	return nil, errs.Invalid("geometry", "layer %s takes %s geometries, got %s", l.Name, want, got)
}

// joinLines joins parts of a multi-line string that continue one another.
func joinLines(mls orb.MultiLineString) (orb.LineString, bool) {
	out := append(orb.LineString(nil), mls[0]...)
	for _, ls := range mls[1:] {
		if len(ls) == 0 || !out[len(out)-1].Equal(ls[0]) {
			return nil, false
		}
		out = append(out, ls[1:]...)
	}
	return out, true
}

func dedupe(ls orb.LineString) orb.LineString {
	out := make(orb.LineString, 0, len(ls))
	for i, p := range ls {
		if i == 0 || !p.Equal(out[len(out)-1]) {
			out = append(out, p)
		}
	}
	return out
}

// repairPolygonal checks a polygon or multipolygon with GEOS and repairs it
// with MakeValid when the result is still a non-empty polygonal geometry.
func (c *GeomChecker) repairPolygonal(g orb.Geometry) (orb.Geometry, bool, error) {
	// Close rings first: GEOS refuses unclosed rings outright.
	closeRings(g)
	if err := ringSizes(g); err != nil {
		return nil, false, err
	}
	if simpleShell(g) {
		return g, false, nil
	}
	b, err := wkb.Marshal(g)
	if err != nil {
		return nil, false, errs.Invalid("geometry", "cannot encode: %v", err)
	}
	gg, err := c.ctx.NewGeomFromWKB(b)
	if err != nil {
		return nil, false, errs.Invalid("geometry", "invalid polygon: %v", err)
	}
	defer gg.Destroy()
	if gg.IsValid() {
		return g, false, nil
	}
	reason := gg.IsValidReason()
	fixed := gg.MakeValid()
	if fixed == nil {
		return nil, false, errs.Invalid("geometry", "invalid polygon that cannot be repaired: %s", reason)
	}
	defer fixed.Destroy()
	out, err := wkb.Unmarshal(fixed.ToWKB())
	if err != nil {
		return nil, false, errs.Invalid("geometry", "invalid polygon: %s", reason)
	}
	polys := polygonsOf(out)
	if len(polys) == 0 || planar.Area(polys) == 0 {
		return nil, false, errs.Invalid("geometry", "invalid polygon (%s) collapses when repaired", reason)
	}
	if len(polys) == 1 {
		return polys[0], true, nil
	}
	return polys, true, nil
}

func closeRings(g orb.Geometry) {
	fix := func(p orb.Polygon) {
		for i, r := range p {
			if len(r) > 0 && !r[0].Equal(r[len(r)-1]) {
				p[i] = append(r, r[0])
			}
		}
	}
	switch g := g.(type) {
	case orb.Polygon:
		fix(g)
	case orb.MultiPolygon:
		for _, p := range g {
			fix(p)
		}
	}
}

func ringSizes(g orb.Geometry) error {
	check := func(p orb.Polygon) error {
		if len(p) == 0 {
			return errs.Invalid("geometry", "a polygon needs an exterior ring")
		}
		for i, r := range p {
			if len(r) < 4 {
				return errs.Invalid("geometry", "ring %d has %d points; a ring needs at least 4 (closed)", i, len(r))
			}
		}
		return nil
	}
	switch g := g.(type) {
	case orb.Polygon:
		return check(g)
	case orb.MultiPolygon:
		for _, p := range g {
			if err := check(p); err != nil {
				return err
			}
		}
	}
	return nil
}

func polygonsOf(g orb.Geometry) orb.MultiPolygon {
	switch g := g.(type) {
	case orb.Polygon:
		return orb.MultiPolygon{g}
	case orb.MultiPolygon:
		return g
	case orb.Collection:
		var out orb.MultiPolygon
		for _, x := range g {
			out = append(out, polygonsOf(x)...)
		}
		return out
	}
	return nil
}

// orient makes exterior rings counter-clockwise and holes clockwise (RFC 7946).
func orient(g orb.Geometry) {
	fix := func(p orb.Polygon) {
		for i, r := range p {
			want := orb.CCW
			if i > 0 {
				want = orb.CW
			}
			if r.Orientation() != want {
				r.Reverse()
			}
		}
	}
	switch g := g.(type) {
	case orb.Polygon:
		fix(g)
	case orb.MultiPolygon:
		for _, p := range g {
			fix(p)
		}
	}
}
