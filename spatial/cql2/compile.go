package cql2

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"

	"github.com/citytwin/citytwin/internal/errs"
)

// MaxVertices bounds the vertices of the geometry literals of one filter.
const MaxVertices = 100_000

// geomLiteral parses a WKT geometry or BBOX whose keyword is t.
func (p *parser) geomLiteral(t token) (Scalar, bool, error) {
	up := strings.ToUpper(t.text)
	switch up {
	case "BBOX", "ENVELOPE":
		if err := p.expectOp("("); err != nil {
			return nil, true, err
		}
		var v []float64
		for {
			n := p.next()
			if n.kind != tNumber {
				return nil, true, bad(n.pos, "BBOX needs numbers")
			}
			f, err := strconv.ParseFloat(n.text, 64)
			if err != nil {
				return nil, true, bad(n.pos, "malformed number %q", n.text)
			}
			v = append(v, f)
			s := p.next()
			if s.kind == tOp && s.text == ")" {
				break
			}
			if s.kind != tOp || s.text != "," || len(v) >= 6 {
				return nil, true, bad(s.pos, "malformed BBOX")
			}
		}
		if len(v) == 6 {
			v = []float64{v[0], v[1], v[3], v[4]}
		}
		if len(v) != 4 {
			return nil, true, bad(t.pos, "BBOX needs 4 or 6 numbers")
		}
		if up == "ENVELOPE" { // ENVELOPE(minx, maxx, maxy, miny) in old CQL
			v = []float64{v[0], v[3], v[1], v[2]}
		}
		if v[0] > v[2] || v[1] > v[3] {
			return nil, true, bad(t.pos, "BBOX minimum is larger than its maximum")
		}
		b := orb.Bound{Min: orb.Point{v[0], v[1]}, Max: orb.Point{v[2], v[3]}}
		return Literal{"geometry", b.ToPolygon()}, true, nil
	case "POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON", "GEOMETRYCOLLECTION":
	default:
		return nil, false, nil
	}
	n := 0
	g, err := p.wkt(up, &n)
	if err != nil {
		return nil, true, err
	}
	return Literal{"geometry", g}, true, nil
}

func (p *parser) wkt(kind string, n *int) (orb.Geometry, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	if p.isKw("Z") || p.isKw("M") || p.isKw("ZM") {
		p.next()
	}
	if p.isKw("EMPTY") {
		return nil, bad(p.peek().pos, "empty geometries are not supported")
	}
	switch kind {
	case "POINT":
		if err := p.expectOp("("); err != nil {
			return nil, err
		}
		pt, err := p.point(n)
		if err != nil {
			return nil, err
		}
		return pt, p.expectOp(")")
	case "LINESTRING":
		ls, err := p.points(n)
		if err != nil {
			return nil, err
		}
		if len(ls) < 2 {
			return nil, bad(p.peek().pos, "a LINESTRING needs at least 2 points")
		}
		return orb.LineString(ls), nil
	case "MULTIPOINT":
		if err := p.expectOp("("); err != nil {
			return nil, err
		}
		var mp orb.MultiPoint
		for {
			paren := false
			if t := p.peek(); t.kind == tOp && t.text == "(" {
				p.next()
				paren = true
			}
			pt, err := p.point(n)
			if err != nil {
				return nil, err
			}
			if paren {
				if err := p.expectOp(")"); err != nil {
					return nil, err
				}
			}
			mp = append(mp, pt)
			if more, err := p.listNext(); err != nil || !more {
				return mp, err
			}
		}
	case "POLYGON":
		return p.polygon(n)
	case "MULTILINESTRING":
		if err := p.expectOp("("); err != nil {
			return nil, err
		}
		var mls orb.MultiLineString
		for {
			ls, err := p.points(n)
			if err != nil {
				return nil, err
			}
			mls = append(mls, ls)
			if more, err := p.listNext(); err != nil || !more {
				return mls, err
			}
		}
	case "MULTIPOLYGON":
		if err := p.expectOp("("); err != nil {
			return nil, err
		}
		var mp orb.MultiPolygon
		for {
			pg, err := p.polygon(n)
			if err != nil {
				return nil, err
			}
			mp = append(mp, pg)
			if more, err := p.listNext(); err != nil || !more {
				return mp, err
			}
		}
	case "GEOMETRYCOLLECTION":
		if err := p.expectOp("("); err != nil {
			return nil, err
		}
		var c orb.Collection
		for {
			t := p.next()
			if t.kind != tIdent {
				return nil, bad(t.pos, "expected a geometry in GEOMETRYCOLLECTION")
			}
			up := strings.ToUpper(t.text)
			switch up {
			case "POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON", "GEOMETRYCOLLECTION":
			default:
				return nil, bad(t.pos, "expected a geometry in GEOMETRYCOLLECTION, got %q", t.text)
			}
			g, err := p.wkt(up, n)
			if err != nil {
				return nil, err
			}
			c = append(c, g)
			if more, err := p.listNext(); err != nil || !more {
				return c, err
			}
		}
	}
	return nil, bad(p.peek().pos, "unsupported geometry %s", kind)
}

func (p *parser) listNext() (bool, error) {
	t := p.next()
	if t.kind == tOp && t.text == ")" {
		return false, nil
	}
	if t.kind == tOp && t.text == "," {
		return true, nil
	}
	return false, bad(t.pos, "expected , or ) in a geometry, got %q", t.text)
}

func (p *parser) polygon(n *int) (orb.Polygon, error) {
	if err := p.expectOp("("); err != nil {
		return nil, err
	}
	var pg orb.Polygon
	for {
		ls, err := p.points(n)
		if err != nil {
			return nil, err
		}
		if len(ls) < 4 || !ls[0].Equal(ls[len(ls)-1]) {
			return nil, bad(p.peek().pos, "a polygon ring needs at least 4 points and must be closed")
		}
		pg = append(pg, orb.Ring(ls))
		if more, err := p.listNext(); err != nil || !more {
			return pg, err
		}
	}
}

func (p *parser) points(n *int) ([]orb.Point, error) {
	if err := p.expectOp("("); err != nil {
		return nil, err
	}
	var out []orb.Point
	for {
		pt, err := p.point(n)
		if err != nil {
			return nil, err
		}
		out = append(out, pt)
		if more, err := p.listNext(); err != nil || !more {
			return out, err
		}
	}
}

func (p *parser) point(n *int) (orb.Point, error) {
	var v []float64
	for {
		t := p.peek()
		if t.kind != tNumber {
			break
		}
		p.next()
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return orb.Point{}, bad(t.pos, "malformed coordinate %q", t.text)
		}
		v = append(v, f)
	}
	if len(v) < 2 || len(v) > 4 {
		return orb.Point{}, bad(p.peek().pos, "a position needs 2 to 4 numbers")
	}
	*n++
	if *n > MaxVertices {
		return orb.Point{}, bad(p.peek().pos, "geometry literals with more than %d vertices", MaxVertices)
	}
	return orb.Point{v[0], v[1]}, nil
}

// Column is what a property name resolves to: a trusted SQL expression and
// its type ("text", "integer", "number", "boolean", "date", "timestamp",
// "text[]" or "geometry").
type Column struct {
	SQL  string
	Type string
}

// Resolver maps a property name to its column; ok is false for an unknown
// property.
type Resolver func(name string) (Column, bool)

// Options tune Compile.
type Options struct {
	// FirstArg is the number of the first query parameter ($n) to use.
	FirstArg int
	// SRID is the SRID of geometry literals (filter-crs); 0 means 4326.
	SRID int
	// LatLon flips the axes of geometry literals (EPSG:4326 axis order).
	LatLon bool
}

// Compile turns e into a SQL condition with its parameters. Errors are
// EINVALID about "filter": unknown properties, type mismatches.
func Compile(e Expr, resolve Resolver, opt Options) (string, []any, error) {
	if opt.FirstArg < 1 {
		opt.FirstArg = 1
	}
	if opt.SRID == 0 {
		opt.SRID = 4326
	}
	c := &compiler{resolve: resolve, opt: opt}
	s, err := c.expr(e)
	if err != nil {
		return "", nil, err
	}
	return s, c.args, nil
}

type compiler struct {
	resolve Resolver
	opt     Options
	args    []any
}

func (c *compiler) param(v any) string {
	c.args = append(c.args, v)
	return fmt.Sprintf("$%d", c.opt.FirstArg+len(c.args)-1)
}

func (c *compiler) expr(e Expr) (string, error) {
	switch e := e.(type) {
	case Binary:
		l, err := c.expr(e.L)
		if err != nil {
			return "", err
		}
		r, err := c.expr(e.R)
		if err != nil {
			return "", err
		}
		return "(" + l + " " + e.Op + " " + r + ")", nil
	case Not:
		x, err := c.expr(e.X)
		if err != nil {
			return "", err
		}
		return "(NOT " + x + ")", nil
	case BoolLit:
		if e {
			return "TRUE", nil
		}
		return "FALSE", nil
	case Compare:
		l, r, err := c.pair(e.L, e.R)
		if err != nil {
			return "", err
		}
		return "(" + l + " " + e.Op + " " + r + ")", nil
	case Like:
		x, t, err := c.scalar(e.X, "text")
		if err != nil {
			return "", err
		}
		if t != "text" {
			return "", errs.Invalid("filter", "LIKE needs a text property, not %s", t)
		}
		p, t, err := c.scalar(e.Pattern, "text")
		if err != nil {
			return "", err
		}
		if t != "text" {
			return "", errs.Invalid("filter", "LIKE needs a text pattern")
		}
		op := " LIKE "
		if e.Not {
			op = " NOT LIKE "
		}
		return "(" + x + op + p + ")", nil
	case Between:
		x, lo, err := c.pair(e.X, e.Lo)
		if err != nil {
			return "", err
		}
		_, hi, err := c.pair(e.X, e.Hi)
		if err != nil {
			return "", err
		}
		op := " BETWEEN "
		if e.Not {
			op = " NOT BETWEEN "
		}
		return "(" + x + op + lo + " AND " + hi + ")", nil
	case In:
		var x string
		var items []string
		for _, v := range e.List {
			l, r, err := c.pair(e.X, v)
			if err != nil {
				return "", err
			}
			x = l
			items = append(items, r)
		}
		op := " IN "
		if e.Not {
			op = " NOT IN "
		}
		return "(" + x + op + "(" + strings.Join(items, ", ") + "))", nil
	case IsNull:
		x, _, err := c.scalar(e.X, "")
		if err != nil {
			return "", err
		}
		if e.Not {
			return "(" + x + " IS NOT NULL)", nil
		}
		return "(" + x + " IS NULL)", nil
	case Spatial:
		l, lt, err := c.scalar(e.L, "geometry")
		if err != nil {
			return "", err
		}
		r, rt, err := c.scalar(e.R, "geometry")
		if err != nil {
			return "", err
		}
		if lt != "geometry" || rt != "geometry" {
			return "", errs.Invalid("filter", "%s needs two geometries", e.Op)
		}
		return spatialOps[e.Op] + "(" + l + ", " + r + ")", nil
	}
	return "", errs.Invalid("filter", "unsupported expression")
}

func typeClass(t string) string {
	switch t {
	case "integer", "number":
		return "number"
	case "date", "timestamp":
		return "time"
	}
	return t
}

// pair compiles two operands that must have comparable types; a literal
// takes the type of the other side.
func (c *compiler) pair(a, b Scalar) (string, string, error) {
	_, aLit := a.(Literal)
	hint := ""
	if aLit {
		if _, bLit := b.(Literal); !bLit {
			r, t, err := c.scalar(b, "")
			if err != nil {
				return "", "", err
			}
			l, lt, err := c.scalar(a, t)
			if err != nil {
				return "", "", err
			}
			if typeClass(lt) != typeClass(t) {
				return "", "", errs.Invalid("filter", "cannot compare %s with %s", lt, t)
			}
			return l, r, nil
		}
	}
	l, lt, err := c.scalar(a, hint)
	if err != nil {
		return "", "", err
	}
	r, rt, err := c.scalar(b, lt)
	if err != nil {
		return "", "", err
	}
	if typeClass(lt) != typeClass(rt) || lt == "geometry" || lt == "text[]" {
		return "", "", errs.Invalid("filter", "cannot compare %s with %s", lt, rt)
	}
	return l, r, nil
}

// scalar compiles an operand; want is the type of the other side (so a
// string literal compared with a date column is read as a date).
func (c *compiler) scalar(s Scalar, want string) (string, string, error) {
	switch s := s.(type) {
	case Property:
		col, ok := c.resolve(s.Name)
		if !ok {
			return "", "", errs.Invalid("filter", "unknown property %q (see the collection's queryables)", s.Name)
		}
		return col.SQL, col.Type, nil
	case Literal:
		switch s.Kind {
		case "string":
			switch want {
			case "date":
				if _, err := time.Parse("2006-01-02", s.Value.(string)); err != nil {
					return "", "", errs.Invalid("filter", "%q is not a date YYYY-MM-DD", s.Value)
				}
				return c.param(s.Value) + "::date", "date", nil
			case "timestamp":
				t, err := time.Parse(time.RFC3339Nano, s.Value.(string))
				if err != nil {
					return "", "", errs.Invalid("filter", "%q is not an RFC 3339 timestamp", s.Value)
				}
				return c.param(t) + "::timestamptz", "timestamp", nil
			}
			return c.param(s.Value) + "::text", "text", nil
		case "number":
			return c.param(s.Value) + "::double precision", "number", nil
		case "boolean":
			return c.param(s.Value) + "::boolean", "boolean", nil
		case "date":
			if _, err := time.Parse("2006-01-02", s.Value.(string)); err != nil {
				return "", "", errs.Invalid("filter", "DATE(%q) is not a date YYYY-MM-DD", s.Value)
			}
			return c.param(s.Value) + "::date", "date", nil
		case "timestamp":
			t, err := time.Parse(time.RFC3339Nano, s.Value.(string))
			if err != nil {
				return "", "", errs.Invalid("filter", "TIMESTAMP(%q) is not an RFC 3339 timestamp", s.Value)
			}
			return c.param(t) + "::timestamptz", "timestamp", nil
		case "geometry":
			g := s.Value.(orb.Geometry)
			if c.opt.LatLon {
				g = flip(g)
			}
			if c.opt.SRID == 4326 {
				b := g.Bound()
				if b.Min[0] < -180 || b.Max[0] > 180 || b.Min[1] < -90 || b.Max[1] > 90 {
					return "", "", errs.Invalid("filter", "geometry coordinates outside longitude/latitude range (wrong axis order or filter-crs?)")
				}
			}
			w, err := wkb.Marshal(g)
			if err != nil {
				return "", "", errs.Invalid("filter", "geometry: %v", err)
			}
			sql := "ST_SetSRID(ST_GeomFromWKB(" + c.param(w) + "), " + strconv.Itoa(c.opt.SRID) + ")"
			if c.opt.SRID != 4326 {
				sql = "ST_Transform(" + sql + ", 4326)"
			}
			return sql, "geometry", nil
		}
	}
	return "", "", errs.Invalid("filter", "unsupported operand")
}

func flip(g orb.Geometry) orb.Geometry {
	switch g := g.(type) {
	case orb.Point:
		return orb.Point{g[1], g[0]}
	case orb.MultiPoint:
		out := make(orb.MultiPoint, len(g))
		for i, p := range g {
			out[i] = orb.Point{p[1], p[0]}
		}
		return out
	case orb.LineString:
		return orb.LineString(flip(orb.MultiPoint(g)).(orb.MultiPoint))
	case orb.Ring:
		return orb.Ring(flip(orb.MultiPoint(g)).(orb.MultiPoint))
	case orb.Polygon:
		out := make(orb.Polygon, len(g))
		for i, r := range g {
			out[i] = flip(r).(orb.Ring)
		}
		return out
	case orb.MultiLineString:
		out := make(orb.MultiLineString, len(g))
		for i, r := range g {
			out[i] = flip(r).(orb.LineString)
		}
		return out
	case orb.MultiPolygon:
		out := make(orb.MultiPolygon, len(g))
		for i, r := range g {
			out[i] = flip(r).(orb.Polygon)
		}
		return out
	case orb.Collection:
		out := make(orb.Collection, len(g))
		for i, r := range g {
			out[i] = flip(r)
		}
		return out
	}
	return g
}
