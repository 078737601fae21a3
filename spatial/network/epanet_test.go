package network_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/citytwin/citytwin/importers"
	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/dbtest"
)

func sharedData(t *testing.T, rel string) string {
	t.Helper()
	root, err := dbtest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "..", "shared", "data", rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test data %s missing: %v", rel, err)
	}
	return p
}

// TestEPANETNetworks traces the EPANET example networks, imported with
// the project's importer, with Net1's valves placed from WNTR's valve layer
// (each valve on its nearest pipe next to that pipe's nearer end).
func TestEPANETNetworks(t *testing.T) {
	a := apptest.MustRun(t)
	ctx := context.Background()
	const crs = "local:7.42,43.73,10"
	for _, f := range []string{"epanet/Net1.inp", "epanet/Net3.inp"} {
		if _, err := importers.Run(ctx, a.Store, nil, importers.Options{Files: []string{sharedData(t, f)}, CRS: crs}); err != nil {
			t.Fatalf("import %s: %v", f, err)
		}
	}
	if _, err := importers.Run(ctx, a.Store, nil, importers.Options{Files: []string{sharedData(t, "epanet/Net1_valve_data.geojson")},
		Layer: "net1_valves", CRS: crs}); err != nil {
		t.Fatalf("import valves: %v", err)
	}
	tag, err := a.Pool.Exec(ctx, `INSERT INTO network_nodes (source, source_id, network, kind, status, valve_state, on_pipe, near_node, geom)
SELECT 'Net1', 'V' || v.id, 'water', 'valve', 'ok', 'open', p.source_id, n.source_id, v.geom FROM user_features v
CROSS JOIN LATERAL (SELECT * FROM pipes p WHERE p.source = 'Net1' ORDER BY ST_Distance(p.geom::geography, v.geom::geography) LIMIT 1) p
CROSS JOIN LATERAL (SELECT * FROM network_nodes n WHERE n.id IN (p.from_node_id, p.to_node_id) ORDER BY ST_Distance(n.geom::geography, v.geom::geography) LIMIT 1) n
WHERE v.layer = 'net1_valves'`)
	if err != nil || tag.RowsAffected() != 3 {
		t.Fatalf("valves: %v %v", tag, err)
	}
	// The placements worked out by hand from the coordinates.
	rows, err := a.Pool.Query(ctx, `SELECT on_pipe || '@' || near_node FROM network_nodes WHERE source = 'Net1' AND kind = 'valve' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var placed []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		placed = append(placed, s)
	}
	rows.Close()
	if fmt.Sprint(placed) != "[110@2 111@11 22@22]" {
		t.Fatalf("valve placements %v", placed)
	}
	key := apptest.Key(t, a, auth.Viewer)
	pipeID := func(source, sid string) int64 {
		var id int64
		if err := a.Pool.QueryRow(ctx, `SELECT id FROM pipes WHERE source = $1 AND source_id = $2`, source, sid).Scan(&id); err != nil {
			t.Fatalf("pipe %s/%s: %v", source, sid, err)
		}
		return id
	}
	names := func(table string, ids []int64) []string {
		var out []string
		for _, id := range ids {
			var s string
			a.Pool.QueryRow(ctx, `SELECT source_id FROM `+table+` WHERE id = $1`, id).Scan(&s)
			out = append(out, s)
		}
		sort.Strings(out)
		return out
	}
	get := func(q string, v any) {
		resp, body := apptest.Do(t, "GET", a.URL()+"/api/v1/networks/water/"+q, key, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", q, resp.StatusCode, body)
		}
		json.Unmarshal(body, v)
	}

	// Net1: downstream of the reservoir (by EPANET link direction) is every
	// link but 110 (tank 2 -> 12) and every node but the tank.
	var tr struct{ Pipes, Nodes []int64 }
	var res9 int64
	a.Pool.QueryRow(ctx, `SELECT id FROM network_nodes WHERE source = 'Net1' AND source_id = '9'`).Scan(&res9)
	get(fmt.Sprintf("trace?node=%d&direction=downstream", res9), &tr)
	if len(tr.Pipes) != 12 || len(tr.Nodes) != 10 || contains(names("pipes", tr.Pipes), "110") {
		t.Fatalf("Net1 downstream of 9: %v %v", names("pipes", tr.Pipes), names("network_nodes", tr.Nodes))
	}
	// Net1 isolation worked out by hand: with only three valves, a break of
	// 110 or 22 connects to the reservoir through the pump, so it cannot be
	// isolated; the valve next to the tank must close; only the broken pipe
	// loses supply (the loops feed the rest).
	for _, brk := range []string{"110", "22"} {
		var iso struct {
			Isolable bool
			Valves   []struct {
				SourceID string `json:"source_id"`
			}
			LostPipes []int64 `json:"lost_pipes"`
			LostNodes []int64 `json:"lost_nodes"`
			Sources   []int64 `json:"sources_in_segment"`
		}
		get(fmt.Sprintf("isolation?pipe=%d", pipeID("Net1", brk)), &iso)
		var tankValve string
		a.Pool.QueryRow(ctx, `SELECT source_id FROM network_nodes WHERE source = 'Net1' AND on_pipe = '110'`).Scan(&tankValve)
		if iso.Isolable || len(iso.Valves) != 1 || iso.Valves[0].SourceID != tankValve || fmt.Sprint(names("pipes", iso.LostPipes)) != "["+brk+"]" ||
			len(iso.LostNodes) != 0 || fmt.Sprint(names("network_nodes", iso.Sources)) != "[9]" {
			t.Fatalf("Net1 break %s: %+v", brk, iso)
		}
	}

	// Net3: the connected trace from pipe 101 matches a recursive SQL walk
	// over the same pipes (closed ones excluded), computed independently.
	var want int
	if err := a.Pool.QueryRow(ctx, `WITH RECURSIVE open AS (SELECT * FROM pipes WHERE source = 'Net3' AND status NOT IN ('closed','abandoned','planned')),
walk(node) AS (SELECT from_node_id FROM open WHERE source_id = '101' UNION SELECT to_node_id FROM open WHERE source_id = '101'
  UNION SELECT CASE WHEN o.from_node_id = w.node THEN o.to_node_id ELSE o.from_node_id END FROM open o JOIN walk w ON w.node IN (o.from_node_id, o.to_node_id))
SELECT count(*) FROM open WHERE from_node_id IN (SELECT node FROM walk) OR to_node_id IN (SELECT node FROM walk)`).Scan(&want); err != nil {
		t.Fatal(err)
	}
	get(fmt.Sprintf("trace?pipe=%d", pipeID("Net3", "101")), &tr)
	if len(tr.Pipes) != want || want < 100 {
		t.Fatalf("Net3 connected from 101: %d pipes, want %d", len(tr.Pipes), want)
	}
	var total int
	a.Pool.QueryRow(ctx, `SELECT count(*) FROM pipes WHERE source = 'Net3'`).Scan(&total)
	if total != 119 {
		t.Fatalf("Net3 has %d links, want 117 pipes + 2 pumps", total)
	}
	t.Logf("Net3: connected trace from pipe 101 covers %d of %d links", len(tr.Pipes), total)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
