package dezhou

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
)

type box struct{ x0, y0, x1, y1 float64 }

func (b box) overlaps(o box) bool {
	return b.x0 < o.x1 && o.x0 < b.x1 && b.y0 < o.y1 && o.y0 < b.y1
}
func (b box) center() xy { return xy{(b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2} }

// blk is the block being generated.
type blk struct {
	bi, bj   int
	in       box // interior
	r        *rand.Rand
	compound string
	reserve  []box
	built    int
}

func (g *gen) genBlocks() {
	for bj := 0; bj < g.ny; bj++ {
		for bi := 0; bi < g.nx; bi++ {
			g.genBlock(bi, bj)
		}
	}
}

func (g *gen) genBlock(bi, bj int) {
	b := &blk{bi: bi, bj: bj, r: g.rng(2, bi, bj)}
	b.in = box{sx(bi) + margin(bi), sy(bj) + margin(bj), sx(bi+1) - margin(bi+1), sy(bj+1) - margin(bj+1)}
	b.compound = compoundStems[b.r.IntN(len(compoundStems))] + compoundSuffixes[b.r.IntN(len(compoundSuffixes))]
	id := fmt.Sprintf("%d-%d", bi, bj)
	zone := g.zones[bj*g.nx+bi]
	lu := func(class, name string) {
		g.ln.start("L-" + id)
		g.ln.str("class", class)
		g.ln.str("name", name)
		in := b.in
		g.ln.multiPolygon(rect(in.x0-4, in.y0-4, in.x1+4, in.y1+4))
		g.emit("landuse")
	}
	lot := func(kind string) {
		lb := box{b.in.x1 - 60, b.in.y0, b.in.x1, b.in.y0 + 45}
		b.reserve = append(b.reserve, lb)
		g.ln.start("PL-" + id)
		name := b.compound + "停车场"
		g.ln.str("name", name)
		capacity := int((lb.x1 - lb.x0) * (lb.y1 - lb.y0) / 25)
		g.ln.int("capacity", capacity)
		g.ln.str("kind", kind)
		g.ln.multiPolygon(rect(lb.x0, lb.y0, lb.x1, lb.y1))
		g.emit("parking_lots")
		c := lb.center()
		g.device(Device{ID: "PK-" + id, Kind: "parking", Name: name + "车位检测", Feature: &FeatureRef{Layer: "parking_lots", SourceID: "PL-" + id}, Params: map[string]any{"capacity": capacity}}, c)
	}
	switch zone {
	case zoneOldTown:
		lu("residential", "老城区")
		g.layoutOldTown(b)
	case zoneTowers:
		lu("residential", b.compound)
		if b.r.Float64() < 0.2 {
			lot("surface")
		}
		g.layoutShops(b)
		g.layoutTowers(b, 18, 33)
	case zoneMidrise:
		lu("residential", b.compound)
		g.layoutShops(b)
		g.layoutMidrise(b)
	case zoneCommercial:
		lu("commercial", "")
		lot("surface")
		g.layoutCommercial(b)
	case zoneIndustrial:
		lu("industrial", "")
		if b.r.Float64() < 0.35 {
			lot("surface")
		}
		g.layoutIndustrial(b)
	case zoneSchool:
		name := schoolNames[g.schoolN%len(schoolNames)]
		if g.schoolN >= len(schoolNames) {
			name = fmt.Sprintf("%s(%d校区)", name, g.schoolN/len(schoolNames)+1)
		}
		g.schoolN++
		lu("education", name)
		g.layoutSchool(b, name)
	case zoneHospital:
		name := hospitalNames[g.hospitalN%len(hospitalNames)]
		if g.hospitalN >= len(hospitalNames) {
			name = fmt.Sprintf("%s(%d院区)", name, g.hospitalN/len(hospitalNames)+1)
		}
		g.hospitalN++
		lu("public", name)
		lot("surface")
		g.layoutHospital(b, name)
	case zonePark:
		name := parkNames[g.parkN%len(parkNames)]
		g.parkN++
		lu("park", name)
	case zoneLake:
		lu("park", "新湖风景区")
		in := b.in
		c := in.center()
		rx, ry := (in.x1-in.x0)/2-15, (in.y1-in.y0)/2-15
		var ring []xy
		for k := 0; k < 24; k++ {
			a := 2 * math.Pi * float64(k) / 24
			ring = append(ring, xy{c.X + rx*math.Cos(a), c.Y + ry*math.Sin(a)})
		}
		ring = append(ring, ring[0])
		g.ln.start("W-XINHU")
		g.ln.str("name", "新湖")
		g.ln.str("class", "lake")
		g.ln.multiPolygon(ring)
		g.emit("water")
	case zoneProject:
		g.genProject(b, g.projOf[bj*g.nx+bi])
	case zoneWaterworks:
		lu("industrial", "高位水塔")
		c := b.in.center()
		g.building(b, box{c.X + 20, c.Y - 10, c.X + 40, c.Y + 5}, "高位水塔泵房", "public", 2, 1998)
	}
}

// building writes one building and its water service connection: a node
// of kind connection on the footprint's edge and a service pipe to the
// nearest junction of the water main along the block; at trunk level
// (Scale.Trunk) the attributes service_pipe (the main of the nearest
// street, which the connection taps) and service_diameter_mm.
func (g *gen) building(b *blk, bb box, name, use string, floors, year int) {
	for _, rv := range b.reserve {
		if bb.overlaps(rv) {
			return
		}
	}
	g.bcount++
	b.built++
	id := fmt.Sprintf("B%07d", g.bcount)
	c := bb.center()
	// nearest street side of the block
	dS, dN, dW, dE := c.Y-sy(b.bj), sy(b.bj+1)-c.Y, c.X-sx(b.bi), sx(b.bi+1)-c.X
	var road zhName
	var along float64
	var jid, tap string // the junction of the service pipe; at trunk level the pipe tapped
	var jp xy
	k := func(v float64) int { return min(3, max(1, int(math.Round(v/50)))) }
	switch m := min(dS, dN, dW, dE); m {
	case dS, dN:
		row := b.bj
		if m == dN {
			row = b.bj + 1
		}
		kk := k(c.X - sx(b.bi))
		jid = fmt.Sprintf("W-E%d-%d-%d", b.bi, row, kk)
		jp = wp(false, b.bi, row, float64(kk)*50)
		tap = trunkServicePipe(false, row, b.bi, b.bj)
		road, along = g.roadName(false, row), c.X
		if m == dN {
			along += 10
		}
	default:
		col := b.bi
		if m == dE {
			col = b.bi + 1
		}
		kk := k(c.Y - sy(b.bj))
		jid = fmt.Sprintf("W-N%d-%d-%d", col, b.bj, kk)
		jp = wp(true, col, b.bj, float64(kk)*50)
		tap = trunkServicePipe(true, col, b.bi, b.bj)
		road, along = g.roadName(true, col), c.Y
		if m == dE {
			along += 10
		}
	}
	num := int(along/20)*2 + 1
	height := float64(floors) * 3.0
	switch use {
	case "industrial":
		height = 8 + float64(b.r.IntN(7))
	case "residential":
		height = float64(floors) * 2.95
	case "commercial", "office", "hospital":
		height = float64(floors) * 3.9
	}
	g.ln.start(id)
	g.ln.str("name", name)
	g.ln.str("address", fmt.Sprintf("山东省德州市%s%s%d号", g.districtOf(c), road.zh, num))
	g.ln.str("use", use)
	g.ln.num("height_m", height, 1)
	g.ln.int("floors", floors)
	g.ln.int("year_built", year)
	d := 25.0 // the service connection's diameter
	switch {
	case floors >= 18 || use == "hospital":
		d = 100
	case use != "residential" || floors >= 5:
		d = 50
	}
	trunk := g.opts.Scale.Trunk
	if trunk {
		// the service connection as an attribute: the pipe it taps
		g.ln.str("service_pipe", tap)
		g.ln.num("service_diameter_mm", d, 0)
	}
	g.ln.multiPolygon(rect(bb.x0, bb.y0, bb.x1, bb.y1))
	g.emit("buildings")
	if !trunk {
		// the service connection: a pipe from the main to the footprint
		cp := xy{math.Min(math.Max(jp.X, bb.x0), bb.x1), math.Min(math.Max(jp.Y, bb.y0), bb.y1)}
		g.node("W-C"+id, "water", "connection", "", cp, 1.2)
		g.pipe("W-S"+id, "water", "service", jid, "W-C"+id, []xy{jp, cp}, d, "PE", 1.2, year, "")
	}
	if use != "residential" || b.built == 1 {
		base := (bb.x1 - bb.x0) * (bb.y1 - bb.y0) * float64(max(floors, 1)) * 0.05 / 1000 * 20
		g.device(Device{ID: "EM-" + id, Kind: "energy_meter", Name: nameOr(name, b.compound) + "电能表",
			Feature: &FeatureRef{Layer: "buildings", SourceID: id}, Params: map[string]any{"base_kw": math.Round(base*10) / 10, "use": use}}, c)
	}
}

func nameOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// tile fills area with w x d footprints separated by gx, gy, skipping a
// fraction of the places, and calls fn for each.
func tile(r *rand.Rand, area box, w, d, gx, gy, skip float64, fn func(box)) {
	nx := int((area.x1 - area.x0 + gx) / (w + gx))
	ny := int((area.y1 - area.y0 + gy) / (d + gy))
	if nx < 1 || ny < 1 {
		return
	}
	ox := area.x0 + ((area.x1-area.x0)-(float64(nx)*(w+gx)-gx))/2
	oy := area.y0 + ((area.y1-area.y0)-(float64(ny)*(d+gy)-gy))/2
	for j := 0; j < ny; j++ {
		for i := 0; i < nx; i++ {
			if skip > 0 && r.Float64() < skip {
				continue
			}
			x, y := ox+float64(i)*(w+gx), oy+float64(j)*(d+gy)
			fn(box{x, y, x + w, y + d})
		}
	}
}

func (g *gen) layoutShops(b *blk) {
	in := b.in
	tile(b.r, box{in.x0, in.y0, in.x1, in.y0 + 12}, 22, 12, 4, 0, 0.1, func(bb box) {
		g.building(b, bb, "", "retail", 2, 2000+b.r.IntN(20))
	})
}

func (g *gen) layoutTowers(b *blk, minF, maxF int) {
	in := b.in
	year := 2005 + b.r.IntN(18)
	n := 0
	tile(b.r, box{in.x0, in.y0 + 30, in.x1, in.y1}, 24, 22, 18, 32, 0.05, func(bb box) {
		n++
		g.building(b, bb, fmt.Sprintf("%s%d号楼", b.compound, n), "residential", minF+b.r.IntN(maxF-minF+1), year)
	})
}

func (g *gen) layoutMidrise(b *blk) {
	in := b.in
	year := 1988 + b.r.IntN(18)
	n := 0
	tile(b.r, box{in.x0, in.y0 + 24, in.x1, in.y1}, 58, 12, 12, 16, 0.05, func(bb box) {
		n++
		g.building(b, bb, fmt.Sprintf("%s%d号楼", b.compound, n), "residential", 5+b.r.IntN(3), year)
	})
}

func (g *gen) layoutOldTown(b *blk) {
	tile(b.r, b.in, 14, 12, 4, 5, 0.12, func(bb box) {
		use := "residential"
		if b.r.Float64() < 0.12 {
			use = "retail"
		}
		// courtyard houses vary a little in size
		bb.x1 -= b.r.Float64() * 3
		bb.y1 -= b.r.Float64() * 2
		g.building(b, bb, "", use, 1+b.r.IntN(2), 1930+b.r.IntN(60))
	})
}

func (g *gen) layoutCommercial(b *blk) {
	in := b.in
	name := ""
	if g.commercialN < len(commercialNames) {
		name = commercialNames[g.commercialN]
	}
	g.commercialN++
	year := 2008 + b.r.IntN(15)
	g.building(b, box{in.x0 + 5, in.y1 - 55, in.x0 + 75, in.y1 - 5}, name, "commercial", 4+b.r.IntN(4), year)
	g.building(b, box{in.x0 + 90, in.y1 - 45, in.x0 + 125, in.y1 - 10}, nameOr(name, b.compound+"商务")+"写字楼", "office", 15+b.r.IntN(16), year)
	g.building(b, box{in.x0 + 5, in.y0 + 5, in.x0 + 45, in.y0 + 60}, "", "office", 8+b.r.IntN(10), year+1)
	g.building(b, box{in.x0 + 60, in.y0 + 60, in.x0 + 100, in.y0 + 90}, "", "retail", 3, year)
}

func (g *gen) layoutIndustrial(b *blk) {
	year := 1995 + b.r.IntN(25)
	tile(b.r, b.in, 60+float64(b.r.IntN(3))*10, 35, 14, 16, 0.1, func(bb box) {
		g.building(b, bb, "", "industrial", 1, year)
	})
}

func (g *gen) layoutSchool(b *blk, name string) {
	in := b.in
	year := 1985 + b.r.IntN(35)
	g.building(b, box{in.x0 + 10, in.y1 - 30, in.x0 + 70, in.y1 - 15}, name+"教学楼", "school", 5, year)
	g.building(b, box{in.x0 + 10, in.y1 - 65, in.x0 + 70, in.y1 - 50}, name+"实验楼", "school", 4, year)
	g.building(b, box{in.x0 + 10, in.y0 + 10, in.x0 + 50, in.y0 + 40}, name+"体育馆", "school", 2, year+5)
}

func (g *gen) layoutHospital(b *blk, name string) {
	in := b.in
	year := 1995 + b.r.IntN(20)
	g.building(b, box{in.x0 + 10, in.y1 - 50, in.x0 + 80, in.y1 - 10}, name+"住院部", "hospital", 16+b.r.IntN(6), year)
	g.building(b, box{in.x0 + 10, in.y0 + 55, in.x0 + 70, in.y0 + 85}, name+"门诊楼", "hospital", 5, year)
	g.building(b, box{in.x0 + 90, in.y1 - 40, in.x0 + 120, in.y1 - 10}, name+"急诊中心", "hospital", 3, year+8)
}

var stages = []struct {
	stage  string
	weight float64
}{{"planned", 0.15}, {"approved", 0.15}, {"under_construction", 0.45}, {"completed", 0.15}, {"stalled", 0.10}}

func (g *gen) genProject(b *blk, p int) {
	pn := projectNames[p]
	r := g.rng(3, p, 0)
	u, stage := r.Float64(), "under_construction"
	for _, s := range stages {
		if u < s.weight {
			stage = s.stage
			break
		}
		u -= s.weight
	}
	progress := 0.0
	switch stage {
	case "approved":
		progress = float64(r.IntN(6))
	case "under_construction":
		progress = float64(10 + r.IntN(81))
	case "completed":
		progress = 100
	case "stalled":
		progress = float64(15 + r.IntN(46))
	}
	startYear := 2023 + r.IntN(3)
	if stage == "planned" || stage == "approved" {
		startYear = 2026 + r.IntN(2)
	}
	if stage == "completed" {
		startYear = 2021 + r.IntN(3)
	}
	startMonth := 1 + r.IntN(12)
	dur := 1 + r.IntN(4)
	risk := "low"
	switch {
	case stage == "stalled":
		risk = "high"
	case stage == "under_construction" && progress < 30 && startYear <= 2024:
		risk = "high"
	case stage == "under_construction" && progress < 60:
		risk = "medium"
	}
	id := fmt.Sprintf("PS-%02d", p+1)
	in := b.in
	g.ln.start(id)
	g.ln.str("name", pn.name)
	g.ln.str("type", pn.typ)
	g.ln.str("stage", stage)
	g.ln.num("investment", float64(50+r.IntN(4950)), 0)
	g.ln.num("progress_pct", progress, 0)
	g.ln.str("start_date", fmt.Sprintf("%d-%02d-01", startYear, startMonth))
	g.ln.str("planned_end", fmt.Sprintf("%d-%02d-01", startYear+dur, startMonth))
	g.ln.str("owner", pn.owner)
	g.ln.str("risk_level", risk)
	g.ln.multiPolygon(rect(in.x0-2, in.y0-2, in.x1+2, in.y1+2))
	g.emit("project_sites")
	class := "construction"
	if stage == "completed" {
		class = "residential"
	}
	g.ln.start("L-" + strconv.Itoa(b.bi) + "-" + strconv.Itoa(b.bj))
	g.ln.str("class", class)
	g.ln.str("name", pn.name)
	g.ln.multiPolygon(rect(in.x0-4, in.y0-4, in.x1+4, in.y1+4))
	g.emit("landuse")
	if stage == "completed" {
		b.compound = pn.name
		g.layoutTowers(b, 11, 26)
	}
}

// device writes one device registration at local point p.
func (g *gen) device(d Device, p xy) {
	lon, lat := g.f.lonLat(p)
	d.Lon, d.Lat = round7(lon), round7(lat)
	d.IntervalS = intervals[d.Kind]
	b, err := json.Marshal(d)
	if err != nil {
		g.devs.err = err
		return
	}
	g.devs.write(append(b, '\n'))
}
