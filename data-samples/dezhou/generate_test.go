package dezhou

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// feature is one decoded line of a layer file.
type feature struct {
	ID         string         `json:"id"`
	Properties map[string]any `json:"properties"`
	Geometry   struct {
		Type        string          `json:"type"`
		Coordinates json.RawMessage `json:"coordinates"`
	} `json:"geometry"`
}

func (f feature) str(k string) string { s, _ := f.Properties[k].(string); return s }
func (f feature) num(k string) float64 {
	v, ok := f.Properties[k].(float64)
	if !ok {
		return math.NaN()
	}
	return v
}

func (f feature) point(t *testing.T) [2]float64 {
	var p [2]float64
	if err := json.Unmarshal(f.Geometry.Coordinates, &p); err != nil {
		t.Fatalf("%s: point: %v", f.ID, err)
	}
	return p
}

func (f feature) line(t *testing.T) [][2]float64 {
	var ps [][2]float64
	if err := json.Unmarshal(f.Geometry.Coordinates, &ps); err != nil {
		t.Fatalf("%s: line: %v", f.ID, err)
	}
	return ps
}

func readLayer(t *testing.T, dir, layer string) []feature {
	t.Helper()
	fh, err := os.Open(filepath.Join(dir, layer+".ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []feature
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var f feature
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatalf("%s line %d: %v", layer, len(out)+1, err)
		}
		out = append(out, f)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func readDevices(t *testing.T, dir string) []Device {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "devices.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	var out []Device
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var d Device
		if err := json.Unmarshal(l, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// metres between two lon/lat points (equirectangular; exact enough here)
func metres(a, b [2]float64) float64 {
	f := newFrame(a[0], a[1])
	p := f.local(b[0], b[1])
	return math.Hypot(p.X, p.Y)
}

func pointSegDist(p, a, b [2]float64) float64 {
	f := newFrame(a[0], a[1])
	pp, bb := f.local(p[0], p[1]), f.local(b[0], b[1])
	l2 := bb.X*bb.X + bb.Y*bb.Y
	t := 0.0
	if l2 > 0 {
		t = math.Max(0, math.Min(1, (pp.X*bb.X+pp.Y*bb.Y)/l2))
	}
	return math.Hypot(pp.X-t*bb.X, pp.Y-t*bb.Y)
}

func mustGenerate(t testing.TB, scale string, seed uint64, dir string) *Manifest {
	t.Helper()
	s, err := ScaleNamed(scale)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Generate(context.Background(), Options{Scale: s, Seed: seed, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSmallDistrictInvariants(t *testing.T) {
	s, err := ScaleNamed("small")
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, s)
}

// TestTrunkDistrictInvariants checks the invariants of a district whose
// networks are laid at trunk level, as the large scale's are (12x9 blocks:
// arterials, local spans and the grid's edges all occur).
func TestTrunkDistrictInvariants(t *testing.T) {
	checkInvariants(t, Scale{Name: "trunk-test", NX: 13, NY: 10, Projects: 4, Trunk: true})
}

func checkInvariants(t *testing.T, s Scale) {
	dir := t.TempDir()
	m, err := Generate(context.Background(), Options{Scale: s, Seed: 1, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]feature{}
	for _, n := range readLayer(t, dir, "network_nodes") {
		if _, dup := nodes[n.ID]; dup {
			t.Fatalf("duplicate node id %s", n.ID)
		}
		nodes[n.ID] = n
	}
	pipes := readLayer(t, dir, "pipes")
	pipeByID := map[string]feature{}
	for _, p := range pipes {
		if _, dup := pipeByID[p.ID]; dup {
			t.Fatalf("duplicate pipe id %s", p.ID)
		}
		pipeByID[p.ID] = p
	}
	buildings := readLayer(t, dir, "buildings")

	t.Run("pipe ends exist", func(t *testing.T) {
		for _, p := range pipes {
			for _, k := range []string{"from_node", "to_node"} {
				n, ok := nodes[p.str(k)]
				if !ok {
					t.Fatalf("pipe %s: %s %q does not exist", p.ID, k, p.str(k))
				}
				if n.str("network") != p.str("network") {
					t.Fatalf("pipe %s (%s) ends at %s of network %s", p.ID, p.str("network"), n.ID, n.str("network"))
				}
				if n.str("kind") == "valve" {
					t.Fatalf("pipe %s ends at valve %s: valves sit on pipes, they are not vertices", p.ID, n.ID)
				}
			}
			// the pipe's geometry starts and ends at its nodes
			ls := p.line(t)
			if d := metres(ls[0], nodes[p.str("from_node")].point(t)); d > 0.5 {
				t.Fatalf("pipe %s starts %.1f m from its from_node", p.ID, d)
			}
			if d := metres(ls[len(ls)-1], nodes[p.str("to_node")].point(t)); d > 0.5 {
				t.Fatalf("pipe %s ends %.1f m from its to_node", p.ID, d)
			}
		}
	})

	t.Run("every building has a service connection", func(t *testing.T) {
		if s.Trunk {
			// the connection is an attribute: the water pipe it taps,
			// along the building's street
			for _, b := range buildings {
				p, ok := pipeByID[b.str("service_pipe")]
				if !ok || p.str("network") != "water" || p.str("kind") == "service" {
					t.Fatalf("building %s: service_pipe %q is not a water main (%v)", b.ID, b.str("service_pipe"), p.Properties)
				}
				if !(b.num("service_diameter_mm") > 0) {
					t.Fatalf("building %s: no service_diameter_mm", b.ID)
				}
				var mp [][][][2]float64
				if err := json.Unmarshal(b.Geometry.Coordinates, &mp); err != nil {
					t.Fatal(err)
				}
				ls, d := p.line(t), math.Inf(1)
				for _, c := range mp[0][0] {
					for k := 1; k < len(ls); k++ {
						d = math.Min(d, pointSegDist(c, ls[k-1], ls[k]))
					}
				}
				if d > 120 {
					t.Fatalf("building %s is %.0f m from the pipe %s it is tapped on", b.ID, d, p.ID)
				}
			}
			for _, p := range pipes {
				if p.str("kind") == "service" {
					t.Fatalf("service pipe %s at trunk level", p.ID)
				}
			}
			return
		}
		service := map[string]feature{} // connection node -> service pipe
		for _, p := range pipes {
			if p.str("kind") == "service" {
				service[p.str("to_node")] = p
			}
		}
		for _, b := range buildings {
			p, ok := service["W-C"+b.ID]
			if !ok {
				t.Fatalf("building %s has no service connection", b.ID)
			}
			if c := nodes[p.str("to_node")]; c.str("kind") != "connection" || c.str("network") != "water" {
				t.Fatalf("service pipe %s ends at %s (%s), want a water connection", p.ID, c.ID, c.str("kind"))
			}
			if j := nodes[p.str("from_node")]; j.str("kind") != "junction" && j.str("kind") != "source" {
				t.Fatalf("service pipe %s starts at a %s", p.ID, j.str("kind"))
			}
		}
		if len(buildings) != len(service) {
			t.Fatalf("%d buildings, %d service connections", len(buildings), len(service))
		}
	})

	t.Run("networks connected to their sources", func(t *testing.T) {
		for _, network := range []string{"water", "gas", "heat"} {
			adj := map[string][]string{}
			for _, p := range pipes {
				if p.str("network") == network {
					a, b := p.str("from_node"), p.str("to_node")
					adj[a] = append(adj[a], b)
					adj[b] = append(adj[b], a)
				}
			}
			var queue []string
			seen := map[string]bool{}
			for id, n := range nodes {
				if n.str("network") == network {
					switch n.str("kind") {
					case "source", "reservoir", "tank":
						queue = append(queue, id)
						seen[id] = true
					}
				}
			}
			if len(queue) == 0 {
				t.Fatalf("%s: no source", network)
			}
			for len(queue) > 0 {
				n := queue[0]
				queue = queue[1:]
				for _, o := range adj[n] {
					if !seen[o] {
						seen[o] = true
						queue = append(queue, o)
					}
				}
			}
			for id, n := range nodes {
				if n.str("network") == network && n.str("kind") != "valve" && !seen[id] {
					t.Fatalf("%s node %s (%s) is not connected to a source", network, id, n.str("kind"))
				}
			}
		}
	})

	t.Run("valves sit on pipes", func(t *testing.T) {
		valves, broken := 0, 0
		for _, v := range nodes {
			if v.str("kind") != "valve" {
				continue
			}
			valves++
			if s := v.str("status"); s == "broken" || s == "inaccessible" {
				broken++
			}
			p, ok := pipeByID[v.str("on_pipe")]
			if !ok {
				t.Fatalf("valve %s: on_pipe %q does not exist", v.ID, v.str("on_pipe"))
			}
			if nn := v.str("near_node"); nn != p.str("from_node") && nn != p.str("to_node") {
				t.Fatalf("valve %s: near_node %s is not an end of pipe %s", v.ID, nn, p.ID)
			}
			ls := p.line(t)
			d := math.Inf(1)
			for k := 1; k < len(ls); k++ {
				d = math.Min(d, pointSegDist(v.point(t), ls[k-1], ls[k]))
			}
			if d > 0.5 {
				t.Fatalf("valve %s lies %.2f m off its pipe %s", v.ID, d, p.ID)
			}
			if d := metres(v.point(t), nodes[v.str("near_node")].point(t)); d > 15 {
				t.Fatalf("valve %s is %.1f m from its near_node", v.ID, d)
			}
		}
		if valves < 50 || broken == 0 {
			t.Fatalf("%d valves, %d broken or inaccessible; want a realistic few out of order", valves, broken)
		}
	})

	t.Run("drainage flows by gravity to outfalls", func(t *testing.T) {
		down := map[string][]string{}
		for _, p := range pipes {
			if p.str("network") != "drainage" {
				continue
			}
			if !(p.num("from_invert_m") > p.num("to_invert_m")) {
				t.Fatalf("drainage pipe %s: invert %.2f -> %.2f does not fall", p.ID, p.num("from_invert_m"), p.num("to_invert_m"))
			}
			down[p.str("from_node")] = append(down[p.str("from_node")], p.str("to_node"))
		}
		for id, n := range nodes {
			if n.str("network") != "drainage" {
				continue
			}
			cur, steps := id, 0
			for nodes[cur].str("kind") != "outfall" {
				next := down[cur]
				if len(next) == 0 || steps > 10000 {
					t.Fatalf("drainage node %s does not reach an outfall (stuck at %s)", id, cur)
				}
				cur, steps = next[0], steps+1
			}
		}
	})

	t.Run("utility tunnel carries several networks", func(t *testing.T) {
		nets := map[string]bool{}
		for _, p := range pipes {
			if p.str("tunnel") == m.Tunnel {
				nets[p.str("network")] = true
			}
		}
		if len(nets) < 3 {
			t.Fatalf("tunnel carries %v", nets)
		}
	})

	t.Run("pole spacing", func(t *testing.T) {
		poles := readLayer(t, dir, "smart_poles")
		// ids are SP-{segment}{side}{k}: group by everything before k
		type pk struct {
			k int
			p [2]float64
		}
		runs := map[string][]pk{}
		for _, p := range poles {
			id := p.ID
			i := len(id)
			for i > 0 && id[i-1] >= '0' && id[i-1] <= '9' {
				i--
			}
			k := 0
			for _, c := range id[i:] {
				k = k*10 + int(c-'0')
			}
			runs[id[:i]] = append(runs[id[:i]], pk{k, p.point(t)})
			fns, _ := p.Properties["functions"].([]any)
			if len(fns) == 0 || fns[0] != "light" {
				t.Fatalf("pole %s functions %v: every pole is a light", p.ID, fns)
			}
		}
		n := 0
		for run, ps := range runs {
			sort.Slice(ps, func(i, j int) bool { return ps[i].k < ps[j].k })
			for i := 1; i < len(ps); i++ {
				d := metres(ps[i-1].p, ps[i].p)
				if d < PoleSpacing[0]-0.01 || d > PoleSpacing[1]+0.01 {
					t.Fatalf("poles %s%d and %s%d are %.2f m apart", run, ps[i-1].k, run, ps[i].k, d)
				}
				n++
			}
		}
		if n < 100 {
			t.Fatalf("only %d pole pairs", n)
		}
	})

	t.Run("weather coverage has exactly one gap", func(t *testing.T) {
		var stations [][2]float64
		for _, d := range readDevices(t, dir) {
			if d.Kind == "weather_station" {
				stations = append(stations, [2]float64{d.Lon, d.Lat})
			}
		}
		cb := m.CityBounds
		f := newFrame(cb[0], cb[1])
		ne := f.local(cb[2], cb[3])
		var st []xy
		for _, s := range stations {
			st = append(st, f.local(s[0], s[1]))
		}
		// neighbouring stations are under 5 km apart
		for i, a := range st {
			nearest := math.Inf(1)
			for j, b := range st {
				if i != j {
					nearest = math.Min(nearest, dist(a, b))
				}
			}
			if nearest >= WeatherRadius {
				t.Fatalf("station %d: nearest neighbour %.0f m away", i, nearest)
			}
		}
		const step = 250.0
		nx, ny := int(ne.X/step)+1, int(ne.Y/step)+1
		gap := make([]bool, nx*ny)
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				p := xy{float64(i) * step, float64(j) * step}
				covered := false
				for _, s := range st {
					if dist(p, s) <= WeatherRadius {
						covered = true
						break
					}
				}
				gap[j*nx+i] = !covered
			}
		}
		components, cells := 0, 0
		seen := make([]bool, len(gap))
		for c := range gap {
			if !gap[c] || seen[c] {
				continue
			}
			components++
			stack := []int{c}
			seen[c] = true
			for len(stack) > 0 {
				x := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				cells++
				i, j := x%nx, x/nx
				for _, d := range [][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
					ii, jj := i+d[0], j+d[1]
					if ii >= 0 && jj >= 0 && ii < nx && jj < ny && gap[jj*nx+ii] && !seen[jj*nx+ii] {
						seen[jj*nx+ii] = true
						stack = append(stack, jj*nx+ii)
					}
				}
			}
		}
		if components != 1 {
			t.Fatalf("%d coverage gaps, want exactly 1", components)
		}
		g := f.local(m.WeatherGap[0], m.WeatherGap[1])
		gi, gj := int(math.Round(g.X/step)), int(math.Round(g.Y/step))
		if !gap[gj*nx+gi] {
			t.Fatalf("the manifest's gap centre %v is covered", m.WeatherGap)
		}
		t.Logf("%d stations; the gap covers %.1f km²", len(st), float64(cells)*step*step/1e6)
	})

	t.Run("devices", func(t *testing.T) {
		ids := map[string]map[string]bool{}
		for _, l := range LayerOrder {
			ids[l] = map[string]bool{}
			for _, f := range readLayer(t, dir, l) {
				ids[l][f.ID] = true
			}
		}
		seen := map[string]bool{}
		kinds := map[string]int{}
		for _, d := range readDevices(t, dir) {
			if seen[d.ID] {
				t.Fatalf("duplicate device %s", d.ID)
			}
			seen[d.ID] = true
			kinds[d.Kind]++
			if d.Feature != nil && !ids[d.Feature.Layer][d.Feature.SourceID] {
				t.Fatalf("device %s bound to missing %s %s", d.ID, d.Feature.Layer, d.Feature.SourceID)
			}
			if d.IntervalS <= 0 || math.Abs(d.Lon-116.3) > 0.3 || math.Abs(d.Lat-37.45) > 0.3 {
				t.Fatalf("device %+v", d)
			}
		}
		for _, k := range []string{"lamp", "env", "weather_station", "pressure", "flow", "gas_leak", "tunnel_water", "tunnel_gas", "tunnel_temp", "parking", "energy_meter"} {
			if kinds[k] == 0 {
				t.Fatalf("no %s device (%v)", k, kinds)
			}
		}
	})

	t.Run("places and names", func(t *testing.T) {
		for _, b := range buildings {
			if !strings.HasPrefix(b.str("address"), "山东省德州市") || b.num("height_m") <= 0 || b.num("floors") < 1 {
				t.Fatalf("building %s: %v", b.ID, b.Properties)
			}
		}
		for _, r := range readLayer(t, dir, "roads") {
			if r.str("name") == "" || r.str("name_en") == "" {
				t.Fatalf("road %s unnamed", r.ID)
			}
		}
		mid := [2]float64{(m.Bounds[0] + m.Bounds[2]) / 2, (m.Bounds[1] + m.Bounds[3]) / 2}
		if metres(mid, Center) > 50 {
			t.Fatalf("district centred at %v, want %v", mid, Center)
		}
	})
}

func TestCountsByScale(t *testing.T) {
	cases := []struct {
		scale              string
		minBuild, maxBuild int64
		projects           int64
	}{
		{"small", 300, 1000, 6},
		{"default", 15000, 60000, 40},
	}
	for _, tc := range cases {
		t.Run(tc.scale, func(t *testing.T) {
			m := mustGenerate(t, tc.scale, 7, t.TempDir())
			counts := map[string]int64{}
			for _, l := range m.Layers {
				counts[l.Layer] = l.Count
			}
			if b := counts["buildings"]; b < tc.minBuild || b > tc.maxBuild {
				t.Fatalf("%d buildings, want %d..%d", b, tc.minBuild, tc.maxBuild)
			}
			if counts["project_sites"] != tc.projects {
				t.Fatalf("%d project sites, want %d", counts["project_sites"], tc.projects)
			}
			for _, l := range LayerOrder {
				if counts[l] == 0 {
					t.Fatalf("layer %s is empty", l)
				}
			}
		})
	}
}

func TestSameSeedSameCity(t *testing.T) {
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	mustGenerate(t, "small", 42, a)
	mustGenerate(t, "small", 42, b)
	mustGenerate(t, "small", 43, c)
	files, _ := filepath.Glob(filepath.Join(a, "*"))
	if len(files) != len(LayerOrder)+2 {
		t.Fatalf("files %v", files)
	}
	for _, fa := range files {
		name := filepath.Base(fa)
		x, _ := os.ReadFile(fa)
		y, err := os.ReadFile(filepath.Join(b, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Fatalf("%s differs between two runs with the same seed", name)
		}
	}
	x, _ := os.ReadFile(filepath.Join(a, "buildings.ndjson"))
	z, _ := os.ReadFile(filepath.Join(c, "buildings.ndjson"))
	if bytes.Equal(x, z) {
		t.Fatal("another seed gave the same buildings")
	}
}

func TestUnknownScale(t *testing.T) {
	if _, err := ScaleNamed("huge"); err == nil || !strings.Contains(err.Error(), "huge") {
		t.Fatalf("err = %v", err)
	}
}

// TestLargeCounts generates the large scale without writing it (Options.Dir
// "") and checks the spec: about a million buildings and about 100,000
// pipes, every building tapped on a water pipe.
func TestLargeCounts(t *testing.T) {
	s, err := ScaleNamed("large")
	if err != nil {
		t.Fatal(err)
	}
	byNetwork := map[string]int64{}
	var tapped int64
	m, err := Generate(context.Background(), Options{Scale: s, Seed: 1, Feature: func(layer string, line []byte) {
		switch layer {
		case "pipes":
			_, rest, _ := bytes.Cut(line, []byte(`"network":"`))
			n, _, _ := bytes.Cut(rest, []byte(`"`))
			byNetwork[string(n)]++
		case "buildings":
			if bytes.Contains(line, []byte(`"service_pipe":"W-P`)) {
				tapped++
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, l := range m.Layers {
		counts[l.Layer] = l.Count
	}
	t.Logf("layers %v; pipes by network %v; %d devices", counts, byNetwork, m.DeviceCount)
	if b := counts["buildings"]; b < 900_000 || b > 1_200_000 {
		t.Errorf("%d buildings, want about a million", b)
	}
	if p := counts["pipes"]; p < 90_000 || p > 120_000 {
		t.Errorf("%d pipes, want about 100,000", p)
	}
	if tapped != counts["buildings"] {
		t.Errorf("%d of %d buildings tapped on a water pipe", tapped, counts["buildings"])
	}
	for _, n := range []string{"water", "gas", "heat", "drainage", "power", "telecom"} {
		if byNetwork[n] == 0 {
			t.Errorf("no %s pipes", n)
		}
	}
}
