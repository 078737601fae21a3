package importers_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/citytwin/citytwin/importers"
	"github.com/citytwin/citytwin/spatial/network"
)

// An EPANET model whose pipes give their status in place of the minor loss
// (EPANET reads a 7th field as OPEN, CLOSED or CV when it is not a number).
// Without its last [COORDINATES] line, J4 (line 9) has no coordinates.
const epanetVariant = `[TITLE]
Variant net; with comment

[junctions]
;ID	Elev	Demand	Pattern
 J1	100	10	;comment
 J2	95	5
 J3	90	0
 J4	92	1

[Reservoirs]
 R1	150

[TANKS]
 T1 120 10 0 20 15 0

[PIPES]
;ID Node1 Node2 Length Diameter Roughness MinorLoss Status
 P1 R1 J1 1000 300 100 0 Open
 P2 J1 J2 500 200 100 0 Open
 P3 J2 J3 400 150 100 Closed
 P4 J3 T1 300 150 100 0 CV
 P5 J2 J4 200 100 100 0 Open
 P6 J3 J4 200 100 100 CV

[PUMPS]
 PU1 J1 J4 HEAD C1

[VALVES]
 V1 J3 J4 150 PRV 40 0

[STATUS]
 P5 Closed

[CURVES]
 C1 0 50
 C1 100 40

[OPTIONS]
 Units LPS

[COORDINATES]
 R1 0 0
 J1 100 0
 J2 200 0
 J3 200 100
 T1 300 100
 J4 250 50
`

func TestEPANETPipeStatusField(t *testing.T) {
	s := MustOpenStore(t)
	f := writeFile(t, "variant.inp", epanetVariant)
	if _, err := importers.Run(context.Background(), s, nil, importers.Options{Files: []string{f}, CRS: "local:116.40,39.90,1"}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"P1": "open|pipe|", "P3": "closed|pipe|", "P4": "open|pipe|true", "P5": "closed|pipe|", "P6": "open|pipe|true", "PU1": "open|pump|", "V1": "open|valve|"} {
		var got string
		if err := s.Pool.QueryRow(context.Background(), `SELECT status || '|' || kind || '|' || coalesce(props->>'check_valve', '') FROM pipes WHERE source = 'variant' AND source_id = $1`, id).Scan(&got); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if got != want {
			t.Errorf("%s: status|kind|check_valve %s, want %s", id, got, want)
		}
	}
}

func TestEPANETMissingCoordinates(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	f := writeFile(t, "variant.inp", strings.Replace(epanetVariant, " J4 250 50\n", "", 1))
	_, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{f}, CRS: "local:116.40,39.90,1"})
	if err == nil || !strings.Contains(err.Error(), "record 9: geometry: junction J4 ([JUNCTIONS] line 9) has no coordinates") {
		t.Fatalf("without J4's coordinates: %v", err)
	}
	rep, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{f}, CRS: "local:116.40,39.90,1", SkipInvalid: true})
	if err != nil {
		t.Fatal(err)
	}
	// J4, and the links that end at it, by the lines that define them.
	want := map[int64]string{
		9:  "junction J4 ([JUNCTIONS] line 9) has no coordinates",
		23: "pipe P5 ([PIPES] line 23): its to node J4 (junction [JUNCTIONS] line 9) has no coordinates",
		24: "pipe P6 ([PIPES] line 24): its to node J4 (junction [JUNCTIONS] line 9)",
		27: "pump PU1 ([PUMPS] line 27): its to node J4 (junction [JUNCTIONS] line 9)",
		30: "valve V1 ([VALVES] line 30): its to node J4 (junction [JUNCTIONS] line 9)",
	}
	if rep.Rejected != int64(len(want)) {
		t.Errorf("%d rejected, want %d: %+v", rep.Rejected, len(want), rep.Rejections)
	}
	for _, r := range rep.Rejections {
		if w, ok := want[r.Record]; !ok || !strings.Contains(r.Reason, w) {
			t.Errorf("rejection %+v, want %q", r, w)
		}
	}
	if n := count(t, s, `SELECT count(*) FROM pipes WHERE source = 'variant'`); n != 4 {
		t.Errorf("%d links, want P1 to P4", n)
	}
}

// A SWMM model with offsets at the node's invert ("*") and an orifice, a
// weir, an outlet and a pump between storage and the outfall.
const swmmVariant = `[OPTIONS]
FLOW_UNITS           LPS
LINK_OFFSETS         ELEVATION

[JUNCTIONS]
;;Name  Elev  MaxDepth  InitDepth  SurDepth  Aponded
J1      10.0  3.0       0          0         0
J2      9.5   3.0       0          0         0
J3      9.0   3.0       0          0         0
J5      6.0   3.0       0          0         0

[OUTFALLS]
O1      7.0   FREE        NO

[STORAGE]
S1      8.0   4.0   0      FUNCTIONAL 1000 0 0 0 0

[CONDUITS]
C1      J1    J2  100     0.013  *      9.6     0         0
C2      J2    J3  100     0.013  9.5    *       0         0

[ORIFICES]
OR1     J3    S1  SIDE  9.0     0.65    NO     0

[WEIRS]
W1      S1    O1  TRANSVERSE  9.0  3.33  NO  0  0

[OUTLETS]
OL1     S1    J5  8.5   FUNCTIONAL/DEPTH  10  0.5  NO

[PUMPS]
PU1     S1    O1  P1     ON      0        0

[XSECTIONS]
C1      CIRCULAR  0.6    0      0      0      1
C2      CIRCULAR  0.6    0      0      0      1
OR1     RECT_CLOSED 0.5  0.5    0      0
W1      RECT_OPEN 1.0    2.0    0      0

[COORDINATES]
J1      0    0
J2      100  0
J3      200  0
S1      250  50
O1      300  50
J5      250  100

[VERTICES]
C2      150  10
W1      275  60
`

func TestSWMMRegulatorsAndStarOffsets(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	f := writeFile(t, "swmm_variant.inp", swmmVariant)
	rep, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{f}, CRS: "local:116.40,39.90,1"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Layers["pipes"] != 6 || rep.Layers["network_nodes"] != 6 {
		t.Errorf("report %+v", rep)
	}
	for q, want := range map[string]int64{
		// "*" is the node's invert.
		`SELECT count(*) FROM pipes WHERE source_id = 'C1' AND from_invert_m = 10 AND to_invert_m = 9.6`:                     1,
		`SELECT count(*) FROM pipes WHERE source_id = 'C2' AND from_invert_m = 9.5 AND to_invert_m = 9`:                      1,
		`SELECT count(*) FROM pipes WHERE kind = props->>'link_type' AND kind IN ('orifice', 'weir', 'outlet')`:              3,
		`SELECT count(*) FROM pipes WHERE source_id = 'OR1' AND from_invert_m = 9 AND to_invert_m = 9 AND diameter_mm = 500`: 1,
		`SELECT count(*) FROM pipes WHERE source_id = 'W1' AND ST_NPoints(geom) = 3`:                                         1,
		`SELECT count(*) FROM pipes WHERE source_id = 'PU1' AND kind = 'pump' AND status = 'open'`:                           1,
		`SELECT count(*) FROM pipes WHERE from_node_id IS NULL OR to_node_id IS NULL`:                                        0,
	} {
		if n := count(t, s, q); n != want {
			t.Errorf("%s = %d, want %d", q, n, want)
		}
	}
	// Downstream of J1, through the conduits, the orifice, the storage
	// unit, the weir and pump to the outfall, and through the outlet to J5.
	g, err := network.Load(ctx, s.Pool, "drainage")
	if err != nil {
		t.Fatal(err)
	}
	var j1 int64
	if err := s.Pool.QueryRow(ctx, `SELECT id FROM network_nodes WHERE source_id = 'J1'`).Scan(&j1); err != nil {
		t.Fatal(err)
	}
	tr, err := g.Trace(j1, 0, network.Downstream)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.Pool.Query(ctx, `SELECT source_id FROM network_nodes WHERE id = ANY($1) ORDER BY source_id`, tr.Nodes)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	rows.Close()
	if want := []string{"J1", "J2", "J3", "J5", "O1", "S1"}; !slices.Equal(got, want) || len(tr.Pipes) != 6 {
		t.Errorf("downstream of J1: nodes %v, %d pipes; want %v, 6 pipes", got, len(tr.Pipes), want)
	}
}
