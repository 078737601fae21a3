package dezhou

import (
	"fmt"
	"math"
)

// Trunk-level networks (Scale.Trunk): what a utility models for a whole
// city of a million buildings. Pipes run from one junction to the next
// with the street's crossings as vertices; junctions sit only where pipes
// meet. A span is a street's stretch from one arterial crossing (or the
// grid's edge) to the next: four blocks.

// spanEnd tells whether crossing k of a street line of n segments ends a
// span: an arterial crossing or the line's end.
func spanEnd(k, n int) bool { return isArterial(k) || k == n }

// trunkLines calls fn for every pipe of a trunk network along the street
// lines: on lines where perSegment says so one pipe per segment, elsewhere
// one per span; lines where on is false carry none. k0 and k1 are the
// crossings at the pipe's ends along the line (i for east-west lines, j
// for north-south ones).
func (g *gen) trunkLines(on, perSegment func(ns bool, line int) bool, fn func(ns bool, line, k0, k1 int)) {
	for _, ns := range []bool{false, true} {
		lines, n := g.ny, g.nx
		if ns {
			lines, n = g.nx, g.ny
		}
		for line := 0; line <= lines; line++ {
			if !on(ns, line) {
				continue
			}
			for k0 := 0; k0 < n; {
				k1 := k0 + 1
				if !perSegment(ns, line) {
					for !spanEnd(k1, n) {
						k1++
					}
				}
				fn(ns, line, k0, k1)
				k0 = k1
			}
		}
	}
}

// crossing is the (i, j) of crossing k of a street line.
func crossing(ns bool, line, k int) (int, int) {
	if ns {
		return line, k
	}
	return k, line
}

// trunkPts are the points of a pipe from crossing k0 to k1 of a line,
// offset o metres east and north of each crossing.
func trunkPts(ns bool, line, k0, k1 int, o float64) []xy {
	pts := make([]xy, 0, k1-k0+1)
	for k := k0; k <= k1; k++ {
		i, j := crossing(ns, line, k)
		pts = append(pts, xy{sx(i) + o, sy(j) + o})
	}
	return pts
}

// trunkID names a pipe by its first segment.
func trunkID(ns bool, line, k0 int) string {
	i, j := crossing(ns, line, k0)
	return segID(ns, i, j)
}

func always(bool, int) bool           { return true }
func arterialLine(_ bool, l int) bool { return isArterial(l) }

// trunkValves puts a valve on pipe pid next to each of its ends, 6 m in.
func (g *gen) trunkValves(prefix, network, name, pid, a, b string, pts []xy, depth float64, r interface{ Float64() float64 }) {
	for end, near := range []string{a, b} {
		p, q := pts[0], pts[1]
		if end == 1 {
			p, q = pts[len(pts)-1], pts[len(pts)-2]
		}
		d := dist(p, q)
		v := xy{p.X + (q.X-p.X)*6/d, p.Y + (q.Y-p.Y)*6/d}
		st := "ok"
		if r != nil {
			switch u := r.Float64(); {
			case u < 0.03:
				st = "broken"
			case u < 0.05:
				st = "inaccessible"
			}
		}
		id := prefix + pid[len(prefix):] + string(rune('a'+end))
		g.writeNode(nodeSpec{id: id, network: network, kind: "valve", name: name + " " + id, p: v, depth: depth, valveState: "open", status: st, onPipe: pid, nearNode: near})
	}
}

// genWaterTrunk writes the water network at trunk level: junctions where
// pipes meet, a main per arterial segment, a distribution pipe per local
// span, valves at both ends of every pipe, a hydrant on every other local
// span, pressure and flow sensors on the mains.
func (g *gen) genWaterTrunk() {
	for j := 0; j <= g.ny; j++ {
		for i := 0; i <= g.nx; i++ {
			if !spanEnd(i, g.nx) && !spanEnd(j, g.ny) {
				continue
			}
			p := xy{sx(i) + 4, sy(j) + 4}
			id := fmt.Sprintf("W-J%d-%d", i, j)
			g.node(id, "water", "junction", "", p, 1.8)
			if isArterial(i) && isArterial(j) {
				g.device(Device{ID: "PR-J" + fmt.Sprintf("%d-%d", i, j), Kind: "pressure", Name: "供水压力监测 " + id,
					Feature: &FeatureRef{Layer: "network_nodes", SourceID: id}, Params: g.pressureParams(p)}, p)
			}
		}
	}
	g.trunkLines(always, arterialLine, func(ns bool, line, k0, k1 int) {
		i, j := crossing(ns, line, k0)
		r := g.rng(10, i*2+b2i(ns), j)
		sid := trunkID(ns, line, k0)
		main := isArterial(line)
		kind, d, mat, depth, year := waterPipe(r, main, !ns && j == g.ja)
		tunnel := ""
		if !ns && g.inTunnel(i, j) {
			tunnel, depth = TunnelName, 4.0
		}
		i1, j1 := crossing(ns, line, k1)
		a, b := fmt.Sprintf("W-J%d-%d", i, j), fmt.Sprintf("W-J%d-%d", i1, j1)
		pid := "W-P" + sid
		pts := trunkPts(ns, line, k0, k1, 4)
		g.pipe(pid, "water", kind, a, b, pts, d, mat, depth, year, tunnel)
		g.trunkValves("W-V", "water", "阀门", pid, a, b, pts, depth, r)
		if !main && (line+k0/4)%2 == 0 {
			hp := segPoint(ns, i, j, 20, 12)
			g.node("W-H"+sid, "water", "hydrant", "消火栓 "+sid, hp, 1.2)
			g.pipe("W-PH"+sid, "water", "pipe", a, "W-H"+sid, []xy{pts[0], hp}, 100, "DI", 1.2, year, "")
		}
		if main && (i+j)%2 == 0 && !(isArterial(i) && isArterial(j)) {
			g.device(Device{ID: "PR-" + sid, Kind: "pressure", Name: "供水压力监测 " + a,
				Feature: &FeatureRef{Layer: "network_nodes", SourceID: a}, Params: g.pressureParams(pts[0])}, pts[0])
		}
		if main && !ns && i%8 == 0 && j%8 == 0 {
			p := wp(ns, i, j, 25)
			g.device(Device{ID: "FL-" + sid, Kind: "flow", Name: "流量计 " + sid,
				Feature: &FeatureRef{Layer: "pipes", SourceID: pid}, Params: map[string]any{"base_m3h": math.Round(d * d / 400)}}, p)
		}
	})
}

// trunkServicePipe is the water pipe a building on block (bi, bj) facing
// street row (ns false) or column line is tapped on at trunk level.
func trunkServicePipe(ns bool, line, bi, bj int) string {
	k := bi
	if ns {
		k = bj
	}
	if !isArterial(line) {
		k = k / 4 * 4
	}
	return "W-P" + trunkID(ns, line, k)
}

// genArterialTrunk writes a network along the arterials at trunk level:
// junctions at the arterial crossings, a pipe per span. off is the offset
// of its pipes from the street's centre line.
func (g *gen) genArterialTrunk(prefix, network, kind string, off float64, reverse bool, junction func(id string, p xy), pipe func(pid, a, b string, pts []xy, tunnel string)) {
	for j := 0; j <= g.ny; j++ {
		for i := 0; i <= g.nx; i++ {
			if (isArterial(j) && spanEnd(i, g.nx)) || (isArterial(i) && spanEnd(j, g.ny)) {
				junction(fmt.Sprintf("%s-J%d-%d", prefix, i, j), xy{sx(i) + off, sy(j) + off})
			}
		}
	}
	g.trunkLines(arterialLine, func(bool, int) bool { return false }, func(ns bool, line, k0, k1 int) {
		i, j := crossing(ns, line, k0)
		i1, j1 := crossing(ns, line, k1)
		a, b := fmt.Sprintf("%s-J%d-%d", prefix, i, j), fmt.Sprintf("%s-J%d-%d", prefix, i1, j1)
		pts := trunkPts(ns, line, k0, k1, off)
		if reverse {
			a, b = b, a
			for x, y := 0, len(pts)-1; x < y; x, y = x+1, y-1 {
				pts[x], pts[y] = pts[y], pts[x]
			}
		}
		tunnel := ""
		if !ns && g.inTunnel(i, j) {
			tunnel = TunnelName
		}
		pipe(fmt.Sprintf("%s-P%s", prefix, trunkID(ns, line, k0)), a, b, pts, tunnel)
	})
}

// genGasTrunk writes the gas mains along the arterials, with valves at
// both ends of every pipe and leak sensors at the arterial crossings.
func (g *gen) genGasTrunk() {
	g.genArterialTrunk("G", "gas", "main", -4, false, func(id string, p xy) {
		g.node(id, "gas", "junction", "", p, 1.2)
		if i, j, ok := crossingOf(id); ok && isArterial(i) && isArterial(j) {
			g.device(Device{ID: "GL-" + id[2:], Kind: "gas_leak", Name: "燃气泄漏监测 " + id, Feature: &FeatureRef{Layer: "network_nodes", SourceID: id}}, p)
		}
	}, func(pid, a, b string, pts []xy, tunnel string) {
		g.pipe(pid, "gas", "main", a, b, pts, 300, "PE", 1.2, 2010, "")
		g.trunkValves("G-V", "gas", "燃气阀门", pid, a, b, pts, 1.2, nil)
	})
}

// crossingOf reads the i and j of a junction id PREFIX-Ji-j.
func crossingOf(id string) (int, int, bool) {
	var i, j int
	for k := 0; k < len(id); k++ {
		if id[k] == 'J' {
			if _, err := fmt.Sscanf(id[k+1:], "%d-%d", &i, &j); err == nil {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

// genHeatTrunk writes district heating supply and return along the
// arterials at trunk level.
func (g *gen) genHeatTrunk() {
	for _, side := range []struct {
		prefix, kind string
		off          float64
	}{{"HS", "supply", 9}, {"HR", "return", 11}} {
		g.genArterialTrunk(side.prefix, "heat", side.kind, side.off, side.kind == "return", func(id string, p xy) {
			g.node(id, "heat", "junction", "", p, 1.6)
		}, func(pid, a, b string, pts []xy, tunnel string) {
			depth := 1.6
			if tunnel != "" {
				depth = 4
			}
			g.pipe(pid, "heat", side.kind, a, b, pts, 400, "steel", depth, 2010, tunnel)
		})
	}
}

// genDrainageTrunk writes the trunk sewers: one under every north-south
// street per span, flowing south by gravity to the outfalls on the river.
func (g *gen) genDrainageTrunk() {
	mh := func(id string, p xy) {
		g.writeNode(nodeSpec{id: id, network: "drainage", kind: "manhole", name: "", p: p, depth: ground(p) - g.invert(p)})
	}
	for i := 0; i <= g.nx; i++ {
		for j := 0; j <= g.ny; j++ {
			if spanEnd(j, g.ny) {
				mh(fmt.Sprintf("D-M%d-%d", i, j), xy{sx(i), sy(j)})
			}
		}
	}
	g.trunkLines(func(ns bool, _ int) bool { return ns }, func(bool, int) bool { return false }, func(ns bool, i, k0, k1 int) {
		pts := trunkPts(ns, i, k0, k1, 0) // reversed: from north to south
		for x, y := 0, len(pts)-1; x < y; x, y = x+1, y-1 {
			pts[x], pts[y] = pts[y], pts[x]
		}
		d := 800.0
		if isArterial(i) {
			d = 1200
		}
		from, to := pts[0], pts[len(pts)-1]
		fi, ti := g.invert(from), g.invert(to)
		g.writePipe(pipeSpec{id: "D-P" + trunkID(ns, i, k0), network: "drainage", kind: "pipe", from: fmt.Sprintf("D-M%d-%d", i, k1), to: fmt.Sprintf("D-M%d-%d", i, k0),
			pts: pts, diameter: d, material: "concrete", depth: (ground(from) - fi + ground(to) - ti) / 2, year: 2005,
			inverts: true, fromInv: fi, toInv: ti})
	})
	g.genOutfalls()
}
