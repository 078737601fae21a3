package swmm

import (
	"strings"
	"testing"

	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/spatial/load"
)

func records(t *testing.T, model string) (map[string]*load.Record, map[string]error) {
	t.Helper()
	s, err := NewScanner(strings.NewReader(model), "m.inp")
	if err != nil {
		t.Fatal(err)
	}
	recs, bad := map[string]*load.Record{}, map[string]error{}
	for s.Scan() {
		r := s.Record()
		recs[r.SourceID] = r
		if r.Decode != nil {
			bad[r.SourceID] = r.Decode(r)
		}
	}
	return recs, bad
}

const model = `[JUNCTIONS]
J1 10.0 3
J2 9.5  3
J3 9.0  3
[OUTFALLS]
O1 7.0 FREE
[STORAGE]
S1 8.0 4 0 FUNCTIONAL 1000 0 0
[CONDUITS]
C1 J1 J2 100 0.013 *   0.1
C2 J2 J3 100 0.013 0.2 *
[ORIFICES]
OR1 J3 S1 SIDE 0.5 0.65 NO 0
[WEIRS]
W1 S1 O1 TRANSVERSE * 3.33 NO 0 0
[OUTLETS]
OL1 S1 O1 1.5 FUNCTIONAL/DEPTH 10 0.5 NO
[PUMPS]
PU1 S1 J1 P1 OFF 0 0
[XSECTIONS]
C1 CIRCULAR 0.6 0 0 0 1
OR1 RECT_CLOSED 0.5 0.4 0 0
W1 RECT_OPEN 1.0 2.0 0 0
[COORDINATES]
J1 0 0
J2 100 0
J3 200 0
S1 250 50
O1 300 50
[VERTICES]
W1 275 60
`

func TestStarOffsets(t *testing.T) {
	for _, tc := range []struct {
		options                    string
		c1from, c1to, c2from, c2to float64
	}{
		// DEPTH: node invert + offset; * is offset 0.
		{"", 10, 9.6, 9.7, 9},
		// ELEVATION: the offset is the elevation; * is the node invert.
		{"[OPTIONS]\nLINK_OFFSETS ELEVATION\n", 10, 0.1, 0.2, 9},
	} {
		recs, bad := records(t, "[OPTIONS]\nFLOW_UNITS CMS\n"+tc.options+model)
		if len(bad) != 0 {
			t.Fatal(bad)
		}
		c1, c2 := recs["C1"].Props, recs["C2"].Props
		if !near(c1["from_invert_m"], tc.c1from) || !near(c1["to_invert_m"], tc.c1to) || !near(c2["from_invert_m"], tc.c2from) || !near(c2["to_invert_m"], tc.c2to) {
			t.Errorf("%q: C1 %v..%v, C2 %v..%v", tc.options, c1["from_invert_m"], c1["to_invert_m"], c2["from_invert_m"], c2["to_invert_m"])
		}
	}
	_, err := NewScanner(strings.NewReader(strings.Replace(model, "*   0.1", "x 0.1", 1)), "m.inp")
	if err == nil || !strings.Contains(err.Error(), `[CONDUITS] line 10: field 6: "x" is neither a number nor *`) {
		t.Errorf("bad offset: %v", err)
	}
}

func near(v any, want float64) bool {
	f, ok := v.(float64)
	return ok && f > want-1e-9 && f < want+1e-9
}

func TestRegulatorsAndPumps(t *testing.T) {
	recs, bad := records(t, "[OPTIONS]\nFLOW_UNITS LPS\n"+model)
	if len(bad) != 0 {
		t.Fatal(bad)
	}
	for id, want := range map[string]struct {
		kind, typ, from, to string
		invert              float64
	}{
		"OR1": {"orifice", "orifice", "J3", "S1", 9.5},
		"W1":  {"weir", "weir", "S1", "O1", 8},
		"OL1": {"outlet", "outlet", "S1", "O1", 9.5},
		"PU1": {"pump", "pump", "S1", "J1", 0},
	} {
		r := recs[id]
		if r == nil {
			t.Errorf("%s is missing", id)
			continue
		}
		p := r.Props
		if r.Layer != "pipes" || p["kind"] != want.kind || p["link_type"] != want.typ || p["from_node"] != want.from || p["to_node"] != want.to || p["network"] != "drainage" {
			t.Errorf("%s: %s %v", id, r.Layer, p)
		}
		if want.typ == "pump" {
			if p["from_invert_m"] != nil || p["status"] != "closed" || p["pump_curve"] != "P1" {
				t.Errorf("%s: %v", id, p)
			}
		} else if !near(p["from_invert_m"], want.invert) || !near(p["to_invert_m"], want.invert) {
			t.Errorf("%s inverts %v, %v, want %v", id, p["from_invert_m"], p["to_invert_m"], want.invert)
		}
	}
	if p := recs["OR1"].Props; p["orifice_type"] != "SIDE" || p["shape"] != "RECT_CLOSED" || !near(p["diameter_mm"], 500) {
		t.Errorf("OR1: %v", p)
	}
	if p := recs["OL1"].Props; p["outlet_type"] != "FUNCTIONAL/DEPTH" {
		t.Errorf("OL1: %v", p)
	}
	if g, ok := recs["W1"].Geom.(orb.LineString); !ok || !g.Equal(orb.LineString{{250, 50}, {275, 60}, {300, 50}}) {
		t.Errorf("W1: %v", recs["W1"].Geom)
	}
	if _, err := NewScanner(strings.NewReader(strings.Replace(model, "P1 OFF", "P1 HALF", 1)), "m.inp"); err == nil || !strings.Contains(err.Error(), "[PUMPS] line 19") {
		t.Errorf("bad pump status: %v", err)
	}
}

func TestMissingCoordinates(t *testing.T) {
	recs, bad := records(t, strings.Replace(model, "S1 250 50\n", "", 1))
	if r := recs["S1"]; r.Num != 8 || bad["S1"] == nil || !strings.Contains(bad["S1"].Error(), "storage S1 ([STORAGE] line 8) has no coordinates") {
		t.Errorf("S1: record %d, %v", r.Num, bad["S1"])
	}
	if err := bad["OR1"]; recs["OR1"].Num != 13 || err == nil || !strings.Contains(err.Error(), "orifice OR1 ([ORIFICES] line 13): its to node S1 (storage [STORAGE] line 8) has no coordinates") {
		t.Errorf("OR1: %v", err)
	}
	if err := bad["W1"]; err == nil || !strings.Contains(err.Error(), "weir W1 ([WEIRS] line 15): its from node S1 (storage [STORAGE] line 8)") {
		t.Errorf("W1: %v", err)
	}
	if bad["C1"] != nil || recs["C1"].Geom == nil {
		t.Errorf("C1: %v", bad["C1"])
	}
}
