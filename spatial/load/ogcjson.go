package load

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
)

// The OGC item pages read each feature's text from the column ogc_json
// (migrations 0600 and 0630): `"geometry":<ST_AsGeoJSON(geom, 7)>,
// "properties":<(props || jsonb_build_object(attributes...) ||
// jsonb_build_object('source', .., 'source_id', .., 'updated_at', ..))::text>`,
// as the table's function ogc_feature_json_<table> computes it. Computing it
// in the database cost the import's single backend about half of its row
// COPY, so the direct path renders the same text in its workers and copies
// it with the row, under SET LOCAL citytwin.loader_json = 'on', which tells
// the table's insert trigger to keep it. Where the Go rendering could differ
// from PostgreSQL's (a coordinate with |x| <= 1e-8 but not 0, or >= 1e15,
// which PostGIS prints with an exponent; a float attribute of 2^53 or more; a
// value of a kind not rendered here) the row gets NULL and the trigger
// computes the text.
//
// The rules, each checked against PostgreSQL by TestDirectOGCJSON and
// TestOGCRenderersRandom:
//   - ST_AsGeoJSON (PostGIS 3.3): no spaces; a coordinate is the shortest
//     decimal digits that read back as it (ryu), rounded half to even to at
//     most 7 decimals (so not the exact binary value rounded: 103.77692515
//     prints 103.7769252), trailing zeros dropped, fixed notation, 0 for
//     -0 and what rounds to zero.
//   - jsonb text: object keys sorted by length, then bytes; ", " and ": "
//     between members; strings escaped as escape_json does; numbers as
//     numeric_out(numeric_in(text)); on equal keys the right side of || and
//     the last of an object's members win.
//   - float8 arguments: numeric of float8out's shortest text.

// argType is how an attribute is passed to ogc_feature_json_<table>, from
// the function's declared argument type.
type argType int

const (
	argText argType = iota
	argInt
	argFloat8
	argFloat4
	argBool
	argDate
	argTextArray
)

// ogcKey is a member of the properties object that every row has: an
// attribute, or source, source_id and updated_at.
type ogcKey struct {
	name string
	head []byte // `"name": `
	attr int    // index into the plan's attributes, or a meta* value
	arg  argType
	col  colKind
}

const (
	metaSource = -1 - iota
	metaSourceID
	metaUpdated
)

// ogcJSON renders the ogc_json text of one plan's rows.
type ogcJSON struct {
	fixed   []ogcKey // in jsonb order, the meta keys winning over attributes
	updated []byte   // updated_at as a JSON string
}

// ogcScratch is a worker's reusable memory for rendering.
type ogcScratch struct {
	out   []byte
	pairs []jpair
	items [][2]int
}

// jpair is an object member: key and jsonb value text, as ranges of
// ogcScratch.out.
type jpair struct{ k0, k1, v0, v1 int }

// planOGC returns the renderer of p's ogc_json, or nil and why the rows'
// text is left to the table's trigger: the column is still generated (or
// missing), the function takes a type not rendered here, the session
// prints floats or text differently, or a sample rendered in Go differs from
// the function's result.
func planOGC(ctx context.Context, tx pgx.Tx, p *directPlan, cols map[string]directColumn) (*ogcJSON, string, error) {
	if c, ok := cols["ogc_json"]; !ok || c.udt != "text" || c.generated {
		return nil, "ogc_json is not a plain text column", nil
	}
	if c := cols["updated_at"]; c.udt != "timestamptz" || c.def != "now()" {
		return nil, "updated_at has no now() default", nil
	}
	var enc string
	var efd int
	var upd *string
	var args []string
	fn := "ogc_feature_json_" + p.layer.Table
	err := tx.QueryRow(ctx, `SELECT current_setting('server_encoding'), current_setting('extra_float_digits')::int,
		(to_jsonb(now() AT TIME ZONE 'UTC') #>> '{}') || '+00:00',
		(SELECT array_agg(format_type(t, NULL) ORDER BY i) FROM pg_proc f, unnest(f.proargtypes) WITH ORDINALITY AS u(t, i)
		 WHERE f.proname = $1 AND f.pronamespace = current_schema()::regnamespace)`, fn).Scan(&enc, &efd, &upd, &args)
	if err != nil {
		return nil, "", fmt.Errorf("%s: ogc_json: %w", p.layer.Name, err)
	}
	switch {
	case enc != "UTF8":
		return nil, "server encoding " + enc, nil
	case efd <= 0:
		return nil, "extra_float_digits is not positive", nil
	case upd == nil:
		return nil, "no updated_at text", nil
	}
	want := append([]string{"geometry", "jsonb"}, make([]string, len(p.attrs))...)
	want = append(want, "text", "text", "timestamp with time zone")
	if len(args) != len(want) {
		return nil, fmt.Sprintf("%s takes %d arguments, not %d", fn, len(args), len(want)), nil
	}
	for i, a := range args {
		if want[i] != "" && a != want[i] {
			return nil, fmt.Sprintf("%s: argument %d is %s", fn, i+1, a), nil
		}
	}
	o := &ogcJSON{updated: appendJSONString(nil, *upd)}
	for i, a := range p.attrs {
		at, ok := argOf(args[2+i], a.kind, cols[a.Name].udt)
		if !ok {
			return nil, fmt.Sprintf("attribute %s: column %s, argument %s", a.Name, cols[a.Name].udt, args[2+i]), nil
		}
		o.fixed = append(o.fixed, ogcKey{name: a.Name, attr: i, arg: at, col: a.kind})
	}
	o.fixed = append(o.fixed, ogcKey{name: "source", attr: metaSource}, ogcKey{name: "source_id", attr: metaSourceID}, ogcKey{name: "updated_at", attr: metaUpdated})
	// Sorted as jsonb sorts keys; of equal keys the meta one (appended last)
	// wins, as the right side of || does.
	slices.SortStableFunc(o.fixed, func(a, b ogcKey) int { return keyCompare(a.name, b.name) })
	o.fixed = lastOfEqual(o.fixed, func(k ogcKey) string { return k.name })
	for i := range o.fixed {
		o.fixed[i].head = append(appendJSONString(nil, o.fixed[i].name), ':', ' ')
	}
	if why, err := o.selfCheck(ctx, tx, p, fn, args); err != nil || why != "" {
		return nil, why, err
	}
	return o, "", nil
}

// argOf tells how an attribute stored in a column of kind k (udt) is
// rendered as an argument of SQL type arg; false when it is not rendered
// here.
func argOf(arg string, k colKind, udt string) (argType, bool) {
	switch arg {
	case "text":
		// Not bpchar: its cast to text drops trailing blanks.
		return argText, k == kText && (udt == "text" || udt == "varchar")
	case "integer", "bigint", "smallint":
		return argInt, k == kInt2 || k == kInt4 || k == kInt8
	case "double precision":
		return argFloat8, k == kFloat8 || k == kFloat4
	case "real":
		return argFloat4, k == kFloat4
	case "boolean":
		return argBool, k == kBool
	case "date":
		return argDate, k == kDate
	case "text[]":
		return argTextArray, k == kTextArray
	}
	return 0, false
}

// selfCheck renders two sample features (every attribute set, every one
// NULL) in Go and with the table's function: a function changed by a later
// migration, or a session that prints values differently, leaves the text
// to the trigger instead of storing a wrong one.
func (o *ogcJSON) selfCheck(ctx context.Context, tx pgx.Tx, p *directPlan, fn string, args []string) (string, error) {
	g := orb.Collection{
		orb.Point{-73.98765432, 40.10000001},
		orb.LineString{{116.123456789, -0.5}, {100, 89.99999999}, {-179.99999996, 0.000000051}, {103.77692515, 102.82940365}, {0.00390625, -0.00000002}, {0, math.Copysign(0, -1)}},
		orb.MultiPolygon{{{{1, 1}, {2, 1}, {2, 2}, {1, 1}}}},
	}
	ewkb, err := appendEWKB(nil, g, true)
	if err != nil {
		return "", err
	}
	props := []byte(`{"z":1.50,"a":[1e2,-0,-0.0,"x\u003c\n\"\\é\u2028",{"bb":null,"a":1.5E-3,"bb":2}],"source":"shadowed","é":true,"n":12345678901234567890.5e-30}`)
	sample := make([]any, len(p.attrs))
	for i, a := range p.attrs {
		switch a.kind {
		case kText:
			sample[i] = "Ab \"q\" é\n\t\x01\x7f<&> 中文"
		case kInt2, kInt4, kInt8:
			sample[i] = int64(-42)
		case kFloat4:
			sample[i] = float64(float32(0.1))
		case kFloat8:
			sample[i] = 0.1 + 0.2
		case kBool:
			sample[i] = true
		case kDate:
			sample[i] = time.Date(2020, 2, 29, 0, 0, 0, 0, time.UTC)
		case kTextArray:
			sample[i] = []string{"a", `b "c"`}
		}
	}
	var sql strings.Builder
	params := []any{ewkb, string(props)}
	sql.WriteString("SELECT ")
	for k := 0; k < 2; k++ {
		if k > 0 {
			sql.WriteString(", ")
		}
		fmt.Fprintf(&sql, "%s(ST_GeomFromEWKB($1), $2::jsonb", pgx.Identifier{fn}.Sanitize())
		for i := range p.attrs {
			if k == 0 {
				params = append(params, sample[i])
				fmt.Fprintf(&sql, ", $%d::%s", len(params), args[2+i])
			} else {
				fmt.Fprintf(&sql, ", NULL::%s", args[2+i])
			}
		}
		sql.WriteString(`, 'src "1"', 'id\2', now())`)
	}
	var got [2]string
	if err := tx.QueryRow(ctx, sql.String(), params...).Scan(&got[0], &got[1]); err != nil {
		return "", fmt.Errorf("%s: ogc_json check: %w", p.layer.Name, err)
	}
	var sc ogcScratch
	for k := 0; k < 2; k++ {
		vals := sample
		if k == 1 {
			vals = make([]any, len(p.attrs))
		}
		mine, ok := o.appendText(nil, g, props, vals, `src "1"`, `id\2`, &sc)
		if !ok || string(mine) != got[k] {
			return fmt.Sprintf("the Go rendering differs from %s:\n%s\n%s", fn, mine, got[k]), nil
		}
	}
	return "", nil
}

// appendField appends the row's ogc_json field: the text, or NULL for the
// trigger to compute.
func (o *ogcJSON) appendField(b []byte, g orb.Geometry, props []byte, vals []any, source, sourceID string, sc *ogcScratch) []byte {
	start := len(b)
	b = be32(b, 0)
	b, ok := o.appendText(b, g, props, vals, source, sourceID, sc)
	if !ok {
		return putNull(b[:start])
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

// appendText appends the feature text; false when a value is not rendered
// here (b then holds a partial text).
func (o *ogcJSON) appendText(b []byte, g orb.Geometry, props []byte, vals []any, source, sourceID string, sc *ogcScratch) ([]byte, bool) {
	b = append(b, `"geometry":`...)
	b, ok := appendGeoJSON(b, g)
	if !ok {
		return b, false
	}
	b = append(b, `,"properties":`...)
	// The free properties, sorted; attributes and meta keys win over them.
	sc.out, sc.pairs = sc.out[:0], sc.pairs[:0]
	var pairs []jpair
	if len(props) > 2 {
		c := jsonCanon{in: props, sc: sc}
		var ok bool
		if pairs, ok = c.topObject(); !ok {
			return b, false
		}
	}
	b = append(b, '{')
	n := 0
	sep := func() {
		if n > 0 {
			b = append(b, ',', ' ')
		}
		n++
	}
	i := 0
	for _, k := range o.fixed {
		for ; i < len(pairs); i++ {
			pk := sc.out[pairs[i].k0:pairs[i].k1]
			c := keyCompare(string(pk), k.name)
			if c > 0 {
				break
			}
			if c < 0 {
				sep()
				b = appendJSONString(b, string(pk))
				b = append(b, ':', ' ')
				b = append(b, sc.out[pairs[i].v0:pairs[i].v1]...)
			}
		}
		sep()
		b = append(b, k.head...)
		switch k.attr {
		case metaSource:
			b = appendJSONString(b, validText(source))
		case metaSourceID:
			b = appendJSONString(b, validText(sourceID))
		case metaUpdated:
			b = append(b, o.updated...)
		default:
			if b, ok = appendAttr(b, k, vals[k.attr]); !ok {
				return b, false
			}
		}
	}
	for ; i < len(pairs); i++ {
		sep()
		b = appendJSONString(b, string(sc.out[pairs[i].k0:pairs[i].k1]))
		b = append(b, ':', ' ')
		b = append(b, sc.out[pairs[i].v0:pairs[i].v1]...)
	}
	return append(b, '}'), true
}

// validText is s as putText stores it.
func validText(s string) string {
	if !utf8.ValidString(s) {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// appendAttr appends an attribute's value (as written by putValue) as
// to_jsonb prints it after the function's argument cast.
func appendAttr(b []byte, k ogcKey, v any) ([]byte, bool) {
	if v == nil {
		return append(b, "null"...), true
	}
	switch k.arg {
	case argText:
		return appendJSONString(b, validText(textOf(v))), true
	case argInt:
		switch x := v.(type) {
		case int64:
			return strconv.AppendInt(b, x, 10), true
		case float64:
			if x == math.Trunc(x) && math.Abs(x) <= 1<<53 {
				return strconv.AppendInt(b, int64(x), 10), true
			}
		}
		return b, false
	case argFloat8, argFloat4:
		f, ok := floatOf(v)
		if !ok {
			return b, false
		}
		bits := 64
		if k.col == kFloat4 {
			f = float64(float32(f))
		}
		if k.arg == argFloat4 {
			bits = 32
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return b, false // to_jsonb makes these strings
		}
		if f == 0 {
			return append(b, '0'), true // numeric has no -0
		}
		if math.Abs(f) >= 1<<53 || (bits == 32 && math.Abs(f) >= 1<<24) {
			// Whole numbers whose shortest digits PostgreSQL's ryu and Go
			// may pick differently (at an exact half-unit bound).
			return b, false
		}
		return strconv.AppendFloat(b, f, 'f', -1, bits), true
	case argBool:
		x, ok := v.(bool)
		if !ok {
			return b, false
		}
		return strconv.AppendBool(b, x), true
	case argDate:
		t, ok := v.(time.Time)
		if !ok || t.Year() < 1 || t.Year() > 9999 {
			return b, false
		}
		b = append(b, '"')
		b = t.AppendFormat(b, "2006-01-02")
		return append(b, '"'), true
	case argTextArray:
		x, ok := v.([]string)
		if !ok {
			return b, false
		}
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',', ' ')
			}
			b = appendJSONString(b, validText(s))
		}
		return append(b, ']'), true
	}
	return b, false
}

// keyCompare orders jsonb object keys: shorter first, then bytewise.
func keyCompare(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// lastOfEqual keeps the last of each run of elements with equal keys in a
// stably sorted slice.
func lastOfEqual[T any](s []T, key func(T) string) []T {
	out := s[:0]
	for i, x := range s {
		if i+1 < len(s) && key(s[i+1]) == key(x) {
			continue
		}
		out = append(out, x)
	}
	return out
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as PostgreSQL's escape_json writes it.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		start = i + 1
		switch c {
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendNumeric appends the JSON number text num as numeric_out prints
// numeric_in's value: plain notation, the input's scale less its exponent
// (at least 0) as decimals, no sign on zero. False when it is not a JSON
// number or its exponent is beyond what numeric_in takes.
func appendNumeric(b []byte, num []byte) ([]byte, bool) {
	i := 0
	neg := false
	if i < len(num) && num[i] == '-' {
		neg = true
		i++
	}
	d0 := i
	for i < len(num) && num[i] >= '0' && num[i] <= '9' {
		i++
	}
	intDigits := num[d0:i]
	if len(intDigits) == 0 || (len(intDigits) > 1 && intDigits[0] == '0') {
		return b, false
	}
	var frac []byte
	if i < len(num) && num[i] == '.' {
		i++
		f0 := i
		for i < len(num) && num[i] >= '0' && num[i] <= '9' {
			i++
		}
		frac = num[f0:i]
		if len(frac) == 0 {
			return b, false
		}
	}
	exp := 0
	if i < len(num) && (num[i] == 'e' || num[i] == 'E') {
		i++
		eneg := false
		if i < len(num) && (num[i] == '+' || num[i] == '-') {
			eneg = num[i] == '-'
			i++
		}
		e0 := i
		for i < len(num) && num[i] >= '0' && num[i] <= '9' {
			if exp = exp*10 + int(num[i]-'0'); exp > 1000 {
				return b, false // numeric_in refuses it
			}
			i++
		}
		if i == e0 {
			return b, false
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(num) {
		return b, false
	}
	// The digits, with the decimal point after point of them.
	digits := make([]byte, 0, len(intDigits)+len(frac))
	digits = append(append(digits, intDigits...), frac...)
	point := len(intDigits) + exp
	scale := max(len(frac)-exp, 0)
	zero := true
	for _, c := range digits {
		if c != '0' {
			zero = false
			break
		}
	}
	if neg && !zero {
		b = append(b, '-')
	}
	// The integer part, without leading zeros.
	var ip []byte
	if point > 0 {
		if point <= len(digits) {
			ip = digits[:point]
		} else {
			ip = digits
		}
	}
	for len(ip) > 0 && ip[0] == '0' {
		ip = ip[1:]
	}
	if len(ip) == 0 {
		b = append(b, '0')
	} else {
		b = append(b, ip...)
		for k := len(digits); k < point; k++ {
			b = append(b, '0')
		}
	}
	if scale == 0 {
		return b, true
	}
	b = append(b, '.')
	for k := point; k < 0; k++ {
		b = append(b, '0')
	}
	b = append(b, digits[max(point, 0):]...)
	return b, true
}

// jsonCanon turns JSON text into jsonb's text form, in sc.out.
type jsonCanon struct {
	in  []byte
	pos int
	sc  *ogcScratch
}

// maxJSONDepth bounds nesting; deeper values are left to PostgreSQL.
const maxJSONDepth = 200

func (c *jsonCanon) ws() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

// topObject parses the whole input as an object and returns its members
// sorted and deduplicated (the last wins), as ranges of sc.out.
func (c *jsonCanon) topObject() ([]jpair, bool) {
	c.ws()
	pairs, ok := c.members(0, c.sc.pairs[:0])
	if !ok {
		return nil, false
	}
	c.ws()
	if c.pos != len(c.in) {
		return nil, false
	}
	c.sc.pairs = pairs
	return pairs, true
}

// members parses an object at c.pos into pairs appended to dst, sorted.
func (c *jsonCanon) members(depth int, dst []jpair) ([]jpair, bool) {
	if c.pos >= len(c.in) || c.in[c.pos] != '{' {
		return nil, false
	}
	c.pos++
	c.ws()
	base := len(dst)
	if c.pos < len(c.in) && c.in[c.pos] == '}' {
		c.pos++
		return dst, true
	}
	for {
		c.ws()
		k0 := len(c.sc.out)
		if !c.str() {
			return nil, false
		}
		k1 := len(c.sc.out)
		c.ws()
		if c.pos >= len(c.in) || c.in[c.pos] != ':' {
			return nil, false
		}
		c.pos++
		c.ws()
		v0, v1, ok := c.value(depth + 1)
		if !ok {
			return nil, false
		}
		dst = append(dst, jpair{k0, k1, v0, v1})
		c.ws()
		if c.pos >= len(c.in) {
			return nil, false
		}
		if c.in[c.pos] == ',' {
			c.pos++
			continue
		}
		if c.in[c.pos] == '}' {
			c.pos++
			break
		}
		return nil, false
	}
	out := c.sc.out
	key := func(p jpair) string { return string(out[p.k0:p.k1]) }
	m := dst[base:]
	slices.SortStableFunc(m, func(a, b jpair) int {
		ka, kb := out[a.k0:a.k1], out[b.k0:b.k1]
		if len(ka) != len(kb) {
			return len(ka) - len(kb)
		}
		return bytes.Compare(ka, kb)
	})
	m = lastOfEqual(m, key)
	return dst[:base+len(m)], true
}

// value parses a value at c.pos and returns the range of sc.out holding its
// jsonb text.
func (c *jsonCanon) value(depth int) (int, int, bool) {
	if depth > maxJSONDepth || c.pos >= len(c.in) {
		return 0, 0, false
	}
	switch ch := c.in[c.pos]; {
	case ch == '{':
		pairs, ok := c.members(depth, nil)
		if !ok {
			return 0, 0, false
		}
		v0 := len(c.sc.out)
		c.sc.out = append(c.sc.out, '{')
		for i, p := range pairs {
			if i > 0 {
				c.sc.out = append(c.sc.out, ',', ' ')
			}
			c.sc.out = appendJSONString(c.sc.out, string(c.sc.out[p.k0:p.k1]))
			c.sc.out = append(c.sc.out, ':', ' ')
			c.sc.out = append(c.sc.out, c.sc.out[p.v0:p.v1]...)
		}
		c.sc.out = append(c.sc.out, '}')
		return v0, len(c.sc.out), true
	case ch == '[':
		c.pos++
		c.ws()
		var items [][2]int
		if c.pos < len(c.in) && c.in[c.pos] == ']' {
			c.pos++
		} else {
			for {
				c.ws()
				v0, v1, ok := c.value(depth + 1)
				if !ok {
					return 0, 0, false
				}
				items = append(items, [2]int{v0, v1})
				c.ws()
				if c.pos >= len(c.in) {
					return 0, 0, false
				}
				if c.in[c.pos] == ',' {
					c.pos++
					continue
				}
				if c.in[c.pos] == ']' {
					c.pos++
					break
				}
				return 0, 0, false
			}
		}
		v0 := len(c.sc.out)
		c.sc.out = append(c.sc.out, '[')
		for i, it := range items {
			if i > 0 {
				c.sc.out = append(c.sc.out, ',', ' ')
			}
			c.sc.out = append(c.sc.out, c.sc.out[it[0]:it[1]]...)
		}
		c.sc.out = append(c.sc.out, ']')
		return v0, len(c.sc.out), true
	case ch == '"':
		s0 := len(c.sc.out)
		if !c.str() {
			return 0, 0, false
		}
		s := string(c.sc.out[s0:])
		c.sc.out = appendJSONString(c.sc.out[:s0], s)
		return s0, len(c.sc.out), true
	case ch == '-' || (ch >= '0' && ch <= '9'):
		n0 := c.pos
		for c.pos < len(c.in) && strings.IndexByte("+-.eE0123456789", c.in[c.pos]) >= 0 {
			c.pos++
		}
		v0 := len(c.sc.out)
		var ok bool
		if c.sc.out, ok = appendNumeric(c.sc.out, c.in[n0:c.pos]); !ok {
			return 0, 0, false
		}
		return v0, len(c.sc.out), true
	}
	for _, lit := range []string{"true", "false", "null"} {
		if bytes.HasPrefix(c.in[c.pos:], []byte(lit)) {
			c.pos += len(lit)
			v0 := len(c.sc.out)
			c.sc.out = append(c.sc.out, lit...)
			return v0, len(c.sc.out), true
		}
	}
	return 0, 0, false
}

// str decodes the JSON string at c.pos into sc.out (raw UTF-8). A NUL, a
// lone surrogate or invalid UTF-8, which PostgreSQL refuses, is false.
func (c *jsonCanon) str() bool {
	if c.pos >= len(c.in) || c.in[c.pos] != '"' {
		return false
	}
	c.pos++
	for c.pos < len(c.in) {
		ch := c.in[c.pos]
		switch {
		case ch == '"':
			c.pos++
			return true
		case ch < 0x20:
			return false
		case ch == '\\':
			if c.pos+1 >= len(c.in) {
				return false
			}
			e := c.in[c.pos+1]
			c.pos += 2
			switch e {
			case '"', '\\', '/':
				c.sc.out = append(c.sc.out, e)
			case 'b':
				c.sc.out = append(c.sc.out, '\b')
			case 'f':
				c.sc.out = append(c.sc.out, '\f')
			case 'n':
				c.sc.out = append(c.sc.out, '\n')
			case 'r':
				c.sc.out = append(c.sc.out, '\r')
			case 't':
				c.sc.out = append(c.sc.out, '\t')
			case 'u':
				r, ok := c.hex4()
				if !ok || r == 0 {
					return false
				}
				if utf16.IsSurrogate(r) {
					if r >= 0xdc00 || c.pos+1 >= len(c.in) || c.in[c.pos] != '\\' || c.in[c.pos+1] != 'u' {
						return false
					}
					c.pos += 2
					r2, ok := c.hex4()
					if !ok {
						return false
					}
					if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
						return false
					}
				}
				c.sc.out = utf8.AppendRune(c.sc.out, r)
			default:
				return false
			}
		case ch < utf8.RuneSelf:
			c.sc.out = append(c.sc.out, ch)
			c.pos++
		default:
			r, n := utf8.DecodeRune(c.in[c.pos:])
			if r == utf8.RuneError && n <= 1 {
				return false
			}
			c.sc.out = append(c.sc.out, c.in[c.pos:c.pos+n]...)
			c.pos += n
		}
	}
	return false
}

func (c *jsonCanon) hex4() (rune, bool) {
	if c.pos+4 > len(c.in) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(c.in[c.pos:c.pos+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	c.pos += 4
	return rune(v), true
}

// appendGeoJSON appends g as PostGIS 3.3's ST_AsGeoJSON(g, 7) prints a
// geometry with SRID 4326; false for an empty part or a coordinate whose
// text could differ.
func appendGeoJSON(b []byte, g orb.Geometry) ([]byte, bool) {
	ok := true
	points := func(ps []orb.Point) {
		if len(ps) == 0 {
			ok = false
			return
		}
		b = append(b, '[')
		for i, p := range ps {
			if i > 0 {
				b = append(b, ',')
			}
			var o1, o2 bool
			b = append(b, '[')
			b, o1 = appendCoord(b, p[0])
			b = append(b, ',')
			b, o2 = appendCoord(b, p[1])
			b = append(b, ']')
			ok = ok && o1 && o2
		}
		b = append(b, ']')
	}
	rings := func(rs []orb.Ring) {
		if len(rs) == 0 {
			ok = false
			return
		}
		b = append(b, '[')
		for i, r := range rs {
			if i > 0 {
				b = append(b, ',')
			}
			points(r)
		}
		b = append(b, ']')
	}
	switch g := g.(type) {
	case orb.Point:
		var o1, o2 bool
		b = append(b, `{"type":"Point","coordinates":[`...)
		b, o1 = appendCoord(b, g[0])
		b = append(b, ',')
		b, o2 = appendCoord(b, g[1])
		b = append(b, "]}"...)
		ok = o1 && o2
	case orb.MultiPoint:
		b = append(b, `{"type":"MultiPoint","coordinates":`...)
		points(g)
		b = append(b, '}')
	case orb.LineString:
		b = append(b, `{"type":"LineString","coordinates":`...)
		points(g)
		b = append(b, '}')
	case orb.MultiLineString:
		b = append(b, `{"type":"MultiLineString","coordinates":`...)
		if len(g) == 0 {
			return b, false
		}
		b = append(b, '[')
		for i, ls := range g {
			if i > 0 {
				b = append(b, ',')
			}
			points(ls)
		}
		b = append(b, "]}"...)
	case orb.Ring:
		return appendGeoJSON(b, orb.Polygon{g})
	case orb.Bound:
		return appendGeoJSON(b, g.ToPolygon())
	case orb.Polygon:
		b = append(b, `{"type":"Polygon","coordinates":`...)
		rings(g)
		b = append(b, '}')
	case orb.MultiPolygon:
		b = append(b, `{"type":"MultiPolygon","coordinates":`...)
		if len(g) == 0 {
			return b, false
		}
		b = append(b, '[')
		for i, p := range g {
			if i > 0 {
				b = append(b, ',')
			}
			rings(p)
		}
		b = append(b, "]}"...)
	case orb.Collection:
		b = append(b, `{"type":"GeometryCollection","geometries":[`...)
		if len(g) == 0 {
			return b, false
		}
		for i, x := range g {
			if i > 0 {
				b = append(b, ',')
			}
			var o bool
			if b, o = appendGeoJSON(b, x); !o {
				return b, false
			}
		}
		b = append(b, "]}"...)
	default:
		return b, false
	}
	return b, ok
}

// appendCoord appends d as lwprint_double(d, 7) of PostGIS 3.3 does for
// 1e-8 < |d| < 1e15: the shortest decimal digits that read back as d (ryu),
// rounded half to even to at most 7 decimals, trailing zeros dropped, in
// fixed notation, with no sign on a value rounded to 0. Zero (and -0) is 0.
// False for the other values, which PostGIS prints with an exponent, and
// NaN.
func appendCoord(b []byte, d float64) ([]byte, bool) {
	const precision = 7
	if d == 0 {
		return append(b, '0'), true // -0 too
	}
	ad := math.Abs(d)
	if !(ad > 1e-8 && ad < 1e15) {
		return b, false
	}
	// The shortest digits in fixed notation are the text when they have at
	// most 7 decimals (files mostly give coordinates so): no rounding, and
	// shortest digits have no trailing zeros.
	start := len(b)
	b = strconv.AppendFloat(b, d, 'f', -1, 64)
	if dot := bytes.IndexByte(b[start:], '.'); dot < 0 || len(b)-start-dot-1 <= precision {
		return b, true
	}
	b = b[:start]
	// Else round them: d = output·10^exp.
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], ad, 'e', -1, 64)
	var output uint64
	olength := 0
	i := 0
	for ; i < len(e) && e[i] != 'e'; i++ {
		if c := e[i]; c != '.' {
			output = output*10 + uint64(c-'0')
			olength++
		}
	}
	x, err := strconv.Atoi(string(e[i+1:]))
	if err != nil || olength > 17 {
		return b, false
	}
	exp := x - (olength - 1)
	if exp < 0 && -exp > precision {
		trim := -exp - precision
		if trim > olength {
			output = 0
		} else {
			div := pow10[trim]
			q, rem := output/div, output%div
			output = q
			exp += trim
			if rem > div/2 || (rem == div/2 && q&1 == 1) {
				output++
			}
			for output != 0 && output%10 == 0 {
				output /= 10
				exp++
			}
		}
	}
	if output == 0 {
		return append(b, '0'), true
	}
	if d < 0 {
		b = append(b, '-')
	}
	start = len(b)
	b = strconv.AppendUint(b, output, 10)
	n := len(b) - start
	switch {
	case exp >= 0:
		for k := 0; k < exp; k++ {
			b = append(b, '0')
		}
	case -exp < n:
		// Insert the point.
		b = append(b, 0)
		p := len(b) - 1 + exp
		copy(b[p+1:], b[p:len(b)-1])
		b[p] = '.'
	default:
		digits := string(b[start:])
		b = append(b[:start], '0', '.')
		for k := 0; k < -exp-n; k++ {
			b = append(b, '0')
		}
		b = append(b, digits...)
	}
	return b, true
}

var pow10 = [...]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}
