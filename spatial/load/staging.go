package load

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/planar"
	h3 "github.com/uber/h3-go/v4"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial"
)

// staging describes the temporary table records are copied into: the spine
// (layer, source, source_id, rec, props, h3, geom, geom3d, cells) and one
// typed column per attribute of the built-in layers loaded.
type staging struct {
	attrs []spatial.Attribute
	index map[string]int // attribute name -> column index
}

const spine = 9 // columns before the attributes

func newStaging(layers []*spatial.Layer) *staging {
	st := &staging{index: map[string]int{}}
	for _, l := range layers {
		if l.User {
			continue
		}
		for _, a := range l.Attributes {
			if _, ok := st.index[a.Name]; ok {
				continue
			}
			st.index[a.Name] = spine + len(st.attrs)
			st.attrs = append(st.attrs, a)
		}
	}
	return st
}

func sqlType(t spatial.AttrType) string {
	switch t {
	case spatial.TypeInteger:
		return "bigint"
	case spatial.TypeNumber:
		return "double precision"
	case spatial.TypeBoolean:
		return "boolean"
	case spatial.TypeDate:
		return "date"
	case spatial.TypeTimestamp:
		return "timestamptz"
	case spatial.TypeTextArray:
		return "text[]"
	}
	return "text"
}

func attrCol(name string) string { return pgx.Identifier{"a_" + name}.Sanitize() }

func (st *staging) createSQL() string {
	var b strings.Builder
	b.WriteString(`CREATE TEMP TABLE ct_stage (layer text, source text, source_id text, rec bigint, props jsonb, h3 bigint, geom bytea, geom3d bytea, cells bigint[]`)
	for _, a := range st.attrs {
		fmt.Fprintf(&b, ", %s %s", attrCol(a.Name), sqlType(a.Type))
	}
	b.WriteString(`) ON COMMIT DROP`)
	return b.String()
}

func (st *staging) columns() []string {
	cols := []string{"layer", "source", "source_id", "rec", "props", "h3", "geom", "geom3d", "cells"}
	for _, a := range st.attrs {
		cols = append(cols, "a_"+a.Name)
	}
	return cols
}

// row converts a checked record to its staging row.
func (st *staging) row(l *spatial.Layer, r *Record, g orb.Geometry, g3 []byte, cc *cellCache) ([]any, error) {
	vals := make([]any, spine+len(st.attrs))
	vals[0], vals[1], vals[2], vals[3] = l.Name, r.Source, r.SourceID, r.Num
	props := map[string]any{}
	for k, v := range r.Props {
		if v == nil {
			continue
		}
		if !l.User {
			if a, ok := l.Attr(k); ok {
				cv, err := convert(a, v)
				if err != nil {
					return nil, err
				}
				vals[st.index[k]] = cv
				continue
			}
		}
		props[k] = v
	}
	pj, err := json.Marshal(props)
	if err != nil {
		return nil, errs.Invalid("properties", "cannot be stored as JSON: %v", err)
	}
	vals[4] = pj
	vals[5] = int64(spatial.FeatureCell(g))
	b, err := wkb.Marshal(g)
	if err != nil {
		return nil, errs.Invalid("geometry", "cannot encode: %v", err)
	}
	vals[6] = b
	if len(g3) > 0 {
		vals[7] = g3
	}
	cells := cover(g, cc)
	ci := make([]int64, len(cells))
	for i, c := range cells {
		ci[i] = int64(c)
	}
	vals[8] = ci
	return vals, nil
}

// convert turns a property value into the attribute's Go type. Blank strings
// are no value.
func convert(a spatial.Attribute, v any) (any, error) {
	bad := func(format string, args ...any) error {
		return errs.Invalid(a.Name, format, args...)
	}
	if s, ok := v.(string); ok {
		s = strings.TrimSpace(s)
		if s == "" && a.Type != spatial.TypeText {
			return nil, nil
		}
		v = s
	}
	switch a.Type {
	case spatial.TypeText:
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		case int, int64, bool, json.Number:
			s = fmt.Sprint(x)
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return nil, bad("cannot be text: %v", err)
			}
			s = string(b)
		}
		if len(a.Enum) > 0 && !slices.Contains(a.Enum, s) {
			return nil, bad("%q is not one of %s", s, strings.Join(a.Enum, ", "))
		}
		return s, nil
	case spatial.TypeNumber:
		f, err := toFloat(v)
		if err != nil {
			return nil, bad("%v", err)
		}
		return f, nil
	case spatial.TypeInteger:
		f, err := toFloat(v)
		if err != nil {
			return nil, bad("%v", err)
		}
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return nil, bad("%v is not a whole number", v)
		}
		return int64(f), nil
	case spatial.TypeBoolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case float64:
			return x != 0, nil
		case int64:
			return x != 0, nil
		case int:
			return x != 0, nil
		case string:
			switch strings.ToLower(x) {
			case "true", "t", "yes", "y", "1", "是":
				return true, nil
			case "false", "f", "no", "n", "0", "否", "-1":
				return false, nil
			}
		}
		return nil, bad("%q is not a yes/no value", fmt.Sprint(v))
	case spatial.TypeDate, spatial.TypeTimestamp:
		switch x := v.(type) {
		case time.Time:
			return x, nil
		case string:
			for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02", "2006/01/02", "2006/1/2", "20060102"} {
				if t, err := time.Parse(layout, x); err == nil {
					return t, nil
				}
			}
		}
		return nil, bad("%q is not a date (YYYY-MM-DD)", fmt.Sprint(v))
	case spatial.TypeTextArray:
		switch x := v.(type) {
		case []string:
			return x, nil
		case []any:
			out := make([]string, 0, len(x))
			for _, e := range x {
				out = append(out, fmt.Sprint(e))
			}
			return out, nil
		case string:
			x = strings.Trim(x, "{}[]")
			var out []string
			for _, p := range strings.FieldsFunc(x, func(r rune) bool { return r == ',' || r == ';' || r == '|' }) {
				if p = strings.Trim(strings.TrimSpace(p), `"`); p != "" {
					out = append(out, p)
				}
			}
			return out, nil
		}
		return nil, bad("%v is not a list", v)
	}
	return nil, bad("unsupported attribute type %s", a.Type)
}

func toFloat(v any) (float64, error) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case int32:
		f = float64(x)
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return 0, fmt.Errorf("%q is not a number", string(x))
		}
	case string:
		var err error
		if f, err = strconv.ParseFloat(x, 64); err != nil {
			return 0, fmt.Errorf("%q is not a number", x)
		}
	case bool:
		return 0, fmt.Errorf("%v is not a number", x)
	default:
		return 0, fmt.Errorf("%v is not a number", v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%v is not a finite number", v)
	}
	return f, nil
}

// upsertSQL moves layer l's staged rows into its table. $1 is the layer name.
func (st *staging) upsertSQL(l *spatial.Layer, defaults map[string]string, has3D bool) string {
	var cols, sel, set, old, new []string
	add := func(col, expr string) {
		c := pgx.Identifier{col}.Sanitize()
		cols = append(cols, c)
		sel = append(sel, expr)
		if col != "source" && col != "source_id" && col != "layer" {
			set = append(set, fmt.Sprintf("%s = EXCLUDED.%s", c, c))
			old = append(old, "t."+c)
			new = append(new, "EXCLUDED."+c)
		}
	}
	conflict := "(source, source_id)"
	if l.User {
		add("layer", "$1")
		conflict = "(layer, source, source_id)"
	}
	add("source", "s.source")
	add("source_id", "s.source_id")
	add("props", "s.props")
	add("h3", "s.h3")
	add("geom", "ST_GeomFromWKB(s.geom, 4326)")
	if has3D {
		add("geom3d", "ST_SetSRID(ST_GeomFromWKB(s.geom3d), 4326)")
	}
	if !l.User {
		for _, a := range l.Attributes {
			expr := "s." + attrCol(a.Name)
			if d, ok := defaults[a.Name]; ok && d != "" {
				expr = fmt.Sprintf("COALESCE(%s, %s)", expr, d)
			}
			add(a.Name, expr)
		}
	}
	set = append(set, "updated_at = now()")
	// A feature the load would leave as it is keeps its row: no new row
	// version, no index entries, no derived columns computed again, no tile
	// to drop. Re-importing an unchanged file is then mostly look-ups.
	return fmt.Sprintf(`WITH up AS (INSERT INTO %s AS t (%s) SELECT %s FROM ct_stage s WHERE s.layer = $1 ORDER BY s.h3
	ON CONFLICT %s DO UPDATE SET %s WHERE (%s) IS DISTINCT FROM (%s)
	RETURNING t.id, t.source, t.source_id, (t.xmax = 0) AS ins)
INSERT INTO ct_ids (layer, id, source, source_id, ins) SELECT $1, id, source, source_id, ins FROM up`,
		l.TableIdent(), strings.Join(cols, ", "), strings.Join(sel, ", "), conflict, strings.Join(set, ", "),
		strings.Join(old, ", "), strings.Join(new, ", "))
}

// MaxCover bounds the H3 cover cells of one feature. A feature that would
// need more (a country at resolution 10 needs millions) gets no cover
// cells: its bbox and geometry still answer spatial queries.
const MaxCover = 100_000

// cover returns g's cover cells at spatial.CoverRes, or nil when the
// feature is too large to cover. cc, if not nil, saves H3 calls.
func cover(g orb.Geometry, cc *cellCache) []uint64 {
	b := g.Bound()
	if b.Max[0]-b.Min[0] > 0.01 || b.Max[1]-b.Min[1] > 0.01 {
		// Estimate: the bound's area over a cell's, and the cells along the
		// boundary (the cover samples it at a third of a cell edge).
		lat := (b.Max[1] + b.Min[1]) / 2 * math.Pi / 180
		w := (b.Max[0] - b.Min[0]) * 111_320 * math.Cos(lat)
		h := (b.Max[1] - b.Min[1]) * 110_540
		edge := h3.HexagonEdgeLengthAvgM(spatial.CoverRes)
		if w*h/h3.HexagonAreaAvgM2(spatial.CoverRes) > MaxCover || planar.Length(boundary(g))*111_000*3/edge > 4*MaxCover {
			return nil
		}
	}
	if small(g, b) {
		return smallCover(g, cc)
	}
	return spatial.CoverCells(g, spatial.CoverRes)
}

// small reports whether polygonal g is small enough that every cell whose
// centre it contains also holds one of its vertices: its bound's diagonal is
// under the inner radius of a cover cell. Most buildings are.
func small(g orb.Geometry, b orb.Bound) bool {
	switch g.(type) {
	case orb.Polygon, orb.MultiPolygon:
	default:
		return false
	}
	lat := (b.Max[1] + b.Min[1]) / 2 * math.Pi / 180
	w := (b.Max[0] - b.Min[0]) * 111_320 * math.Cos(lat)
	h := (b.Max[1] - b.Min[1]) * 110_540
	inner := h3.HexagonEdgeLengthAvgM(spatial.CoverRes) * math.Sqrt(3) / 2 * 0.8
	return math.Hypot(w, h) < inner
}

// smallCover is spatial.CoverCells for small polygons: the cells of the
// rings, sampled as CoverCells samples lines, without the polygon fill.
func smallCover(g orb.Geometry, cc *cellCache) []uint64 {
	step := h3.HexagonEdgeLengthAvgM(spatial.CoverRes) / 3
	out := make([]uint64, 0, 4)
	add := func(p orb.Point) {
		c := cc.cell(p)
		for _, x := range out {
			if x == c {
				return
			}
		}
		out = append(out, c)
	}
	ring := func(r orb.Ring) {
		for i := range r {
			add(r[i])
			if i == 0 {
				continue
			}
			if n := int(geo.Distance(r[i-1], r[i]) / step); n > 0 {
				for k := 1; k <= n; k++ {
					t := float64(k) / float64(n+1)
					add(orb.Point{r[i-1][0] + t*(r[i][0]-r[i-1][0]), r[i-1][1] + t*(r[i][1]-r[i-1][1])})
				}
			}
		}
	}
	switch g := g.(type) {
	case orb.Polygon:
		for _, r := range g {
			ring(r)
		}
	case orb.MultiPolygon:
		for _, p := range g {
			for _, r := range p {
				ring(r)
			}
		}
	}
	return out
}

func boundary(g orb.Geometry) orb.Geometry {
	switch g := g.(type) {
	case orb.Polygon:
		mls := make(orb.MultiLineString, len(g))
		for i, r := range g {
			mls[i] = orb.LineString(r)
		}
		return mls
	case orb.MultiPolygon:
		var mls orb.MultiLineString
		for _, p := range g {
			for _, r := range p {
				mls = append(mls, orb.LineString(r))
			}
		}
		return mls
	}
	return g
}
