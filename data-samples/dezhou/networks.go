package dezhou

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// ground is the terrain height in metres: the North China Plain, about 21 m,
// rising gently to the north and east (drainage runs south-west to the
// river and the canal).
func ground(p xy) float64 { return 21 + 0.0006*p.Y + 0.0002*p.X }

// nodeSpec is one network node.
type nodeSpec struct {
	id, network, kind, name string
	p                       xy
	depth                   float64
	invert                  bool // depth measured to the invert (drainage)
	valveState, status      string
	onPipe, nearNode        string
}

func (g *gen) writeNode(n nodeSpec) {
	g.ln.start(n.id)
	g.ln.str("network", n.network)
	g.ln.str("kind", n.kind)
	g.ln.str("name", n.name)
	g.ln.num("elevation_m", ground(n.p), 2)
	g.ln.num("depth_m", n.depth, 2)
	g.ln.str("valve_state", n.valveState)
	st := n.status
	if st == "" {
		st = "ok"
	}
	g.ln.str("status", st)
	g.ln.str("on_pipe", n.onPipe)
	g.ln.str("near_node", n.nearNode)
	g.ln.point(n.p)
	g.emit("network_nodes")
}

func (g *gen) node(id, network, kind, name string, p xy, depth float64) {
	g.writeNode(nodeSpec{id: id, network: network, kind: kind, name: name, p: p, depth: depth})
}

type pipeSpec struct {
	id, network, kind, from, to string
	pts                         []xy
	diameter                    float64
	material                    string
	depth                       float64
	year                        int
	tunnel                      string
	inverts                     bool
	fromInv, toInv              float64
}

func (g *gen) writePipe(p pipeSpec) {
	var length float64
	for k := 1; k < len(p.pts); k++ {
		length += dist(p.pts[k-1], p.pts[k])
	}
	g.ln.start(p.id)
	g.ln.str("network", p.network)
	g.ln.str("kind", p.kind)
	g.ln.num("diameter_mm", p.diameter, 0)
	g.ln.str("material", p.material)
	g.ln.num("depth_m", p.depth, 2)
	g.ln.num("length_m", length, 1)
	g.ln.int("install_year", p.year)
	g.ln.str("status", "ok")
	g.ln.str("from_node", p.from)
	g.ln.str("to_node", p.to)
	if p.inverts {
		g.ln.num("from_invert_m", p.fromInv, 2)
		g.ln.num("to_invert_m", p.toInv, 2)
	}
	g.ln.str("tunnel", p.tunnel)
	g.ln.lineString(p.pts)
	g.emit("pipes")
}

func (g *gen) pipe(id, network, kind, from, to string, pts []xy, diameter float64, material string, depth float64, year int, tunnel string) {
	g.writePipe(pipeSpec{id: id, network: network, kind: kind, from: from, to: to, pts: pts, diameter: diameter, material: material, depth: depth, year: year, tunnel: tunnel})
}

func (g *gen) inTunnel(i, j int) bool { return j == g.tj && i >= g.ti0 && i < g.ti1 }

// segments calls fn for every street segment between two intersections:
// ns tells the direction, (i, j) is its start intersection.
func (g *gen) segments(fn func(ns bool, i, j int)) {
	for j := 0; j <= g.ny; j++ {
		for i := 0; i < g.nx; i++ {
			fn(false, i, j)
		}
	}
	for i := 0; i <= g.nx; i++ {
		for j := 0; j < g.ny; j++ {
			fn(true, i, j)
		}
	}
}

// segPoint is the point t metres along segment (ns, i, j), offset o metres
// to its left (north of an east-west segment, east of a north-south one,
// for positive o).
func segPoint(ns bool, i, j int, t, o float64) xy {
	if ns {
		return xy{sx(i) + o, sy(j) + t}
	}
	return xy{sx(i) + t, sy(j) + o}
}

func segID(ns bool, i, j int) string {
	if ns {
		return fmt.Sprintf("N%d-%d", i, j)
	}
	return fmt.Sprintf("E%d-%d", i, j)
}

// endIDs are the intersection ids at both ends of a segment.
func endIDs(prefix string, ns bool, i, j int) (string, string) {
	a := fmt.Sprintf("%s%d-%d", prefix, i, j)
	if ns {
		return a, fmt.Sprintf("%s%d-%d", prefix, i, j+1)
	}
	return a, fmt.Sprintf("%s%d-%d", prefix, i+1, j)
}

// genWater writes the water network. Graph vertices are junctions (street
// intersections and every 50 m along a street), the source (treatment
// plant), the elevated tank, hydrants and building connections. Valves are
// NOT vertices: they sit on a pipe next to a node (on_pipe, near_node), as
// in WNTR's valve layer.
func (g *gen) genWater() {
	if g.opts.Scale.Trunk {
		g.genWaterTrunk()
	} else {
		g.genWaterStreets()
	}
	g.waterSupply()
}

// genWaterStreets writes the water network of every street segment: four
// pipes between five junctions, valves, a hydrant, sensors.
func (g *gen) genWaterStreets() {
	for j := 0; j <= g.ny; j++ {
		for i := 0; i <= g.nx; i++ {
			p := xy{sx(i) + 4, sy(j) + 4}
			id := fmt.Sprintf("W-J%d-%d", i, j)
			g.node(id, "water", "junction", "", p, 1.8)
			if isArterial(i) && isArterial(j) {
				g.device(Device{ID: "PR-J" + fmt.Sprintf("%d-%d", i, j), Kind: "pressure", Name: "供水压力监测 " + id,
					Feature: &FeatureRef{Layer: "network_nodes", SourceID: id}, Params: g.pressureParams(p)}, p)
			}
		}
	}
	g.segments(func(ns bool, i, j int) {
		r := g.rng(10, i*2+b2i(ns), j)
		sid := segID(ns, i, j)
		line := j
		if ns {
			line = i
		}
		main := isArterial(line)
		kind, d, mat, depth, year := waterPipe(r, main, !ns && j == g.ja)
		a, b := endIDs("W-J", ns, i, j)
		ids := []string{a, "W-" + sid + "-1", "W-" + sid + "-2", "W-" + sid + "-3", b}
		for k := 1; k <= 3; k++ {
			p := wp(ns, i, j, float64(k)*50)
			g.node(ids[k], "water", "junction", "", p, depth)
		}
		tunnel := ""
		if !ns && g.inTunnel(i, j) {
			tunnel, depth = TunnelName, 4.0
		}
		for k := 0; k < 4; k++ {
			pid := fmt.Sprintf("W-P%s-%d", sid, k)
			pts := []xy{wp(ns, i, j, float64(k)*50), wp(ns, i, j, float64(k+1)*50)}
			g.pipe(pid, "water", kind, ids[k], ids[k+1], pts, d, mat, depth, year, tunnel)
			// valves next to the intersections, on the pipes that leave them
			if k == 0 || k == 3 {
				near, t, end := ids[0], 6.0, "a"
				if k == 3 {
					near, t, end = ids[4], 194.0, "b"
				}
				st := "ok"
				switch u := r.Float64(); {
				case u < 0.03:
					st = "broken"
				case u < 0.05:
					st = "inaccessible"
				}
				g.writeNode(nodeSpec{id: "W-V" + sid + end, network: "water", kind: "valve", name: "阀门 " + sid + end,
					p: wp(ns, i, j, t), depth: depth, valveState: "open", status: st, onPipe: pid, nearNode: near})
			}
		}
		// a hydrant in the middle of every segment, on the kerb
		hp := segPoint(ns, i, j, 100, 12)
		g.node("W-H"+sid, "water", "hydrant", "消火栓 "+sid, hp, 1.2)
		g.pipe("W-PH"+sid, "water", "pipe", ids[2], "W-H"+sid, []xy{wp(ns, i, j, 100), hp}, 100, "DI", 1.2, year, "")
		if main && (i+j)%2 == 0 {
			p := wp(ns, i, j, 100)
			g.device(Device{ID: "PR-" + sid, Kind: "pressure", Name: "供水压力监测 " + ids[2],
				Feature: &FeatureRef{Layer: "network_nodes", SourceID: ids[2]}, Params: g.pressureParams(p)}, p)
		}
		if main && !ns && i%8 == 0 && j%8 == 0 {
			p := wp(ns, i, j, 25)
			g.device(Device{ID: "FL-" + sid, Kind: "flow", Name: "流量计 " + sid,
				Feature: &FeatureRef{Layer: "pipes", SourceID: fmt.Sprintf("W-P%s-0", sid)}, Params: map[string]any{"base_m3h": math.Round(d * d / 400)}}, p)
		}
	})
}

// waterSupply writes the treatment plant and the elevated tank.
func (g *gen) waterSupply() {
	// The treatment plant east of the grid, feeding the main of row ja.
	src := xy{g.W + 380, sy(g.ja) + 4}
	g.node("W-SRC", "water", "source", "德州市第三水厂", src, 0)
	jn := fmt.Sprintf("W-J%d-%d", g.nx, g.ja)
	g.pipe("W-PT1", "water", "main", "W-SRC", jn, []xy{src, {sx(g.nx) + 4, sy(g.ja) + 4}}, 800, "DI", 2.0, 2004, "")
	g.writeNode(nodeSpec{id: "W-VT1a", network: "water", kind: "valve", name: "出厂阀门", p: xy{src.X - 8, src.Y}, depth: 2, valveState: "open", onPipe: "W-PT1", nearNode: "W-SRC"})
	g.device(Device{ID: "FL-PT1", Kind: "flow", Name: "第三水厂出厂流量", Feature: &FeatureRef{Layer: "pipes", SourceID: "W-PT1"}, Params: map[string]any{"base_m3h": 2400.0}}, xy{src.X - 20, src.Y})
	g.device(Device{ID: "PR-SRC", Kind: "pressure", Name: "第三水厂出厂压力", Feature: &FeatureRef{Layer: "network_nodes", SourceID: "W-SRC"}, Params: map[string]any{"base_mpa": 0.42}}, src)
	g.ln.start("B-WATERWORKS")
	g.ln.str("name", "德州市第三水厂")
	g.ln.str("address", "山东省德州市经济技术开发区水厂路1号")
	g.ln.str("use", "industrial")
	g.ln.num("height_m", 9, 1)
	g.ln.int("floors", 2)
	g.ln.int("year_built", 2004)
	if g.opts.Scale.Trunk {
		g.ln.str("service_pipe", "W-PT1")
		g.ln.num("service_diameter_mm", 100, 0)
	}
	g.ln.multiPolygon(rect(src.X+10, src.Y-40, src.X+90, src.Y+30))
	g.emit("buildings")
	if !g.opts.Scale.Trunk {
		g.node("W-CB-WATERWORKS", "water", "connection", "", xy{src.X + 10, src.Y}, 1.2)
		g.pipe("W-SB-WATERWORKS", "water", "service", "W-SRC", "W-CB-WATERWORKS", []xy{src, {src.X + 10, src.Y}}, 100, "DI", 1.2, 2004, "")
	}
	// The elevated tank in the north-east block.
	tb := g.tankBlock
	bi, bj := tb%g.nx, tb/g.nx
	tank := xy{sx(bi) + 104, sy(bj) + 100}
	g.node("W-TANK", "water", "tank", "高位水塔", tank, 0)
	tj, tp := fmt.Sprintf("W-E%d-%d-2", bi, bj+1), wp(false, bi, bj+1, 100)
	if g.opts.Scale.Trunk {
		// no mid-street junction: the tank joins the north-east crossing
		tj, tp = fmt.Sprintf("W-J%d-%d", bi+1, bj+1), xy{sx(bi+1) + 4, sy(bj+1) + 4}
	}
	g.pipe("W-PTANK", "water", "main", "W-TANK", tj, []xy{tank, tp}, 400, "DI", 1.8, 1998, "")
	g.device(Device{ID: "FL-PTANK", Kind: "flow", Name: "水塔出水流量", Feature: &FeatureRef{Layer: "pipes", SourceID: "W-PTANK"}, Params: map[string]any{"base_m3h": 300.0}}, xy{tank.X, tank.Y + 20})
}

// pressureParams gives a pressure sensor its normal pressure: it falls with
// the distance from the treatment plant.
func (g *gen) pressureParams(p xy) map[string]any {
	d := dist(p, xy{g.W + 380, sy(g.ja)})
	return map[string]any{"base_mpa": math.Round((0.40-d*0.000008)*1000) / 1000}
}

// wp and gp are points along the water and gas mains of a segment: they run
// 4 m either side of the street's centre line, and their intersection
// junctions sit where the mains of crossing streets meet.
func wp(ns bool, i, j int, t float64) xy { return segPoint(ns, i, j, t+4, 4) }
func gp(ns bool, i, j int, t float64) xy { return segPoint(ns, i, j, t-4, -4) }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// genGas writes the gas network: junctions at intersections and half-way,
// valves at the intersections on arterials, the city gate station.
func (g *gen) genGas() {
	if g.opts.Scale.Trunk {
		g.genGasTrunk()
		g.gasSource()
		return
	}
	for j := 0; j <= g.ny; j++ {
		for i := 0; i <= g.nx; i++ {
			p := xy{sx(i) - 4, sy(j) - 4}
			id := fmt.Sprintf("G-J%d-%d", i, j)
			g.node(id, "gas", "junction", "", p, 1.2)
			if isArterial(i) && isArterial(j) {
				g.device(Device{ID: fmt.Sprintf("GL-J%d-%d", i, j), Kind: "gas_leak", Name: "燃气泄漏监测 " + id, Feature: &FeatureRef{Layer: "network_nodes", SourceID: id}}, p)
			}
		}
	}
	g.segments(func(ns bool, i, j int) {
		r := g.rng(11, i*2+b2i(ns), j)
		sid := segID(ns, i, j)
		line := j
		if ns {
			line = i
		}
		main := isArterial(line)
		kind, d := "distribution", 160.0
		if main {
			kind, d = "main", 300
		}
		a, b := endIDs("G-J", ns, i, j)
		mid := "G-" + sid + "-1"
		g.node(mid, "gas", "junction", "", gp(ns, i, j, 100), 1.2)
		year := 2000 + r.IntN(23)
		p0 := fmt.Sprintf("G-P%s-0", sid)
		p1 := fmt.Sprintf("G-P%s-1", sid)
		g.pipe(p0, "gas", kind, a, mid, []xy{gp(ns, i, j, 0), gp(ns, i, j, 100)}, d, "PE", 1.2, year, "")
		g.pipe(p1, "gas", kind, mid, b, []xy{gp(ns, i, j, 100), gp(ns, i, j, 200)}, d, "PE", 1.2, year, "")
		if main {
			g.writeNode(nodeSpec{id: "G-V" + sid + "a", network: "gas", kind: "valve", name: "燃气阀门 " + sid + "a", p: gp(ns, i, j, 6), depth: 1.2, valveState: "open", onPipe: p0, nearNode: a})
			g.writeNode(nodeSpec{id: "G-V" + sid + "b", network: "gas", kind: "valve", name: "燃气阀门 " + sid + "b", p: gp(ns, i, j, 194), depth: 1.2, valveState: "open", onPipe: p1, nearNode: b})
		}
	})
	g.gasSource()
}

// gasSource writes the city gate station and its pipe to row ja.
func (g *gen) gasSource() {
	src := xy{g.W + 380, sy(g.ja) - 80}
	g.node("G-SRC", "gas", "source", "德州天然气门站", src, 0)
	g.pipe("G-PT1", "gas", "main", "G-SRC", fmt.Sprintf("G-J%d-%d", g.nx, g.ja), []xy{src, {src.X - 60, sy(g.ja) - 4}, {sx(g.nx) - 4, sy(g.ja) - 4}}, 400, "steel", 1.5, 2006, "")
}

// genHeat writes district heating along the arterials: a supply and a
// return pipe side by side, from the combined heat and power plant.
func (g *gen) genHeat() {
	if g.opts.Scale.Trunk {
		g.genHeatTrunk()
		g.heatSource()
		return
	}
	for _, side := range []struct {
		prefix, kind string
		off          float64
	}{{"HS", "supply", 9}, {"HR", "return", 11}} {
		for j := 0; j <= g.ny; j++ {
			for i := 0; i <= g.nx; i++ {
				if isArterial(i) || isArterial(j) {
					g.node(fmt.Sprintf("%s-J%d-%d", side.prefix, i, j), "heat", "junction", "", xy{sx(i) + side.off, sy(j) + side.off}, 1.6)
				}
			}
		}
		g.segments(func(ns bool, i, j int) {
			line := j
			if ns {
				line = i
			}
			if !isArterial(line) {
				return
			}
			sid := segID(ns, i, j)
			a, b := endIDs(side.prefix+"-J", ns, i, j)
			if side.kind == "return" {
				a, b = b, a
			}
			pts := []xy{segPoint(ns, i, j, side.off, side.off), segPoint(ns, i, j, 200+side.off, side.off)}
			if side.kind == "return" {
				pts[0], pts[1] = pts[1], pts[0]
			}
			tunnel, depth := "", 1.6
			if !ns && g.inTunnel(i, j) {
				tunnel, depth = TunnelName, 4.0
			}
			g.pipe(fmt.Sprintf("%s-P%s", side.prefix, sid), "heat", side.kind, a, b, pts, 400, "steel", depth, 2010, tunnel)
		})
	}
	g.heatSource()
}

// heatSource writes the heat plant and its pipes to the arterial of row ja.
func (g *gen) heatSource() {
	src := xy{g.W + 380, sy(g.ja) + 90}
	g.node("H-SRC", "heat", "source", "德州热电厂", src, 0)
	g.pipe("HS-PSRC", "heat", "supply", "H-SRC", fmt.Sprintf("HS-J%d-%d", g.nx, g.ja), []xy{src, {sx(g.nx) + 9, sy(g.ja) + 9}}, 700, "steel", 1.8, 2010, "")
	g.pipe("HR-PSRC", "heat", "return", fmt.Sprintf("HR-J%d-%d", g.nx, g.ja), "H-SRC", []xy{{sx(g.nx) + 11, sy(g.ja) + 11}, src}, 700, "steel", 1.8, 2010, "")
}

// invert is the drainage invert level at p: it rises to the north and east
// faster than the ground, so sewers flow south and west by gravity to the
// outfalls on the river.
func (g *gen) invert(p xy) float64 {
	return ground(p) - (4.5 - 2.0*p.Y/g.H - 0.5*p.X/g.W)
}

// genDrainage writes the storm drainage: manholes at the intersections and
// half-way, pipes flowing south (north-south streets) and west (east-west
// streets), outfalls on the river bank below every north-south street.
func (g *gen) genDrainage() {
	if g.opts.Scale.Trunk {
		g.genDrainageTrunk()
		return
	}
	mh := func(id string, p xy) {
		g.writeNode(nodeSpec{id: id, network: "drainage", kind: "manhole", name: "", p: p, depth: ground(p) - g.invert(p)})
	}
	for j := 0; j <= g.ny; j++ {
		for i := 0; i <= g.nx; i++ {
			mh(fmt.Sprintf("D-M%d-%d", i, j), xy{sx(i), sy(j)})
		}
	}
	g.segments(func(ns bool, i, j int) {
		sid := segID(ns, i, j)
		a, b := endIDs("D-M", ns, i, j)
		mid := "D-" + sid
		pa, pm, pb := segPoint(ns, i, j, 0, 0), segPoint(ns, i, j, 100, 0), segPoint(ns, i, j, 200, 0)
		mh(mid, pm)
		d := 400.0
		if ns {
			d = 600
			if isArterial(i) {
				d = 1000
			}
		}
		// flow from b (north/east) to a (south/west)
		for k, s := range []struct {
			from, to string
			p, q     xy
		}{{b, mid, pb, pm}, {mid, a, pm, pa}} {
			fi, ti := g.invert(s.p), g.invert(s.q)
			g.writePipe(pipeSpec{id: fmt.Sprintf("D-P%s-%d", sid, k), network: "drainage", kind: "pipe", from: s.from, to: s.to,
				pts: []xy{s.p, s.q}, diameter: d, material: "concrete", depth: (ground(s.p) - fi + ground(s.q) - ti) / 2, year: 2005,
				inverts: true, fromInv: fi, toInv: ti})
		}
	})
	g.genOutfalls()
}

// genOutfalls writes an outfall on the river bank below every north-south
// street and the pipe to it from the street's southern manhole.
func (g *gen) genOutfalls() {
	for i := 0; i <= g.nx; i++ {
		p := xy{sx(i), riverY(sx(i)) + 18}
		id := fmt.Sprintf("D-O%d", i)
		g.writeNode(nodeSpec{id: id, network: "drainage", kind: "outfall", name: "排水口 " + id, p: p, depth: ground(p) - g.invert(p)})
		from := xy{sx(i), 0}
		g.writePipe(pipeSpec{id: fmt.Sprintf("D-PO%d", i), network: "drainage", kind: "pipe", from: fmt.Sprintf("D-M%d-0", i), to: id,
			pts: []xy{from, p}, diameter: 1000, material: "concrete", depth: ground(from) - g.invert(from), year: 2005,
			inverts: true, fromInv: g.invert(from), toInv: g.invert(p)})
	}
}

// genTunnel writes the power and telecom cables of the utility tunnel
// (the water main and the heating pipes of the same stretch carry the
// tunnel's name too) and its water, gas and temperature sensors.
func (g *gen) genTunnel() {
	for _, c := range []struct {
		prefix, network string
		off             float64
	}{{"P", "power", 6}, {"T", "telecom", 7}} {
		for i := g.ti0; i <= g.ti1; i++ {
			g.node(fmt.Sprintf("%s-J%d-%d", c.prefix, i, g.tj), c.network, "junction", "", xy{sx(i) + c.off, sy(g.tj) + c.off}, 4)
		}
		for i := g.ti0; i < g.ti1; i++ {
			g.pipe(fmt.Sprintf("%s-PE%d-%d", c.prefix, i, g.tj), c.network, "cable", fmt.Sprintf("%s-J%d-%d", c.prefix, i, g.tj), fmt.Sprintf("%s-J%d-%d", c.prefix, i+1, g.tj),
				[]xy{{sx(i) + c.off, sy(g.tj) + c.off}, {sx(i+1) + c.off, sy(g.tj) + c.off}}, 150, "copper", 4, 2019, TunnelName)
		}
	}
	for i := g.ti0; i < g.ti1; i++ {
		p := xy{sx(i) + 100, sy(g.tj) + 6}
		ref := &FeatureRef{Layer: "pipes", SourceID: fmt.Sprintf("P-PE%d-%d", i, g.tj)}
		g.device(Device{ID: fmt.Sprintf("TW-%d", i), Kind: "tunnel_water", Name: fmt.Sprintf("%s 水位 %d", TunnelName, i), Feature: ref}, p)
		g.device(Device{ID: fmt.Sprintf("TG-%d", i), Kind: "tunnel_gas", Name: fmt.Sprintf("%s 气体 %d", TunnelName, i), Feature: ref}, p)
		g.device(Device{ID: fmt.Sprintf("TT-%d", i), Kind: "tunnel_temp", Name: fmt.Sprintf("%s 温度 %d", TunnelName, i), Feature: ref}, p)
	}
}

// PoleSpacing is the range of distances between neighbouring poles on one
// side of a street, in metres.
var PoleSpacing = [2]float64{30, 40}

// genPoles puts smart poles every 30 to 40 m along every street segment:
// both sides of arterials, one side of local streets.
func (g *gen) genPoles() {
	g.segments(func(ns bool, i, j int) {
		r := g.rng(12, i*2+b2i(ns), j)
		sid := segID(ns, i, j)
		line, other := j, i
		if ns {
			line, other = i, j
		}
		art := isArterial(line)
		road := g.roadName(ns, line)
		sides := []float64{-8}
		height := 9.0
		if art {
			sides, height = []float64{-15, 15}, 12
		}
		for s, off := range sides {
			t := 12 + r.Float64()*6
			for k := 0; t <= Block-12; k++ {
				id := fmt.Sprintf("SP-%s%c%d", sid, 'a'+s, k)
				p := segPoint(ns, i, j, t, off)
				fns := []string{"light"}
				camera := art && k == 0 || r.Float64() < 0.04
				if camera {
					fns = append(fns, "camera")
				}
				env := art && k%8 == 3
				if env {
					fns = append(fns, "env_sensor")
				}
				if art && k%5 == 1 {
					fns = append(fns, "5g")
				}
				if art && k%10 == 6 {
					fns = append(fns, "display")
				}
				if art && k == 2 && s == 0 {
					fns = append(fns, "emergency_call")
				}
				if !art && k == 4 {
					fns = append(fns, "charger")
				}
				name := fmt.Sprintf("%s%d号杆", road.zh, other*6+k+1)
				g.ln.start(id)
				g.ln.str("name", name)
				g.ln.strs("functions", fns)
				g.ln.num("height_m", height, 1)
				g.ln.str("road", road.zh)
				g.ln.str("status", "ok")
				g.ln.point(p)
				g.emit("smart_poles")
				watts := 90
				if art {
					watts = 180
				}
				g.device(Device{ID: "LP-" + id[3:], Kind: "lamp", Name: name + "路灯", Feature: &FeatureRef{Layer: "smart_poles", SourceID: id}, Params: map[string]any{"watts": watts}}, p)
				if env {
					g.device(Device{ID: "EV-" + id[3:], Kind: "env", Name: name + "环境监测", Feature: &FeatureRef{Layer: "smart_poles", SourceID: id}}, p)
				}
				if camera {
					dir := 270.0 // looking back towards the intersection
					if ns {
						dir = 180
					}
					if k > 0 {
						dir = math.Mod(dir+180, 360)
					}
					g.ln.start("CAM-" + id[3:])
					g.ln.str("name", name+"摄像机")
					g.ln.str("pole", id)
					g.ln.num("direction_deg", dir, 0)
					g.ln.num("fov_deg", float64(60+r.IntN(5)*10), 0)
					g.ln.num("range_m", float64(80+r.IntN(8)*10), 0)
					g.ln.str("stream_url", "rtsp://video.dezhou.local/live/CAM-"+id[3:])
					g.ln.str("status", "ok")
					g.ln.point(p)
					g.emit("cameras")
				}
				t += PoleSpacing[0] + r.Float64()*(PoleSpacing[1]-PoleSpacing[0])
			}
		}
	})
}

// WeatherRadius is the distance within which every place should have a
// weather station (the plan: stations no more than 5 km apart).
const WeatherRadius = 5000.0

// weatherLattice returns the station grid over the municipal area.
func (g *gen) weatherLattice() (rows, cols int, dx, dy float64) {
	cw, ch := g.city[2]-g.city[0], g.city[3]-g.city[1]
	cols, rows = int(math.Ceil(cw/4500)), int(math.Ceil(ch/4500))
	return rows, cols, cw / float64(cols), ch / float64(rows)
}

func (g *gen) inWeatherGap(r, c, rows, cols int) bool { return r >= rows-3 && c >= cols-3 }

func (g *gen) weatherGapCenter() (float64, float64) {
	rows, cols, dx, dy := g.weatherLattice()
	return g.city[0] + (float64(cols-2)+0.5)*dx, g.city[1] + (float64(rows-2)+0.5)*dy
}

// genWeather places weather stations on a lattice under 4.5 km apart over
// the whole municipal area, leaving out a 3x3 group in the north-east: the
// one deliberate coverage gap.
func (g *gen) genWeather() {
	rows, cols, dx, dy := g.weatherLattice()
	n := 0
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			if g.inWeatherGap(r, c, rows, cols) {
				continue
			}
			rr := g.rng(13, r, c)
			p := xy{g.city[0] + (float64(c)+0.5)*dx + (rr.Float64()-0.5)*300, g.city[1] + (float64(r)+0.5)*dy + (rr.Float64()-0.5)*300}
			n++
			g.device(Device{ID: fmt.Sprintf("WS-%d-%d", r, c), Kind: "weather_station", Name: fmt.Sprintf("德州气象站%02d号", n)}, p)
		}
	}
}

// waterPipe draws a water pipe's kind, diameter (mm), material, depth (m)
// and year from r: mains on arterials (600 mm on the plant's trunk),
// distribution pipes elsewhere, some of them old cast iron.
func waterPipe(r *rand.Rand, main, trunk bool) (kind string, d float64, mat string, depth float64, year int) {
	kind, d, mat, depth = "distribution", []float64{150, 200}[r.IntN(2)], "PE", 1.5
	if main {
		kind, d, mat, depth = "main", []float64{400, 500}[r.IntN(2)], "DI", 1.8
		if trunk {
			d = 600
		}
	}
	year = 1995 + r.IntN(28)
	if !main && r.Float64() < 0.15 {
		mat, year = "CI", 1978+r.IntN(15)
	}
	return kind, d, mat, depth, year
}
