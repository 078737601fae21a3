// Package cql2 parses CQL2 text filters (OGC API - Features Part 3) and
// compiles them to parameterised PostgreSQL/PostGIS conditions: literals
// travel only as query parameters, and property names only through a
// resolver that maps them to trusted column expressions, so a hostile filter
// string can never change the SQL text.
//
// Supported: comparison (= <> < > <= >=), AND, OR, NOT, parentheses,
// [NOT] LIKE, [NOT] IN (...), [NOT] BETWEEN ... AND ..., IS [NOT] NULL,
// TRUE/FALSE, string, number and boolean literals, DATE('...') and
// TIMESTAMP('...'), and the spatial functions S_INTERSECTS, S_WITHIN,
// S_CONTAINS, S_DISJOINT, S_EQUALS, S_TOUCHES, S_CROSSES, S_OVERLAPS with
// WKT literals (POINT, LINESTRING, POLYGON, MULTI*, GEOMETRYCOLLECTION) and
// BBOX(minx, miny, maxx, maxy).
//
//	e, err := cql2.Parse("height_m > 30 AND use IN ('office','retail')")
//	sql, args, err := cql2.Compile(e, resolve, cql2.Options{FirstArg: 3})
package cql2

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/citytwin/citytwin/internal/errs"
)

// MaxLength bounds a filter's length; MaxDepth its nesting.
const (
	MaxLength = 64 << 10
	MaxDepth  = 64
)

// Expr is a parsed boolean expression.
type Expr interface{ expr() }

// Scalar is an operand: a Property or a Literal.
type Scalar interface{ scalar() }

// Property names a queryable.
type Property struct{ Name string }

// Literal is a constant; Kind is "string", "number", "boolean", "date",
// "timestamp" or "geometry".
type Literal struct {
	Kind  string
	Value any // string, float64, bool, orb.Geometry
}

// Binary is AND or OR.
type Binary struct {
	Op   string
	L, R Expr
}

// Not negates X.
type Not struct{ X Expr }

// BoolLit is TRUE or FALSE.
type BoolLit bool

// Compare is a comparison.
type Compare struct {
	Op   string // = <> < > <= >=
	L, R Scalar
}

// Like is X [NOT] LIKE Pattern.
type Like struct {
	X, Pattern Scalar
	Not        bool
}

// Between is X [NOT] BETWEEN Lo AND Hi.
type Between struct {
	X, Lo, Hi Scalar
	Not       bool
}

// In is X [NOT] IN (List).
type In struct {
	X    Scalar
	List []Scalar
	Not  bool
}

// IsNull is X IS [NOT] NULL.
type IsNull struct {
	X   Scalar
	Not bool
}

// Spatial is a spatial predicate S_xxx(L, R).
type Spatial struct {
	Op   string // INTERSECTS, WITHIN, ...
	L, R Scalar
}

func (Binary) expr()     {}
func (Not) expr()        {}
func (BoolLit) expr()    {}
func (Compare) expr()    {}
func (Like) expr()       {}
func (Between) expr()    {}
func (In) expr()         {}
func (IsNull) expr()     {}
func (Spatial) expr()    {}
func (Property) scalar() {}
func (Literal) scalar()  {}

var spatialOps = map[string]string{
	"S_INTERSECTS": "ST_Intersects", "S_WITHIN": "ST_Within", "S_CONTAINS": "ST_Contains",
	"S_DISJOINT": "ST_Disjoint", "S_EQUALS": "ST_Equals", "S_TOUCHES": "ST_Touches",
	"S_CROSSES": "ST_Crosses", "S_OVERLAPS": "ST_Overlaps",
}

// token kinds
const (
	tEOF = iota
	tIdent
	tQuoted // "quoted identifier"
	tString
	tNumber
	tOp // = <> < > <= >= ( ) ,
)

type token struct {
	kind int
	text string
	pos  int
}

func lex(s string) ([]token, error) {
	var out []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(s) {
					return nil, bad(i, "unterminated string")
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			out = append(out, token{tString, b.String(), i})
			i = j + 1
		case c == '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return nil, bad(i, "unterminated quoted identifier")
			}
			out = append(out, token{tQuoted, s[i+1 : i+1+j], i})
			i += j + 2
		case c >= '0' && c <= '9' || c == '.' || ((c == '-' || c == '+') && i+1 < len(s) && (s[i+1] >= '0' && s[i+1] <= '9' || s[i+1] == '.')):
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
				((s[j] == '-' || s[j] == '+') && (s[j-1] == 'e' || s[j-1] == 'E'))) {
				j++
			}
			out = append(out, token{tNumber, s[i:j], i})
			i = j
		case c == '<':
			if i+1 < len(s) && (s[i+1] == '>' || s[i+1] == '=') {
				out = append(out, token{tOp, s[i : i+2], i})
				i += 2
			} else {
				out = append(out, token{tOp, "<", i})
				i++
			}
		case c == '>':
			if i+1 < len(s) && s[i+1] == '=' {
				out = append(out, token{tOp, ">=", i})
				i += 2
			} else {
				out = append(out, token{tOp, ">", i})
				i++
			}
		case c == '=' || c == '(' || c == ')' || c == ',':
			out = append(out, token{tOp, string(c), i})
			i++
		case c == '!' && i+1 < len(s) && s[i+1] == '=':
			out = append(out, token{tOp, "<>", i})
			i += 2
		case c < 0x80 && (unicode.IsLetter(rune(c)) || c == '_'):
			j := i + 1
			for j < len(s) && s[j] < 0x80 && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])) || s[j] == '_' || s[j] == '.' || s[j] == ':') {
				j++
			}
			out = append(out, token{tIdent, s[i:j], i})
			i = j
		default:
			return nil, bad(i, "unexpected character %q", rune(c))
		}
	}
	out = append(out, token{tEOF, "", len(s)})
	return out, nil
}

func bad(pos int, format string, args ...any) error {
	return errs.Invalid("filter", "at character %d: %s", pos+1, fmt.Sprintf(format, args...))
}

type parser struct {
	toks  []token
	i     int
	depth int
}

// Parse parses a CQL2 text filter. Errors are EINVALID about "filter" and
// say where in the string the problem is.
func Parse(s string) (Expr, error) {
	if len(s) > MaxLength {
		return nil, errs.Invalid("filter", "filter longer than %d bytes", MaxLength)
	}
	if strings.TrimSpace(s) == "" {
		return nil, errs.Invalid("filter", "empty filter")
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, bad(t.pos, "unexpected %q after the end of the expression", t.text)
	}
	return e, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isKw(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) isKwAt(off int, kw string) bool {
	if p.i+off >= len(p.toks) {
		return false
	}
	t := p.toks[p.i+off]
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) expectOp(op string) error {
	t := p.next()
	if t.kind != tOp || t.text != op {
		if t.kind == tEOF {
			return bad(t.pos, "expected %q, got the end of the filter", op)
		}
		return bad(t.pos, "expected %q, got %q", op, t.text)
	}
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return bad(p.peek().pos, "nested more than %d levels", MaxDepth)
	}
	return nil
}

func (p *parser) or() (Expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.isKw("OR") {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = Binary{"OR", l, r}
	}
	return l, nil
}

func (p *parser) and() (Expr, error) {
	l, err := p.factor()
	if err != nil {
		return nil, err
	}
	for p.isKw("AND") {
		p.next()
		r, err := p.factor()
		if err != nil {
			return nil, err
		}
		l = Binary{"AND", l, r}
	}
	return l, nil
}

func (p *parser) factor() (Expr, error) {
	if p.isKw("NOT") {
		p.next()
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		x, err := p.factor()
		if err != nil {
			return nil, err
		}
		return Not{x}, nil
	}
	return p.primary()
}

func (p *parser) primary() (Expr, error) {
	t := p.peek()
	if t.kind == tOp && t.text == "(" {
		p.next()
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
		return e, nil
	}
	if t.kind == tIdent {
		up := strings.ToUpper(t.text)
		if op, ok := spatialOps[up]; ok {
			_ = op
			p.next()
			if err := p.expectOp("("); err != nil {
				return nil, err
			}
			l, err := p.geomOperand()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(","); err != nil {
				return nil, err
			}
			r, err := p.geomOperand()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
			return Spatial{Op: up, L: l, R: r}, nil
		}
		if (up == "TRUE" || up == "FALSE") && !p.followedByPredicate(1) {
			p.next()
			return BoolLit(up == "TRUE"), nil
		}
	}
	x, err := p.scalar()
	if err != nil {
		return nil, err
	}
	return p.predicate(x)
}

// followedByPredicate reports whether the token at offset off starts a
// predicate operator (so TRUE = x is a comparison, not a boolean literal).
func (p *parser) followedByPredicate(off int) bool {
	if p.i+off >= len(p.toks) {
		return false
	}
	t := p.toks[p.i+off]
	if t.kind == tOp {
		switch t.text {
		case "=", "<>", "<", ">", "<=", ">=":
			return true
		}
	}
	return t.kind == tIdent && (strings.EqualFold(t.text, "IS") || strings.EqualFold(t.text, "LIKE") ||
		strings.EqualFold(t.text, "IN") || strings.EqualFold(t.text, "BETWEEN") || strings.EqualFold(t.text, "NOT"))
}

func (p *parser) predicate(x Scalar) (Expr, error) {
	t := p.peek()
	if t.kind == tOp {
		switch t.text {
		case "=", "<>", "<", ">", "<=", ">=":
			p.next()
			r, err := p.scalar()
			if err != nil {
				return nil, err
			}
			return Compare{t.text, x, r}, nil
		}
	}
	if p.isKw("IS") {
		p.next()
		not := false
		if p.isKw("NOT") {
			p.next()
			not = true
		}
		if !p.isKw("NULL") {
			return nil, bad(p.peek().pos, "expected NULL after IS")
		}
		p.next()
		return IsNull{x, not}, nil
	}
	not := false
	if p.isKw("NOT") && (p.isKwAt(1, "LIKE") || p.isKwAt(1, "IN") || p.isKwAt(1, "BETWEEN")) {
		p.next()
		not = true
	}
	switch {
	case p.isKw("LIKE"):
		p.next()
		pat, err := p.scalar()
		if err != nil {
			return nil, err
		}
		return Like{x, pat, not}, nil
	case p.isKw("BETWEEN"):
		p.next()
		lo, err := p.scalar()
		if err != nil {
			return nil, err
		}
		if !p.isKw("AND") {
			return nil, bad(p.peek().pos, "expected AND in BETWEEN")
		}
		p.next()
		hi, err := p.scalar()
		if err != nil {
			return nil, err
		}
		return Between{x, lo, hi, not}, nil
	case p.isKw("IN"):
		p.next()
		if err := p.expectOp("("); err != nil {
			return nil, err
		}
		var list []Scalar
		for {
			v, err := p.scalar()
			if err != nil {
				return nil, err
			}
			list = append(list, v)
			if len(list) > 10000 {
				return nil, bad(p.peek().pos, "IN list longer than 10000")
			}
			t := p.next()
			if t.kind == tOp && t.text == ")" {
				break
			}
			if t.kind != tOp || t.text != "," {
				return nil, bad(t.pos, "expected , or ) in IN list, got %q", t.text)
			}
		}
		return In{x, list, not}, nil
	}
	if t.kind == tEOF {
		return nil, bad(t.pos, "expected a comparison operator, got the end of the filter")
	}
	return nil, bad(t.pos, "expected a comparison operator, got %q", t.text)
}

func (p *parser) scalar() (Scalar, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return Literal{"string", t.text}, nil
	case tNumber:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, bad(t.pos, "malformed number %q", t.text)
		}
		return Literal{"number", f}, nil
	case tQuoted:
		return Property{t.text}, nil
	case tIdent:
		up := strings.ToUpper(t.text)
		switch up {
		case "TRUE", "FALSE":
			return Literal{"boolean", up == "TRUE"}, nil
		case "DATE", "TIMESTAMP":
			if pt := p.peek(); pt.kind == tOp && pt.text == "(" {
				p.next()
				s := p.next()
				if s.kind != tString {
					return nil, bad(s.pos, "%s needs a quoted string", up)
				}
				if err := p.expectOp(")"); err != nil {
					return nil, err
				}
				return Literal{strings.ToLower(up), s.text}, nil
			}
		case "AND", "OR", "NOT", "LIKE", "IN", "BETWEEN", "IS", "NULL":
			return nil, bad(t.pos, "expected a property or a value, got %s", up)
		}
		if g, ok, err := p.geomLiteral(t); ok || err != nil {
			return g, err
		}
		return Property{t.text}, nil
	case tEOF:
		return nil, bad(t.pos, "expected a property or a value, got the end of the filter")
	}
	return nil, bad(t.pos, "expected a property or a value, got %q", t.text)
}

func (p *parser) geomOperand() (Scalar, error) {
	return p.scalar()
}
