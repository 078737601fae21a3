package load

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/spatial"
)

// Every layer's direct plan renders ogc_json in Go: the function of each
// table takes only argument types the renderer knows, and the plan's sample
// check (Go against the function) passes.
func TestOGCJSONPlanned(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	user, err := spatial.EnsureUserLayer(ctx, tx, s.Registry, "survey", "Survey", "Geometry")
	if err != nil {
		t.Fatal(err)
	}
	layers := append(s.Registry.Layers(), user)
	if len(layers) < 13 {
		t.Fatalf("%d layers", len(layers))
	}
	for _, l := range layers {
		p, err := planDirect(ctx, tx, l, "plan-test")
		if err != nil {
			t.Fatalf("%s: %v", l.Name, err)
		}
		if p == nil || p.ogc == nil {
			why := "no direct plan"
			if p != nil {
				why = p.ogcOff
			}
			t.Errorf("%s: ogc_json not rendered in Go: %s", l.Name, why)
		}
	}
}

// ogcRecords are records with values that are easy to render wrong.
func ogcRecords(layer, src string) []*Record {
	var out []*Record
	add := func(g orb.Geometry, props map[string]any) {
		out = append(out, &Record{Layer: layer, Source: src, SourceID: fmt.Sprintf("%s-%d", layer, len(out)), File: "t", Num: int64(len(out) + 1), Geom: g, Props: props})
	}
	// Free properties that every record gets, one way or another.
	free := []map[string]any{
		{},
		{"note": "quote \" backslash \\ slash / tab\tnl\ncr\rbs\bff\f ctl\x01\x1f del\x7f", "ünï": "中文 🚰 \u2028\u2029", "<&>": "<b>&amp;</b>"},
		{"n1": json.Number("1.50"), "n2": json.Number("1e2"), "n3": json.Number("-0"), "n4": json.Number("-0.0"), "n5": json.Number("1.5E-3"),
			"n6": json.Number("12345678901234567890123"), "n7": json.Number("-0.000"), "n8": json.Number("2.5e+3"), "n9": json.Number("1.23456e-20")},
		{"f1": 1e-7, "f2": 1e21, "f3": 5e-324, "f4": math.MaxFloat64, "f5": -0.0, "f6": 0.1 + 0.2, "f7": 123456789.0, "f8": -2.5e-8, "f9": 1e20},
		{"nested": map[string]any{"zz": []any{1.0, "two", nil, true, false, map[string]any{}, []any{}}, "a": map[string]any{"bb": nil, "b": "x"}, "": "empty key"}},
		{"source": "shadowed", "updated_at": "shadowed", "source_id": 1.0, "k": nil, "bad utf8": "a\xffb\xc3", "bad\xfekey": 1.0},
		{"list": []any{"a\"b", 2.5, []any{[]any{nil}}}, "long key with spaces and ü": "v", "a": 1.0, "b": 2.0, "aa": 3.0},
	}
	coords := [][2]float64{
		{116.3, 39.9},
		{-73.987654321, 40.123456789},  // rounding
		{116.00390625, 39.90000004},    // an exact tie at the 8th decimal
		{-0.12345675, -33.99999999},    // not a tie in binary
		{-179.99999996, -89.9999999},   // rounds to -180
		{0.000000011, -3e-8},           // round to zero
		{100.00000005000001, 12.34567}, // just above a tie
		{103.77692515, 12.82940365},    // ties of the shortest digits, not of the binary value
	}
	for i, c := range coords {
		x, y := c[0], c[1]
		var g orb.Geometry
		props := map[string]any{}
		for k, v := range free[i%len(free)] {
			props[k] = v
		}
		switch layer {
		case "buildings", "project_sites":
			d := 0.0003
			g = orb.Polygon{{{x, y}, {x + d, y}, {x + d, y + d}, {x, y + d}, {x, y}}}
		case "roads":
			g = orb.MultiLineString{{{x, y}, {x + 0.001, y + 0.0001}}, {{x, y + 0.01}, {x + 0.002, y + 0.02}}}
		default:
			g = orb.Point{x, y}
		}
		switch layer {
		case "buildings":
			props["name"] = fmt.Sprintf("  B\t%d \"名\" \x02 ", i)
			switch i % 4 {
			case 0:
				props["height_m"], props["floors"], props["year_built"] = 0.1+0.2, json.Number("3"), "1999"
			case 1:
				props["height_m"], props["floors"], props["use"] = 1e-7, 7.0, "office\\"
			case 2:
				props["height_m"], props["address"] = json.Number("999.9999999999999"), "a\xffb"
			}
		case "smart_poles":
			switch i % 3 {
			case 0:
				props["functions"] = []any{"light", `cam "x"`, "\\"}
				props["status"] = "fault"
				props["height_m"] = 12.0
			case 1:
				props["functions"] = "wifi; 5g"
				props["height_m"] = 1e-5
			}
		case "project_sites":
			props["name"] = "工地"
			if i%2 == 0 {
				props["start_date"], props["planned_end"] = "2024-02-29", "2031/1/2"
				props["stage"], props["investment"], props["progress_pct"] = "approved", 1234.5678, 0.5
				if i == 0 {
					props["investment"] = 1e17 // left to PostgreSQL
				}
			}
		case "roads":
			if i%2 == 0 {
				props["oneway"], props["lanes"], props["class"] = true, 4.0, "primary"
			} else {
				props["oneway"] = "否"
			}
		}
		add(g, props)
	}
	// Many plain ones, as a real file has.
	for i := 0; i < 300; i++ {
		x, y := 116.3+float64(i)*0.00123456789, 39.9-float64(i)*0.000987654321
		var g orb.Geometry = orb.Point{x, y}
		switch layer {
		case "buildings", "project_sites":
			g = orb.Polygon{{{x, y}, {x + 0.0002, y}, {x + 0.0002, y + 0.0001}, {x, y + 0.0001}, {x, y}}}
		case "roads":
			g = orb.MultiLineString{{{x, y}, {x + 0.001, y}}}
		}
		add(g, map[string]any{"name": fmt.Sprintf("n%d", i), "v": float64(i) / 7})
	}
	return out
}

// loadLayer loads recs into the named layer.
func loadLayer(tb testing.TB, s *spatial.Store, l *spatial.Layer, recs []*Record) *Result {
	tb.Helper()
	i := 0
	res, err := Load(context.Background(), s, []*spatial.Layer{l}, func() (*Record, error) {
		if i == len(recs) {
			return nil, nil
		}
		i++
		r := *recs[i-1]
		return &r, nil
	}, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// differing counts the rows of source src in l's table whose stored
// ogc_json differs from what the table's function computes now (an update
// that changes nothing makes the trigger compute it), and those that were
// NULL.
func differing(tb testing.TB, s *spatial.Store, l *spatial.Layer, src string) (diff, null int64, sample string) {
	tb.Helper()
	ctx := context.Background()
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback(ctx)
	t := l.TableIdent()
	for _, q := range []string{
		fmt.Sprintf(`CREATE TEMP TABLE stored ON COMMIT DROP AS SELECT id, ogc_json FROM %s WHERE source = $1`, t),
		fmt.Sprintf(`UPDATE %s SET props = props WHERE source = $1`, t),
	} {
		if _, err := tx.Exec(ctx, q, src); err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
	}
	q := fmt.Sprintf(`SELECT count(*) FILTER (WHERE s.ogc_json IS NOT NULL AND s.ogc_json <> t.ogc_json), count(*) FILTER (WHERE s.ogc_json IS NULL),
		coalesce(min(s.ogc_json || E'\n' || t.ogc_json) FILTER (WHERE s.ogc_json <> t.ogc_json), '')
		FROM stored s JOIN %s t USING (id)`, t)
	if err := tx.QueryRow(ctx, q).Scan(&diff, &null, &sample); err != nil {
		tb.Fatal(err)
	}
	return diff, null, sample
}

// The direct path's ogc_json, rendered in Go, is the text the table's
// function computes, for tricky values of every kind of attribute; rows the
// renderer leaves NULL get theirs from the trigger.
func TestDirectOGCJSON(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	for _, name := range []string{"buildings", "smart_poles", "project_sites", "roads", "survey"} {
		t.Run(name, func(t *testing.T) {
			var l *spatial.Layer
			if name == "survey" {
				tx, err := s.Pool.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if l, err = spatial.EnsureUserLayer(ctx, tx, s.Registry, name, name, "Geometry"); err != nil {
					t.Fatal(err)
				}
				if err := tx.Commit(ctx); err != nil {
					t.Fatal(err)
				}
				s.Registry.Add(l)
			} else {
				var err error
				if l, err = s.Registry.Layer(name); err != nil {
					t.Fatal(err)
				}
			}
			// With the insert trigger off, the stored text is Go's alone
			// (NULL where it leaves a row to PostgreSQL).
			if _, err := s.Pool.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s DISABLE TRIGGER zz_ogc_json_insert`, l.TableIdent())); err != nil {
				t.Fatal(err)
			}
			recs := ogcRecords(name, "go")
			res := loadLayer(t, s, l, recs)
			if res.Direct != int64(len(recs)) {
				t.Fatalf("%d of %d records loaded directly", res.Direct, len(recs))
			}
			if _, err := s.Pool.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ENABLE TRIGGER zz_ogc_json_insert`, l.TableIdent())); err != nil {
				t.Fatal(err)
			}
			diff, null, sample := differing(t, s, l, "go")
			if diff != 0 {
				t.Fatalf("%d rows rendered in Go differ from PostgreSQL's text, e.g. (Go, then PostgreSQL)\n%s", diff, sample)
			}
			// Only a float attribute of 2^53 or more is left to
			// PostgreSQL (the record with investment 1e17).
			if want := map[bool]int64{true: 1}[name == "project_sites"]; null != want {
				t.Fatalf("%d rows left to PostgreSQL, want %d", null, want)
			}
			// With the trigger on, as in a real load, no row lacks its text.
			loadLayer(t, s, l, ogcRecords(name, "all"))
			if v := query(t, s, fmt.Sprintf(`SELECT count(*) FROM %s WHERE source = 'all' AND ogc_json IS NULL`, l.TableIdent())); v != 0 {
				t.Fatalf("%d rows without ogc_json", v)
			}
			if diff, null, sample := differing(t, s, l, "all"); diff != 0 || null != 0 {
				t.Fatalf("%d rows differ, %d NULL, e.g.\n%s", diff, null, sample)
			}
			// Later writes in other sessions do not keep a text they bring.
			tx, err := s.Pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			for _, q := range []string{
				`CREATE TEMP TABLE f ON COMMIT DROP AS SELECT * FROM %s WHERE source = 'all' LIMIT 1`,
				`UPDATE f SET id = id + 1000000, source = 'sql', ogc_json = 'forged'`,
				`INSERT INTO %s SELECT * FROM f`,
			} {
				if _, err := tx.Exec(ctx, strings.ReplaceAll(q, "%s", l.TableIdent())); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if diff, null, _ := differing(t, s, l, "sql"); diff != 0 || null != 0 {
				t.Fatalf("an insert kept the ogc_json it brought (%d, %d)", diff, null)
			}
		})
	}
}

// A renderer that is wrong makes TestDirectOGCJSON's comparison fail: the
// check is not vacuous. (The renderer is broken on purpose through its key
// order.)
func TestDirectOGCJSONCatchesErrors(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	l, _ := s.Registry.Layer("smart_poles")
	if _, err := s.Pool.Exec(ctx, `ALTER TABLE smart_poles DISABLE TRIGGER zz_ogc_json_insert`); err != nil {
		t.Fatal(err)
	}
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	p, err := planDirect(ctx, tx, l, "broken")
	if err != nil || p == nil || p.ogc == nil {
		t.Fatalf("plan: %v %+v", err, p)
	}
	p.ogc.fixed[0], p.ogc.fixed[1] = p.ogc.fixed[1], p.ogc.fixed[0]
	var buf []byte
	vals := make([]any, len(p.attrs))
	var sc ogcScratch
	var cc cellCache
	for i, r := range ogcRecords("smart_poles", "broken")[:5] {
		var err error
		if buf, _, err = p.encode(buf[:0], r, r.Geom, nil, vals, &cc, &sc); err != nil {
			t.Fatal(err)
		}
		binaryPutID(buf, int64(1_000_000+i))
		if _, err := tx.Conn().PgConn().CopyFrom(ctx, strings.NewReader(string(copyHeader)+string(buf)+string(copyTrailer)), p.copySQL); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.rebuildIndexes(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if diff, _, _ := differing(t, s, l, "broken"); diff == 0 {
		t.Fatal("a wrong key order went unnoticed")
	}
}

func binaryPutID(tuple []byte, id int64) {
	for k := 0; k < 8; k++ {
		tuple[idOffset+k] = byte(uint64(id) >> (56 - 8*k))
	}
}

// The number, string, float and coordinate renderers against PostgreSQL
// itself, on random values.
func TestOGCRenderersRandom(t *testing.T) {
	s := MustOpenStore(t)
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	digits := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		return b.String()
	}

	t.Run("numbers", func(t *testing.T) {
		var in []string
		for i := 0; i < 5000; i++ {
			var b strings.Builder
			if rng.IntN(3) == 0 {
				b.WriteByte('-')
			}
			if rng.IntN(4) == 0 {
				b.WriteByte('0')
			} else {
				b.WriteByte(byte('1' + rng.IntN(9)))
				b.WriteString(digits(rng.IntN(25)))
			}
			if rng.IntN(2) == 0 {
				b.WriteString("." + digits(1+rng.IntN(20)))
			}
			if rng.IntN(2) == 0 {
				b.WriteString([]string{"e", "E", "e+", "e-", "E-"}[rng.IntN(5)])
				b.WriteString(fmt.Sprint(rng.IntN(60)))
			}
			in = append(in, b.String())
		}
		in = append(in, "0", "-0", "-0.0", "0e5", "0.000e-3", "1e1000", "-1e-1000", "9.99e999")
		compare(t, s, `SELECT x::jsonb::text FROM unnest($1::text[]) WITH ORDINALITY u(x, i) ORDER BY i`, in, func(x string) (string, bool) {
			b, ok := appendNumeric(nil, []byte(x))
			return string(b), ok
		})
	})

	t.Run("documents", func(t *testing.T) {
		var value func(depth int) any
		value = func(depth int) any {
			switch k := rng.IntN(9); {
			case k == 0 && depth < 4:
				m := map[string]any{}
				for i := rng.IntN(6); i > 0; i-- {
					m[randString(rng, 6)] = value(depth + 1)
				}
				return m
			case k == 1 && depth < 4:
				a := []any{}
				for i := rng.IntN(5); i > 0; i-- {
					a = append(a, value(depth+1))
				}
				return a
			case k == 2:
				return rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
			case k == 3:
				return json.Number(fmt.Sprintf("%d.%se%d", rng.IntN(1000)-500, digits(1+rng.IntN(5)), rng.IntN(20)-10))
			case k == 4:
				return rng.IntN(2) == 0
			case k == 5:
				return nil
			}
			return randString(rng, 12)
		}
		var in []string
		for i := 0; i < 2000; i++ {
			m := map[string]any{}
			for j := rng.IntN(8); j > 0; j-- {
				m[randString(rng, 8)] = value(0)
			}
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), `\u0000`) {
				continue
			}
			in = append(in, string(b))
		}
		// Repeated keys (the last wins), spaces, escapes JSON allows.
		in = append(in, `{"a": 1, "a": 2, "b": {"x": 1, "x": [3]}}`, ` { "\u00e9\ud83d\ude00" : "\/\b" , "é😀": 1 } `, `{}`, `{"a":[]}`)
		compare(t, s, `SELECT x::jsonb::text FROM unnest($1::text[]) WITH ORDINALITY u(x, i) ORDER BY i`, in, func(x string) (string, bool) {
			return canon([]byte(x))
		})
	})

	t.Run("strings", func(t *testing.T) {
		var in []string
		for i := 0; i < 3000; i++ {
			in = append(in, randString(rng, 30))
		}
		compare(t, s, `SELECT to_jsonb(x)::text FROM unnest($1::text[]) WITH ORDINALITY u(x, i) ORDER BY i`, in, func(x string) (string, bool) {
			return string(appendJSONString(nil, x)), true
		})
	})

	t.Run("floats", func(t *testing.T) {
		var in []float64
		for i := 0; i < 5000; i++ {
			var f float64
			switch rng.IntN(3) {
			case 0:
				f = math.Float64frombits(rng.Uint64())
			case 1:
				f = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
			default:
				f = float64(rng.IntN(100000)) / 100
			}
			if !math.IsNaN(f) && !math.IsInf(f, 0) {
				in = append(in, f)
			}
		}
		in = append(in, 0, math.Copysign(0, -1), 5e-324, math.MaxFloat64, 1e15, 1e16, 1e21, 1e22, 0.1, 1.0/3)
		k := ogcKey{arg: argFloat8, col: kFloat8}
		compare(t, s, `SELECT to_jsonb(x)::text FROM unnest($1::float8[]) WITH ORDINALITY u(x, i) ORDER BY i`, in, func(x float64) (string, bool) {
			b, ok := appendAttr(nil, k, x)
			return string(b), ok
		})
		// Real's range: a cast out of it is an error.
		var in4 []float64
		for _, x := range in {
			if f := float32(x); !math.IsInf(float64(f), 0) && (x == 0 || f != 0) {
				in4 = append(in4, x)
			}
		}
		k4 := ogcKey{arg: argFloat4, col: kFloat4}
		compare(t, s, `SELECT to_jsonb(x::real)::text FROM unnest($1::float8[]) WITH ORDINALITY u(x, i) ORDER BY i`, in4, func(x float64) (string, bool) {
			b, ok := appendAttr(nil, k4, float64(float32(x)))
			return string(b), ok
		})
	})

	t.Run("coordinates", func(t *testing.T) {
		var in []float64
		for i := 0; i < 20000; i++ {
			var f float64
			switch rng.IntN(5) {
			case 0:
				f = (rng.Float64()*2 - 1) * 180
			case 1:
				f = math.Round((rng.Float64()*2-1)*180*1e7) / 1e7 // as files write them
			case 2:
				f = (math.Round((rng.Float64()*2-1)*180*1e7) + 0.5) / 1e7 // near ties
			case 3:
				f = float64(rng.IntN(1<<20)-1<<19) / 256 // exact ties and exact values
			default:
				f = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(34)-18))
			}
			in = append(in, f)
		}
		in = append(in, 0, math.Copysign(0, -1), 1e-8, 1.0000000000000001e-8, -1.1e-8, 1e-12, -1e-12, 5e-8, -5e-8, 5.000000000000001e-8, 4.9999999e-8, 1e15, -1e15, 999999999999999.9, 0.00390625, -116.00390625)
		left := 0
		compare(t, s, `SELECT ST_AsGeoJSON(ST_MakePoint(x, 1), 7) FROM unnest($1::float8[]) WITH ORDINALITY u(x, i) ORDER BY i`, in, func(x float64) (string, bool) {
			b, ok := appendGeoJSON(nil, orb.Point{x, 1})
			if !ok {
				left++
			}
			return string(b), ok
		})
		if left > len(in)/4 {
			t.Fatalf("%d of %d coordinates left to PostgreSQL", left, len(in))
		}
		t.Logf("%d of %d coordinates left to PostgreSQL", left, len(in))
	})
}

// compare renders every input with mine and checks it against PostgreSQL's
// text from q ($1 the inputs, one row each in order); inputs mine declines
// are skipped.
func compare[T any](t *testing.T, s *spatial.Store, q string, in []T, mine func(T) (string, bool)) {
	t.Helper()
	rows, err := s.Pool.Query(context.Background(), q, in)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pgx.CollectRows(rows, pgx.RowTo[*string])
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != len(in) {
		t.Fatalf("%d results for %d inputs", len(want), len(in))
	}
	checked, bad := 0, 0
	for i, x := range in {
		got, ok := mine(x)
		if !ok {
			continue
		}
		checked++
		if want[i] == nil || got != *want[i] {
			if bad++; bad <= 5 {
				w := "NULL"
				if want[i] != nil {
					w = *want[i]
				}
				t.Errorf("%v: Go %s, PostgreSQL %s", x, got, w)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d differ", bad, checked)
	}
	if checked < len(in)/2 {
		t.Fatalf("only %d of %d checked", checked, len(in))
	}
}

// randString returns up to n runes drawn from ASCII (controls included),
// Latin, CJK and astral characters, never NUL.
func randString(rng *rand.Rand, n int) string {
	var b strings.Builder
	for i := rng.IntN(n + 1); i > 0; i-- {
		switch rng.IntN(5) {
		case 0:
			b.WriteByte(byte(1 + rng.IntN(31)))
		case 1:
			b.WriteRune(rune(0xa0 + rng.IntN(0x200)))
		case 2:
			b.WriteRune(rune(0x4e00 + rng.IntN(0x5000)))
		case 3:
			b.WriteRune(rune(0x1f300 + rng.IntN(0x300)))
		default:
			b.WriteByte(byte(0x20 + rng.IntN(0x60)))
		}
	}
	return b.String()
}

// canon is jsonCanon on a whole value.
func canon(in []byte) (string, bool) {
	var sc ogcScratch
	c := jsonCanon{in: in, sc: &sc}
	c.ws()
	v0, v1, ok := c.value(0)
	c.ws()
	if !ok || c.pos != len(c.in) {
		return "", false
	}
	return string(sc.out[v0:v1]), true
}

// Whatever the input, the JSON canonicaliser does not panic, takes only
// valid JSON, and its output is valid JSON that it leaves as it is. (Its
// agreement with PostgreSQL is TestOGCRenderersRandom's.)
func FuzzJSONCanon(f *testing.F) {
	for _, s := range []string{`{"a": 1, "a": [1.50, -0, 1e2, "\u00e9\ud83d\ude00\n"]}`, `[]`, `"\u0000"`, `1e1001`, `-0.0e-5`, `{"b":{"c":{}}}`, `"\ud800"`, "\"\xff\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, ok := canon(in)
		if !ok {
			return
		}
		if !json.Valid(in) {
			t.Fatalf("took invalid JSON %q", in)
		}
		if !json.Valid([]byte(out)) {
			t.Fatalf("%q gave invalid JSON %q", in, out)
		}
		if again, ok := canon([]byte(out)); !ok || again != out {
			t.Fatalf("%q gave %q, then %q", in, out, again)
		}
	})
}
