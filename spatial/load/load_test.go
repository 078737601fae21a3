package load

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/internal/dbtest"
	"github.com/citytwin/citytwin/spatial"
)

// MustOpenStore returns a store on a fresh, migrated database.
func MustOpenStore(tb testing.TB) *spatial.Store {
	tb.Helper()
	return spatial.NewStore(dbtest.MustOpenPool(tb), spatial.NewRegistry())
}

// records returns the records of a test load: n buildings and n poles of
// source src, some attributes left out (the poles' status and functions then
// take their columns' defaults).
func records(src string, n int) []*Record {
	var out []*Record
	num := int64(0)
	add := func(layer, id string, g orb.Geometry, props map[string]any) {
		num++
		out = append(out, &Record{Layer: layer, Source: src, SourceID: id, File: "test", Num: num, Geom: g, Props: props})
	}
	for i := 0; i < n; i++ {
		x, y := 116.3+float64(i%50)*0.001, 39.9+float64(i/50)*0.001
		sq := orb.Polygon{{{x, y}, {x + 0.0003, y}, {x + 0.0003, y + 0.0002}, {x, y + 0.0002}, {x, y}}}
		// Every seventh footprint is clockwise and crosses itself: repaired.
		if i%7 == 0 {
			sq = orb.Polygon{{{x, y}, {x + 0.0003, y + 0.0002}, {x + 0.0003, y}, {x, y + 0.0002}, {x, y}}}
		}
		props := map[string]any{"name": fmt.Sprintf("B%d", i), "height_m": float64(i%40) + 0.5, "floors": float64(i % 30), "extra": map[string]any{"k": []any{1.0, "v"}}}
		if i%3 == 0 {
			props["year_built"] = "1999"
			props["use"] = "office"
		}
		add("buildings", fmt.Sprintf("b%d", i), sq, props)
		pp := map[string]any{"name": fmt.Sprintf("P%d", i)}
		if i%2 == 0 {
			pp["status"] = "fault"
			pp["functions"] = []any{"light", "camera"}
		}
		add("smart_poles", fmt.Sprintf("p%d", i), orb.Point{x, y}, pp)
	}
	return out
}

// withRepeats adds to records(src, n) every fifth building id given again
// with other values: each repeat must be rejected, the first record kept.
func withRepeats(src string, n int) []*Record {
	out := records(src, n)
	num := int64(len(out))
	for i := 0; i < n; i += 5 {
		x, y := 116.3+float64(i%50)*0.001, 39.9+float64(i/50)*0.001
		sq := orb.Polygon{{{x, y}, {x + 0.0001, y}, {x + 0.0001, y + 0.0001}, {x, y + 0.0001}, {x, y}}}
		num++
		out = append(out, &Record{Layer: "buildings", Source: src, SourceID: fmt.Sprintf("b%d", i), File: "test", Num: num, Geom: sq,
			Props: map[string]any{"name": fmt.Sprintf("B%d again", i), "floors": 2.0}})
	}
	return out
}

func load(tb testing.TB, s *spatial.Store, recs []*Record, opts Options) *Result {
	tb.Helper()
	var layers []*spatial.Layer
	for _, n := range []string{"buildings", "smart_poles"} {
		l, err := s.Registry.Layer(n)
		if err != nil {
			tb.Fatal(err)
		}
		layers = append(layers, l)
	}
	i := 0
	res, err := Load(context.Background(), s, layers, func() (*Record, error) {
		if i == len(recs) {
			return nil, nil
		}
		i++
		r := *recs[i-1]
		return &r, nil
	}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

func query(tb testing.TB, s *spatial.Store, q string, args ...any) int64 {
	tb.Helper()
	var n int64
	if err := s.Pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	return n
}

// A first load copied straight into the tables gives the same rows, cells
// and report as the staging path and its upsert.
func TestDirectMatchesStaging(t *testing.T) {
	s := MustOpenStore(t)
	const n = 3000 // more than one chunk of reserved ids
	var changes []spatial.Change
	s.OnChange(func(_ context.Context, c []spatial.Change) { changes = append(changes, c...) })
	direct := load(t, s, withRepeats("d", n), Options{SkipInvalid: true})
	staged := load(t, s, withRepeats("s", n), Options{SkipInvalid: true, DisableDirect: true})
	if direct.Inserted != 2*n || direct.Updated != 0 || direct.Layers["buildings"] != n || direct.Layers["smart_poles"] != n {
		t.Fatalf("direct load: %+v", direct)
	}
	if direct.Rejected != n/5 || !strings.Contains(direct.Rejections[0].Reason, `id "b0" repeats`) || direct.Rejections[0].Record != int64(2*n+1) {
		t.Fatalf("direct load: %d rejected, want the %d repeated ids: %+v", direct.Rejected, n/5, direct.Rejections[:min(3, len(direct.Rejections))])
	}
	if direct.Inserted != staged.Inserted || direct.Updated != staged.Updated || direct.Repaired != staged.Repaired || direct.Rejected != staged.Rejected || direct.Read != staged.Read {
		t.Fatalf("direct %+v, staged %+v", direct, staged)
	}
	if direct.Direct != n || staged.Direct != 0 {
		t.Fatalf("%d buildings copied directly, %d in the staged load; want %d, 0", direct.Direct, staged.Direct, n)
	}
	// The plain indexes dropped for the first load into the empty table are
	// back, valid.
	if v := query(t, s, `SELECT count(*) FROM pg_index WHERE indrelid = 'buildings'::regclass AND indisvalid`); v != 4 {
		t.Fatalf("buildings has %d valid indexes, want 4", v)
	}
	if v := query(t, s, `SELECT count(*) FROM pg_indexes WHERE tablename = 'buildings' AND indexdef LIKE '%USING gist (geom)%'`); v != 1 {
		t.Fatal("the GiST index of buildings is missing")
	}
	if direct.Repaired == 0 {
		t.Fatal("nothing was repaired")
	}
	for _, q := range []string{
		`SELECT count(*) FROM (SELECT source_id, props, h3, geom::text, geom3d::text, name, address, use, height_m, floors, year_built FROM buildings WHERE source = $1
			EXCEPT SELECT source_id, props, h3, geom::text, geom3d::text, name, address, use, height_m, floors, year_built FROM buildings WHERE source = $2) x`,
		`SELECT count(*) FROM (SELECT source_id, props, h3, geom::text, name, functions, height_m, road, status FROM smart_poles WHERE source = $1
			EXCEPT SELECT source_id, props, h3, geom::text, name, functions, height_m, road, status FROM smart_poles WHERE source = $2) x`,
		`SELECT count(*) FROM (SELECT b.source_id, c.cell FROM feature_cells c JOIN buildings b ON c.layer = 'buildings' AND b.id = c.feature_id WHERE b.source = $1
			EXCEPT SELECT b.source_id, c.cell FROM feature_cells c JOIN buildings b ON c.layer = 'buildings' AND b.id = c.feature_id WHERE b.source = $2) x`,
	} {
		if d := query(t, s, q, "d", "s"); d != 0 {
			t.Fatalf("%d rows of the direct load differ from the staged one: %s", d, q)
		}
		if d := query(t, s, q, "s", "d"); d != 0 {
			t.Fatalf("%d rows of the staged load differ from the direct one: %s", d, q)
		}
	}
	// The first of repeated ids stayed; the defaults filled what was left
	// out.
	if v := query(t, s, `SELECT count(*) FROM buildings WHERE source = 'd' AND name LIKE '% again'`); v != 0 {
		t.Fatalf("%d repeated buildings replaced the first record of their id", v)
	}
	if v := query(t, s, `SELECT count(*) FROM smart_poles WHERE source = 'd' AND status = 'ok' AND functions = '{light}'`); v != n/2 {
		t.Fatalf("%d poles with default status and functions, want %d", v, n/2)
	}
	if v := query(t, s, `SELECT count(*) FROM feature_cells WHERE layer = 'buildings'`); v < 2*n {
		t.Fatalf("only %d cover cells", v)
	}
	// The store heard of every feature written.
	ids := map[string]int{}
	for _, c := range changes {
		ids[c.Layer] += len(c.IDs)
		if c.All || c.Bound.IsEmpty() {
			t.Fatalf("change %+v", c)
		}
	}
	if ids["buildings"] != 2*n || ids["smart_poles"] != 2*n {
		t.Fatalf("changes told %v", ids)
	}
	// A second load of the source upserts: as no feature changed, every one
	// is unchanged and no tile needs dropping.
	changes = nil
	again := load(t, s, withRepeats("d", n), Options{SkipInvalid: true})
	if len(changes) != 0 {
		t.Fatalf("an unchanged re-import told changes %+v", changes)
	}
	if again.Inserted != 0 || again.Updated != 0 || again.Unchanged != 2*n || again.Direct != 0 {
		t.Fatalf("re-import: %+v", again)
	}
	if v := query(t, s, `SELECT count(*) FROM buildings WHERE source = 'd'`); v != n {
		t.Fatalf("%d buildings after the re-import", v)
	}
}

// A load whose records name several sources copies the first directly and
// upserts the others.
func TestDirectWithOtherSources(t *testing.T) {
	s := MustOpenStore(t)
	load(t, s, records("b", 100), Options{})
	recs := append(records("a", 200), records("b", 100)...)
	res := load(t, s, recs, Options{})
	if res.Inserted != 400 || res.Updated != 0 || res.Unchanged != 200 || res.Direct != 200 {
		t.Fatalf("%+v", res)
	}
	if v := query(t, s, `SELECT count(*) FROM buildings`); v != 300 {
		t.Fatalf("%d buildings", v)
	}
	if v := query(t, s, `SELECT count(DISTINCT feature_id) FROM feature_cells WHERE layer = 'buildings'`); v != 300 {
		t.Fatalf("%d buildings with cells", v)
	}
}

// A record the table refuses fails the whole direct load: nothing stays.
func TestDirectAllOrNothing(t *testing.T) {
	s := MustOpenStore(t)
	recs := records("x", 50)
	recs[len(recs)-2].Props = map[string]any{"floors": 5000.0} // the last building; CHECK (floors < 300)
	l, _ := s.Registry.Layer("buildings")
	i := 0
	_, err := Load(context.Background(), s, []*spatial.Layer{l}, func() (*Record, error) {
		for i < len(recs) {
			i++
			if recs[i-1].Layer == "buildings" {
				return recs[i-1], nil
			}
		}
		return nil, nil
	}, Options{})
	if err == nil {
		t.Fatal("loaded a building with 5000 floors")
	}
	if v := query(t, s, `SELECT count(*) FROM buildings`) + query(t, s, `SELECT count(*) FROM feature_cells`); v != 0 {
		t.Fatalf("%d rows stayed", v)
	}
	if v := query(t, s, `SELECT count(*) FROM pg_index WHERE indrelid = 'buildings'::regclass AND indisvalid`); v != 4 {
		t.Fatalf("buildings has %d valid indexes after the failed load, want 4", v)
	}
}

// A re-import leaves unchanged features as they are, and gives a moved one
// the cells it now covers, as a first load of the new file would.
func TestReimportMovesCells(t *testing.T) {
	s := MustOpenStore(t)
	const n = 200
	load(t, s, records("m", n), Options{})
	var before string
	if err := s.Pool.QueryRow(context.Background(), `SELECT updated_at::text FROM buildings WHERE source = 'm' AND source_id = 'b150'`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	moved := func(src string) []*Record {
		recs := records(src, n)
		for _, r := range recs {
			if p, ok := r.Geom.(orb.Polygon); ok && r.SourceID < "b2" { // b0, b1, b10..b19, b100..b199
				q := orb.Polygon{append(orb.Ring(nil), p[0]...)}
				for i := range q[0] {
					q[0][i][0] += 0.01
				}
				r.Geom = q
			}
		}
		return recs
	}
	again := load(t, s, moved("m"), Options{})
	// b0, b1, b10-b19 and b100-b199 moved; the rest are as they were.
	if again.Inserted != 0 || again.Updated != 112 || again.Unchanged != 2*n-112 {
		t.Fatalf("re-import: %+v", again)
	}
	fresh := load(t, s, moved("f"), Options{})
	if fresh.Direct == 0 {
		t.Fatal("the fresh load was not direct")
	}
	q := `SELECT count(*) FROM (SELECT b.source_id, c.cell FROM feature_cells c JOIN buildings b ON c.layer = 'buildings' AND b.id = c.feature_id WHERE b.source = $1
		EXCEPT SELECT b.source_id, c.cell FROM feature_cells c JOIN buildings b ON c.layer = 'buildings' AND b.id = c.feature_id WHERE b.source = $2) x`
	if d := query(t, s, q, "m", "f") + query(t, s, q, "f", "m"); d != 0 {
		t.Fatalf("%d cells differ between the re-import and a fresh load", d)
	}
	var after string
	if err := s.Pool.QueryRow(context.Background(), `SELECT updated_at::text FROM buildings WHERE source = 'm' AND source_id = 'b150'`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if v := query(t, s, `SELECT count(*) FROM buildings WHERE source = 'm' AND updated_at > created_at`); v == 0 || after == before {
		t.Fatalf("%d buildings rewritten; b150 (moved) updated_at %s -> %s", v, before, after)
	}
	if v := query(t, s, `SELECT count(*) FROM buildings WHERE source = 'm' AND source_id = 'b3' AND updated_at = created_at`); v != 1 {
		t.Fatal("b3, unchanged, was rewritten")
	}
}
