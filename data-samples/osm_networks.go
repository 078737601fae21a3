package samples

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/data-samples/dezhou"
)

// osmNets lays the generated networks other than water along an extract's
// street graph: gas, district heating (supply and return), drainage, and a
// utility tunnel segment with its cables and sensors. Each network is a
// copy of the street graph shifted a few metres aside (its own junctions
// at the street vertices), so pipes of different networks do not overlap.
type osmNets struct {
	fr      lframe
	pts     []orb.Point
	edges   []edge
	roads   []roadLine
	comp    []int // component of each vertex
	size    map[int]int
	largest int
	length  func(orb.LineString) float64
	nodes   *ndjson
	pipes   *ndjson
	device  func(dezhou.Device)
	rng     *rand.Rand
	// tunnel: the edges the utility tunnel runs under, and its name
	tunnel     map[int]bool
	tunnelName string
}

func mainRoad(class string) bool {
	switch class {
	case "trunk", "primary", "secondary", "tertiary", "trunk_link", "primary_link", "secondary_link", "tertiary_link":
		return true
	}
	return false
}

func (n *osmNets) shift(p orb.Point, dx, dy float64) orb.Point {
	q := n.fr.xy(p)
	return n.fr.ll(q[0]+dx, q[1]+dy)
}

func (n *osmNets) shiftLine(l orb.LineString, dx, dy float64) orb.LineString {
	out := make(orb.LineString, len(l))
	for i, p := range l {
		out[i] = n.shift(p, dx, dy)
	}
	return out
}

// pickTunnel chooses the utility tunnel: the longest main street (by name,
// over all its ways) of the largest component, any street if it has no
// main one; the tunnel runs under its first 1.5 km or so of edges.
func (n *osmNets) pickTunnel() {
	street := func(r int) string {
		if n.roads[r].name != "" {
			return n.roads[r].name
		}
		return "#" + n.roads[r].sourceID
	}
	best, bl := "", 0.0
	for pass := 0; pass < 2 && best == ""; pass++ {
		per := map[string]float64{}
		for _, e := range n.edges {
			if n.comp[e.a] == n.largest && (pass == 1 || mainRoad(n.roads[e.road].class)) {
				per[street(e.road)] += n.length(e.line)
			}
		}
		for _, e := range n.edges { // in edge order: deterministic
			if l, ok := per[street(e.road)]; ok && l > bl {
				best, bl = street(e.road), l
			}
		}
	}
	n.tunnel = map[int]bool{}
	if best == "" {
		return
	}
	n.tunnelName = strings.TrimPrefix(best, "#") + " 综合管廊 utility tunnel"
	total := 0.0
	for ei, e := range n.edges {
		if street(e.road) == best && n.comp[e.a] == n.largest && total < 1500 {
			n.tunnel[ei] = true
			total += n.length(e.line)
		}
	}
}

// lay writes an arterial-like network: for every edge kept by on, a pipe
// between the shifted vertices, junctions at them, and one source per
// component (its first vertex). It returns the vertices it used.
func (n *osmNets) lay(prefix, network, sourceName string, dx, dy float64, on func(ei int, e edge) bool, pipe func(ei int, e edge, id, a, b string, l orb.LineString)) map[int]bool {
	used := map[int]bool{}
	var order []int
	for ei, e := range n.edges {
		if on(ei, e) {
			for _, v := range []int{e.a, e.b} {
				if !used[v] {
					used[v] = true
					order = append(order, v)
				}
			}
		}
	}
	supplied := map[int]bool{}
	for _, v := range order {
		kind, name := "junction", ""
		if c := n.comp[v]; !supplied[c] {
			supplied[c] = true
			kind, name = "source", sourceName
		}
		n.nodes.add(fmt.Sprintf("%s-J%d", prefix, v), n.shift(n.pts[v], dx, dy), map[string]any{"network": network, "kind": kind, "name": name, "depth_m": 1.5, "status": "ok"})
	}
	for ei, e := range n.edges {
		if on(ei, e) {
			pipe(ei, e, fmt.Sprintf("%s-P%d", prefix, ei), fmt.Sprintf("%s-J%d", prefix, e.a), fmt.Sprintf("%s-J%d", prefix, e.b), n.shiftLine(e.line, dx, dy))
		}
	}
	return used
}

// layGas writes the gas network along every street of the largest
// component from a city gate station: mains under the main streets with
// valves at both ends, leak sensors at every 8th junction of a main.
func (n *osmNets) layGas() {
	sensed := map[int]bool{}
	n.lay("G", "gas", "门站 Gas gate station", -3, -3, func(_ int, e edge) bool { return n.comp[e.a] == n.largest },
		func(ei int, e edge, id, a, b string, l orb.LineString) {
			kind, d := "distribution", 160.0
			if mainRoad(n.roads[e.road].class) {
				kind, d = "main", 300
			}
			n.pipes.add(id, l, map[string]any{"network": "gas", "kind": kind, "diameter_mm": d, "material": "PE", "depth_m": 1.2,
				"length_m": math.Round(n.length(l)*10) / 10, "install_year": 1995 + n.rng.IntN(28), "status": "ok", "from_node": a, "to_node": b})
			if kind != "main" {
				return
			}
			if ln := n.length(l); ln >= 30 {
				for end, near := range []string{a, b} {
					t := 5.0
					if end == 1 {
						t = ln - 5
					}
					n.nodes.add(fmt.Sprintf("G-V%d%c", ei, 'a'+end), n.along(l, t), map[string]any{"network": "gas", "kind": "valve", "valve_state": "open", "status": "ok",
						"on_pipe": id, "near_node": near, "depth_m": 1.2})
				}
			}
			if !sensed[e.a] && e.a%8 == 0 {
				sensed[e.a] = true
				p := l[0]
				n.device(dezhou.Device{ID: fmt.Sprintf("GL-J%d", e.a), Kind: "gas_leak", Name: "Gas leak " + a, Lon: p[0], Lat: p[1], Feature: &dezhou.FeatureRef{Layer: "network_nodes", SourceID: a}})
			}
		})
}

// along is the point t metres along l.
func (n *osmNets) along(l orb.LineString, t float64) orb.Point {
	for i := 1; i < len(l); i++ {
		a, b := n.fr.xy(l[i-1]), n.fr.xy(l[i])
		d := math.Hypot(b[0]-a[0], b[1]-a[1])
		if t <= d || i == len(l)-1 {
			f := 0.0
			if d > 0 {
				f = math.Min(1, t/d)
			}
			return n.fr.ll(a[0]+f*(b[0]-a[0]), a[1]+f*(b[1]-a[1]))
		}
		t -= d
	}
	return l[len(l)-1]
}

// layHeat writes district heating under the main streets (every street
// of the largest component if it has none): a supply and a return pipe
// side by side, a heat plant per connected stretch.
func (n *osmNets) layHeat() {
	anyMain := false
	for _, e := range n.edges {
		if n.comp[e.a] == n.largest && mainRoad(n.roads[e.road].class) {
			anyMain = true
			break
		}
	}
	saved := n.comp
	on := func(ei int, e edge) bool {
		return n.tunnel[ei] || (n.size[saved[e.a]] >= 3 && (mainRoad(n.roads[e.road].class) || (!anyMain && saved[e.a] == n.largest)))
	}
	// components of the heated streets alone: each gets its plant
	comps := newUnionFind(len(n.pts))
	find := comps.find
	for ei, e := range n.edges {
		if on(ei, e) {
			comps.union(e.a, e.b)
		}
	}
	hc := make([]int, len(n.pts))
	for i := range hc {
		hc[i] = find(i)
	}
	n.comp = hc
	for _, side := range []struct {
		prefix, kind string
		off          float64
	}{{"HS", "supply", 6}, {"HR", "return", 8}} {
		n.lay(side.prefix, "heat", "热源厂 Heat plant", side.off, side.off, on, func(ei int, e edge, id, a, b string, l orb.LineString) {
			if side.kind == "return" {
				a, b = b, a
				l = append(orb.LineString(nil), l...)
				l.Reverse()
			}
			depth, tunnel := 1.6, ""
			if n.tunnel[ei] {
				depth, tunnel = 4, n.tunnelName
			}
			n.pipes.add(id, l, map[string]any{"network": "heat", "kind": side.kind, "diameter_mm": 300.0, "material": "steel", "depth_m": depth,
				"length_m": math.Round(n.length(l)*10) / 10, "install_year": 2010, "status": "ok", "from_node": a, "to_node": b, "tunnel": tunnel})
		})
	}
	n.comp = saved
}

// layDrainage writes storm drainage flowing by gravity along a spanning
// forest of each street component (of 3 or more streets) to outfalls:
// street vertices within 80 m of the extract's water (nearWater), else the
// component's southernmost vertex. Inverts rise 0.4 % upstream along the
// forest, so every pipe falls towards its outfall.
func (n *osmNets) layDrainage(nearWater map[int]bool) {
	adj := make([][]int, len(n.pts)) // vertex -> edge indexes
	for ei, e := range n.edges {
		if n.size[n.comp[e.a]] >= 3 {
			adj[e.a] = append(adj[e.a], ei)
			adj[e.b] = append(adj[e.b], ei)
		}
	}
	// outfalls: near water, at least 300 m apart; else the southernmost
	var roots []int
	hasRoot := map[int]bool{}
	for v := range n.pts {
		if len(adj[v]) == 0 || !nearWater[v] {
			continue
		}
		far := true
		for _, r := range roots {
			if n.dist(n.pts[r], n.pts[v]) < 300 {
				far = false
				break
			}
		}
		if far {
			roots = append(roots, v)
			hasRoot[n.comp[v]] = true
		}
	}
	south := map[int]int{}
	for v := range n.pts {
		if len(adj[v]) == 0 || hasRoot[n.comp[v]] {
			continue
		}
		if s, ok := south[n.comp[v]]; !ok || n.pts[v][1] < n.pts[s][1] {
			south[n.comp[v]] = v
		}
	}
	for v := range n.pts { // in vertex order: deterministic
		if s, ok := south[n.comp[v]]; ok && s == v {
			roots = append(roots, v)
		}
	}
	// breadth-first forest from the outfalls
	dist := make([]float64, len(n.pts))
	seen := make([]bool, len(n.pts))
	queue := append([]int(nil), roots...)
	for _, r := range roots {
		seen[r] = true
	}
	type link struct{ edge, child, parent int }
	var tree []link
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, ei := range adj[v] {
			e := n.edges[ei]
			o := e.a
			if o == v {
				o = e.b
			}
			if seen[o] {
				continue
			}
			seen[o] = true
			dist[o] = dist[v] + math.Max(1, n.length(e.line))
			tree = append(tree, link{ei, o, v})
			queue = append(queue, o)
		}
	}
	const dx, dy = -1.5, 1.5
	invert := func(v int) float64 { return 0.5 + 0.004*dist[v] }
	isRoot := map[int]bool{}
	for _, r := range roots {
		isRoot[r] = true
	}
	for v := range n.pts {
		if !seen[v] {
			continue
		}
		kind, name := "manhole", ""
		if isRoot[v] {
			kind, name = "outfall", "排水口 Outfall"
		}
		n.nodes.add(fmt.Sprintf("D-M%d", v), n.shift(n.pts[v], dx, dy), map[string]any{"network": "drainage", "kind": kind, "name": name,
			"depth_m": 2.5, "elevation_m": math.Round((invert(v)+2.5)*100) / 100, "status": "ok"})
	}
	for _, lk := range tree {
		e := n.edges[lk.edge]
		l := n.shiftLine(e.line, dx, dy)
		if lk.child != e.a { // draw it from the upstream end
			l.Reverse()
		}
		d := 400.0
		if mainRoad(n.roads[e.road].class) {
			d = 800
		}
		n.pipes.add(fmt.Sprintf("D-P%d", lk.edge), l, map[string]any{"network": "drainage", "kind": "pipe", "diameter_mm": d, "material": "concrete",
			"depth_m": 2.5, "length_m": math.Round(n.length(l)*10) / 10, "install_year": 2005, "status": "ok",
			"from_node": fmt.Sprintf("D-M%d", lk.child), "to_node": fmt.Sprintf("D-M%d", lk.parent),
			"from_invert_m": math.Round(invert(lk.child)*1000) / 1000, "to_invert_m": math.Round(invert(lk.parent)*1000) / 1000})
	}
}

func (n *osmNets) dist(a, b orb.Point) float64 {
	p, q := n.fr.xy(a), n.fr.xy(b)
	return math.Hypot(p[0]-q[0], p[1]-q[1])
}

// layTunnel writes the power and telecom cables of the utility tunnel and
// its water-level, gas and temperature sensors every 200 m.
func (n *osmNets) layTunnel() {
	if len(n.tunnel) == 0 {
		return
	}
	for _, c := range []struct {
		prefix, network string
		off             float64
	}{{"P", "power", 4}, {"T", "telecom", 5}} {
		done := map[int]bool{}
		for ei, e := range n.edges {
			if !n.tunnel[ei] {
				continue
			}
			for _, v := range []int{e.a, e.b} {
				if !done[v] {
					done[v] = true
					n.nodes.add(fmt.Sprintf("%s-J%d", c.prefix, v), n.shift(n.pts[v], c.off, -c.off), map[string]any{"network": c.network, "kind": "junction", "depth_m": 4.0, "status": "ok"})
				}
			}
			l := n.shiftLine(e.line, c.off, -c.off)
			n.pipes.add(fmt.Sprintf("%s-P%d", c.prefix, ei), l, map[string]any{"network": c.network, "kind": "cable", "diameter_mm": 150.0, "material": "copper",
				"depth_m": 4.0, "length_m": math.Round(n.length(l)*10) / 10, "install_year": 2019, "status": "ok",
				"from_node": fmt.Sprintf("%s-J%d", c.prefix, e.a), "to_node": fmt.Sprintf("%s-J%d", c.prefix, e.b), "tunnel": n.tunnelName})
		}
	}
	next := 0.0
	walked := 0.0
	for ei, e := range n.edges {
		if !n.tunnel[ei] {
			continue
		}
		l := n.length(e.line)
		for next <= walked+l {
			p := n.shift(n.along(e.line, next-walked), 4, -4)
			ref := &dezhou.FeatureRef{Layer: "pipes", SourceID: fmt.Sprintf("P-P%d", ei)}
			k := int(next / 200)
			n.device(dezhou.Device{ID: fmt.Sprintf("TW-%d", k), Kind: "tunnel_water", Name: fmt.Sprintf("%s water level %d", n.tunnelName, k), Lon: p[0], Lat: p[1], Feature: ref})
			n.device(dezhou.Device{ID: fmt.Sprintf("TG-%d", k), Kind: "tunnel_gas", Name: fmt.Sprintf("%s gas %d", n.tunnelName, k), Lon: p[0], Lat: p[1], Feature: ref})
			n.device(dezhou.Device{ID: fmt.Sprintf("TT-%d", k), Kind: "tunnel_temp", Name: fmt.Sprintf("%s temperature %d", n.tunnelName, k), Lon: p[0], Lat: p[1], Feature: ref})
			next += 200
		}
		walked += l
	}
}

// waterNear returns the street vertices within m metres of the extract's
// water and waterways.
func waterNear(ctx context.Context, env Env, source string, pts []orb.Point, m float64) (map[int]bool, error) {
	xs, ys := make([]float64, len(pts)), make([]float64, len(pts))
	for i, p := range pts {
		xs[i], ys[i] = p[0], p[1]
	}
	rows, err := env.Pool.Query(ctx, `SELECT v.i - 1 FROM unnest($1::float8[], $2::float8[]) WITH ORDINALITY v(x, y, i)
		WHERE EXISTS (SELECT 1 FROM water w WHERE w.source = $3 AND w.geom && ST_Expand(ST_SetSRID(ST_MakePoint(v.x, v.y), 4326), $5)
		                AND ST_DWithin(w.geom::geography, ST_SetSRID(ST_MakePoint(v.x, v.y), 4326)::geography, $4))
		   OR EXISTS (SELECT 1 FROM waterways w WHERE w.source = $3 AND w.geom && ST_Expand(ST_SetSRID(ST_MakePoint(v.x, v.y), 4326), $5)
		                AND ST_DWithin(w.geom::geography, ST_SetSRID(ST_MakePoint(v.x, v.y), 4326)::geography, $4))`,
		xs, ys, source, m, 2*m/111000)
	if err != nil {
		return nil, fmt.Errorf("samples: %w", err)
	}
	defer rows.Close()
	out := map[int]bool{}
	for rows.Next() {
		var i int
		if err := rows.Scan(&i); err != nil {
			return nil, fmt.Errorf("samples: %w", err)
		}
		out[i] = true
	}
	return out, rows.Err()
}
