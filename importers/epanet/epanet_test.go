package epanet

import (
	"strings"
	"testing"

	"github.com/citytwin/citytwin/spatial/load"
)

// records reads a model and returns its records by source id, with each
// Decode's error (nil when it has none).
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

const nodes = `[JUNCTIONS]
 J1 100
 J2 95
[RESERVOIRS]
 R1 150
[COORDINATES]
 J1 0 0
 J2 10 0
 R1 0 10
`

func TestPipeStatusField(t *testing.T) {
	recs, bad := records(t, nodes+`[PIPES]
;ID Node1 Node2 Length Diameter Roughness MinorLoss Status
 P1 R1 J1 1000 300 100 Closed
 P2 J1 J2 500 200 100 CV
 P3 J1 J2 500 200 100 open
 P4 J1 J2 500 200 100 0.5
 P5 J1 J2 500 200 100 0 Closed
 P6 J1 J2 500 200 100 0 CV
 P7 J1 J2 500 200 100
 P8 J1 J2 500 200 100 closed
[STATUS]
 P8 Open
`)
	if len(bad) != 0 {
		t.Fatal(bad)
	}
	for id, want := range map[string]struct {
		status string
		cv     bool
		loss   any
	}{
		"P1": {"closed", false, nil},
		"P2": {"open", true, nil},
		"P3": {"open", false, nil},
		"P4": {"open", false, 0.5},
		"P5": {"closed", false, 0.0},
		"P6": {"open", true, 0.0},
		"P7": {"open", false, nil},
		"P8": {"open", false, nil}, // [STATUS] has the last word
	} {
		p := recs[id].Props
		if p["status"] != want.status || (p["check_valve"] == true) != want.cv || p["minor_loss"] != want.loss || p["kind"] != "pipe" {
			t.Errorf("%s: %v, want status %s, check valve %v, minor loss %v", id, p, want.status, want.cv, want.loss)
		}
	}
	for _, line := range []string{" P1 R1 J1 1000 300 100 Shut", " P1 R1 J1 1000 300 100 0 Shut", " P1 R1 J1 1000 300 100 Closed CV"} {
		_, err := NewScanner(strings.NewReader(nodes+"[PIPES]\n"+line+"\n"), "m.inp")
		if err == nil || !strings.Contains(err.Error(), "[PIPES] line 11: field") {
			t.Errorf("%q: %v", line, err)
		}
	}
}

func TestMissingCoordinates(t *testing.T) {
	recs, bad := records(t, nodes+`[TANKS]
 T1 120 10 0 20 15 0
[PIPES]
 P1 R1 J1 1000 300 100
 P2 J1 T1 1000 300 100
 P3 T1 T1 1000 300 100
 P4 J1 X9 1000 300 100
`)
	// T1 is on line 11, P1 to P4 on lines 13 to 16.
	if r := recs["T1"]; r.Num != 11 || r.Geom != nil || bad["T1"] == nil || !strings.Contains(bad["T1"].Error(), "tank T1 ([TANKS] line 11) has no coordinates") {
		t.Errorf("T1: record %d, %v", r.Num, bad["T1"])
	}
	if r := recs["P1"]; r.Num != 13 || r.Geom == nil || bad["P1"] != nil {
		t.Errorf("P1: record %d, %v", r.Num, bad["P1"])
	}
	if r := recs["P2"]; r.Num != 14 || bad["P2"] == nil || !strings.Contains(bad["P2"].Error(), "pipe P2 ([PIPES] line 14): its to node T1 (tank [TANKS] line 11) has no coordinates") {
		t.Errorf("P2: record %d, %v", r.Num, bad["P2"])
	}
	if err := bad["P3"]; err == nil || !strings.Contains(err.Error(), "node T1 (tank [TANKS] line 11) has no coordinates") {
		t.Errorf("P3: %v", err)
	}
	if err := bad["P4"]; err == nil || !strings.Contains(err.Error(), `pipe P4 ([PIPES] line 16) joins unknown node "X9"`) {
		t.Errorf("P4: %v", err)
	}
}
