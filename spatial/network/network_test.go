package network_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/citytwin/citytwin/internal/app"
	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/spatial"
	"github.com/citytwin/citytwin/spatial/network"
)

// The hand-checked water network (grid unit 0.001°, origin 116.3, 37.45):
//
//	                    C1 (connection, building B1 next to it)
//	                    |p10 (service)
//	                    J7
//	                    |p6   [V3 on p6 near J3]
//	R --p1-- J1 --p2-- J2 --p3-- J3 --p4-- J4
//	          |        [V1 near J2, V4 near J3 (broken)]  [V2 on p4 near J4]
//	          |p5 [V5 near J1]                      |p9a
//	          J5 --p7a-- J8 ==lv1== J6 --p9b-- VV (node valve)
//	                            |p8
//	                            T (tank)
//
// B2 lies 23 m from p4 with no connection nearby; B3 lies next to p2.
type net struct {
	a     *app.App
	nodes map[string]int64
	pipes map[string]int64
	bldg  map[string]int64
}

func (n *net) node(t *testing.T, name, kind string, x, y float64, extra string) {
	t.Helper()
	var id int64
	cols, vals := "", ""
	if extra != "" {
		kv := strings.SplitN(extra, "=", 2)
		cols, vals = ", "+kv[0], ", '"+kv[1]+"'"
	}
	if strings.Contains(extra, ";") {
		parts := strings.Split(extra, ";")
		cols, vals = "", ""
		for _, p := range parts {
			kv := strings.SplitN(p, "=", 2)
			cols += ", " + kv[0]
			vals += ", '" + kv[1] + "'"
		}
	}
	err := n.a.Pool.QueryRow(context.Background(), fmt.Sprintf(`INSERT INTO network_nodes (source, source_id, network, kind, name, geom%s)
		VALUES ('test', $1, 'water', $2, $1, ST_SetSRID(ST_MakePoint($3, $4), 4326)%s) RETURNING id`, cols, vals),
		name, kind, 116.3+x*0.001, 37.45+y*0.001).Scan(&id)
	if err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	n.nodes[name] = id
}

func (n *net) pipe(t *testing.T, name, kind, from, to string) {
	t.Helper()
	var id int64
	err := n.a.Pool.QueryRow(context.Background(), `INSERT INTO pipes (source, source_id, network, kind, from_node, to_node, from_node_id, to_node_id, geom)
		SELECT 'test', $1, 'water', $2, a.source_id, b.source_id, a.id, b.id, ST_MakeLine(a.geom, b.geom)
		FROM network_nodes a, network_nodes b WHERE a.id = $3 AND b.id = $4 RETURNING id`,
		name, kind, n.nodes[from], n.nodes[to]).Scan(&id)
	if err != nil {
		t.Fatalf("pipe %s: %v", name, err)
	}
	n.pipes[name] = id
}

func (n *net) building(t *testing.T, name string, x, y float64) {
	t.Helper()
	var id int64
	cx, cy, h := 116.3+x*0.001, 37.45+y*0.001, 0.0001
	err := n.a.Pool.QueryRow(context.Background(), `INSERT INTO buildings (source, source_id, name, geom)
		VALUES ('test', $1, $1, ST_Multi(ST_MakeEnvelope($2, $3, $4, $5, 4326))) RETURNING id`, name, cx-h, cy-h, cx+h, cy+h).Scan(&id)
	if err != nil {
		t.Fatalf("building %s: %v", name, err)
	}
	n.bldg[name] = id
}

func build(t *testing.T) *net {
	n := &net{a: apptest.MustRun(t), nodes: map[string]int64{}, pipes: map[string]int64{}, bldg: map[string]int64{}}
	for _, nd := range []struct {
		name, kind string
		x, y       float64
		extra      string
	}{
		{"R", "reservoir", 0, 0, ""}, {"J1", "junction", 1, 0, ""}, {"J2", "junction", 2, 0, ""}, {"J3", "junction", 3, 0, ""},
		{"J4", "junction", 4, 0, ""}, {"J5", "junction", 1, -1, ""}, {"J8", "junction", 2, -1, ""}, {"J6", "junction", 4, -1, ""},
		{"T", "tank", 5, -1, ""}, {"J7", "junction", 3, 1, ""}, {"C1", "connection", 3, 1.3, ""},
		{"VV", "valve", 4, -0.5, "valve_state=open"},
	} {
		n.node(t, nd.name, nd.kind, nd.x, nd.y, nd.extra)
	}
	for _, p := range [][4]string{
		{"p1", "main", "R", "J1"}, {"p2", "main", "J1", "J2"}, {"p3", "main", "J2", "J3"}, {"p4", "main", "J3", "J4"},
		{"p5", "main", "J1", "J5"}, {"p7a", "main", "J5", "J8"}, {"lv1", "valve", "J8", "J6"}, {"p8", "main", "J6", "T"},
		{"p9a", "main", "J4", "VV"}, {"p9b", "main", "VV", "J6"}, {"p6", "distribution", "J3", "J7"}, {"p10", "service", "J7", "C1"},
	} {
		n.pipe(t, p[0], p[1], p[2], p[3])
	}
	for _, v := range []struct {
		name           string
		x, y           float64
		pipe, near, st string
	}{
		{"V1", 2.2, 0, "p3", "J2", "ok"}, {"V4", 2.8, 0, "p3", "J3", "broken"}, {"V2", 3.8, 0, "p4", "J4", "ok"},
		{"V3", 3, 0.2, "p6", "J3", "ok"}, {"V5", 1, -0.2, "p5", "J1", "ok"},
	} {
		n.node(t, v.name, "valve", v.x, v.y, fmt.Sprintf("on_pipe=%s;near_node=%s;status=%s;valve_state=open", v.pipe, v.near, v.st))
	}
	n.building(t, "B1", 3, 1.5)
	n.building(t, "B2", 3.5, 0.3)
	n.building(t, "B3", 1.5, 0.3)
	return n
}

type isoResult struct {
	Isolable bool
	Valves   []struct {
		Type string
		ID   int64
		Pipe int64
	}
	Unneeded   []struct{ ID int64 } `json:"unneeded_valves"`
	Inoperable []struct{ ID int64 } `json:"inoperable_valves"`
	Sources    []int64              `json:"sources_in_segment"`
	SegPipes   []int64              `json:"segment_pipes"`
	LostPipes  []int64              `json:"lost_pipes"`
	LostNodes  []int64              `json:"lost_nodes"`
	Buildings  struct {
		Count int
		Items []struct {
			ID  int64
			Via string
		}
	}
}

func (n *net) names(ids []int64) string { return n.namesOf(ids, n.nodes) }

func (n *net) pnames(ids []int64) string { return n.namesOf(ids, n.pipes) }

func (n *net) namesOf(ids []int64, m map[string]int64) string {
	var out []string
	for _, id := range ids {
		for k, v := range m {
			if v == id {
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func (n *net) isolate(t *testing.T, pipe string) isoResult {
	t.Helper()
	resp, body := apptest.Do(t, "GET", fmt.Sprintf("%s/api/v1/networks/water/isolation?pipe=%d", n.a.URL(), n.pipes[pipe]), apptest.Key(t, n.a, auth.Viewer), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("isolation %s: %d %s", pipe, resp.StatusCode, body)
	}
	var r isoResult
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestIsolationHandChecked(t *testing.T) {
	n := build(t)
	valveNames := func(r isoResult) string {
		var out []string
		for _, v := range r.Valves {
			if v.Type == "link" {
				out = append(out, n.pnames([]int64{v.ID}))
			} else {
				out = append(out, n.names([]int64{v.ID}))
			}
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	ids := func(vs []struct{ ID int64 }) []int64 {
		var out []int64
		for _, v := range vs {
			out = append(out, v.ID)
		}
		return out
	}
	cases := []struct {
		name, pipe                               string
		isolable                                 bool
		valves, unneeded, inoperable, lost, segP string
		buildings                                map[string]string
	}{
		{
			name: "break between two valves, dead-end branch behind an unneeded valve", pipe: "p3", isolable: true,
			valves: "V1,V2", unneeded: "V3", inoperable: "V4", segP: "p3,p4",
			lost:      "C1,J3,J7,p10,p3,p4,p6",
			buildings: map[string]string{"B1": "connection", "B2": "nearest_main"},
		},
		{
			name: "link valve and line valve", pipe: "p7a", isolable: true,
			valves: "V5,lv1", unneeded: "", inoperable: "", segP: "p5,p7a",
			lost: "J5,J8,p5,p7a", buildings: map[string]string{},
		},
		{
			name: "break next to the reservoir cannot be isolated", pipe: "p1", isolable: false,
			valves: "V1,V5", unneeded: "", inoperable: "", segP: "p1,p2",
			lost: "J1,J2,p1,p2", buildings: map[string]string{"B3": "nearest_main"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := n.isolate(t, tc.pipe)
			if r.Isolable != tc.isolable {
				t.Errorf("isolable %v, want %v", r.Isolable, tc.isolable)
			}
			if got := valveNames(r); got != sortedCSV(tc.valves) {
				t.Errorf("valves %s, want %s", got, tc.valves)
			}
			if got := n.names(ids(r.Unneeded)); got != tc.unneeded {
				t.Errorf("unneeded %s, want %s", got, tc.unneeded)
			}
			if got := n.names(ids(r.Inoperable)); got != tc.inoperable {
				t.Errorf("inoperable %s, want %s", got, tc.inoperable)
			}
			if got := n.pnames(r.SegPipes); got != tc.segP {
				t.Errorf("segment pipes %s, want %s", got, tc.segP)
			}
			if got := sortedCSV(n.pnames(r.LostPipes) + "," + n.names(r.LostNodes)); got != sortedCSV(tc.lost) {
				t.Errorf("lost %s, want %s", got, tc.lost)
			}
			got := map[string]string{}
			for _, b := range r.Buildings.Items {
				for k, v := range n.bldg {
					if v == b.ID {
						got[k] = b.Via
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.buildings) || r.Buildings.Count != len(tc.buildings) {
				t.Errorf("buildings %v, want %v", got, tc.buildings)
			}
		})
	}

	// An inaccessible V2 makes the trace pass on to the node valve VV, and
	// the graph is rebuilt after the change.
	ctx := auth.WithPrincipal(context.Background(), &auth.Principal{Name: "t", Role: auth.Admin})
	if _, err := n.a.Store.PatchFeature(ctx, "network_nodes", n.nodes["V2"], []byte(`{"properties":{"status":"inaccessible"}}`)); err != nil {
		t.Fatal(err)
	}
	r := n.isolate(t, "p3")
	if got := valveNames(r); got != "V1,VV" || n.names(ids(r.Inoperable)) != "V2,V4" || n.pnames(r.SegPipes) != "p3,p4,p9a" {
		t.Fatalf("after V2 inaccessible: valves %s, inoperable %s, segment %s", got, n.names(ids(r.Inoperable)), n.pnames(r.SegPipes))
	}

	// Traces.
	trace := func(q string) (string, int) {
		resp, body := apptest.Do(t, "GET", n.a.URL()+"/api/v1/networks/water/trace?"+q, apptest.Key(t, n.a, auth.Viewer), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("trace %s: %d %s", q, resp.StatusCode, body)
		}
		var tr network.Trace
		json.Unmarshal(body, &tr)
		return sortedCSV(n.pnames(tr.Pipes) + "," + n.names(tr.Nodes)), len(tr.Pipes)
	}
	if got, _ := trace(fmt.Sprintf("node=%d&direction=downstream", n.nodes["J3"])); got != "C1,J3,J4,J6,J7,T,VV,p10,p4,p6,p8,p9a,p9b" {
		t.Errorf("downstream of J3: %s", got)
	}
	if got, _ := trace(fmt.Sprintf("node=%d&direction=upstream", n.nodes["J2"])); got != "J1,J2,R,p1,p2" {
		t.Errorf("upstream of J2: %s", got)
	}
	if _, np := trace(fmt.Sprintf("pipe=%d", n.pipes["p10"])); np != len(n.pipes) {
		t.Errorf("connected from p10: %d pipes, want %d", np, len(n.pipes))
	}
	// A closed V3 cuts the branch off.
	if _, err := n.a.Store.PatchFeature(ctx, "network_nodes", n.nodes["V3"], []byte(`{"properties":{"valve_state":"closed"}}`)); err != nil {
		t.Fatal(err)
	}
	if got, _ := trace(fmt.Sprintf("pipe=%d", n.pipes["p10"])); got != "C1,J7,p10,p6" {
		t.Errorf("connected from p10 with V3 closed: %s", got)
	}

	// Bad input.
	key := apptest.Key(t, n.a, auth.Viewer)
	for _, tc := range []struct {
		q, where string
		status   int
	}{
		{"trace?direction=sideways&node=1", "direction", 400},
		{"trace?node=1&pipe=2", "node", 400},
		{"trace?node=abc", "node", 400},
		{"trace?node=999999", "node", 404},
		{"isolation", "pipe", 400},
		{"isolation?pipe=-3", "pipe", 400},
		{"isolation?pipe=1&distance=1e9", "distance", 400},
		{"isolation?pipe=1&x=1", "x", 400},
	} {
		resp, body := apptest.Do(t, "GET", n.a.URL()+"/api/v1/networks/water/"+tc.q, key, nil)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d %s", tc.q, resp.StatusCode, body)
			continue
		}
		if _, _, where := apptest.ErrorBody(t, body); where != tc.where {
			t.Errorf("%s: where %q want %q", tc.q, where, tc.where)
		}
	}
	resp, _ := apptest.Do(t, "GET", n.a.URL()+"/api/v1/networks/lava/trace?node=1", key, nil)
	if resp.StatusCode != 404 {
		t.Errorf("unknown network: %d", resp.StatusCode)
	}
}

func sortedCSV(s string) string {
	if s == "" {
		return ""
	}
	var p []string
	for _, x := range strings.Split(s, ",") {
		if x != "" {
			p = append(p, x)
		}
	}
	sort.Strings(p)
	return strings.Join(p, ",")
}

var _ = spatial.Networks
