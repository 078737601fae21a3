package network

import (
	"sort"

	"github.com/citytwin/citytwin/internal/errs"
)

// valve states of an element.
const (
	noValve    = iota
	operable   // an open valve that can be closed
	inoperable // an open valve that cannot be closed (broken, inaccessible)
	closed     // a closed valve (or closed pipe): nothing passes
)

// IsSource reports whether a node kind feeds the network.
func IsSource(kind string) bool { return kind == "reservoir" || kind == "tank" || kind == "source" }

func nodeValve(n *Node) int {
	if n.Kind != "valve" || n.Status == "planned" {
		return noValve
	}
	if n.ValveState == "closed" {
		return closed
	}
	if n.Status == "broken" || n.Status == "inaccessible" {
		return inoperable
	}
	return operable
}

func pipeValve(p *Pipe) int {
	if p.Status == "closed" || p.Status == "abandoned" || p.Status == "planned" {
		return closed
	}
	if p.Kind != "valve" {
		return noValve
	}
	if p.Status == "broken" {
		return inoperable
	}
	return operable
}

// lineValveAt returns the state of the valves on pipe p at its end, and the
// operable valve there, if any: closed when any is closed (or in shut),
// operable when one can be closed, inoperable when all that sit there are
// broken or inaccessible.
func (g *Graph) lineValveAt(p int32, end int8, shut []bool) (int, int32) {
	vs := g.lineValves[p]
	if len(vs) == 0 {
		return noValve, -1
	}
	st, op := noValve, int32(-1)
	for _, v := range vs {
		if v.end != end {
			continue
		}
		s := int(g.ns[v.node])
		if s == closed || (shut != nil && shut[v.node]) {
			return closed, -1
		}
		if s == operable && op < 0 {
			op = v.node
		}
		if s > st {
			st = s
		}
	}
	if op >= 0 {
		return operable, op
	}
	return st, -1
}

// downstream returns the pipe's (upstream, downstream) node indexes: by
// from/to, except in gravity networks (drainage, sewer) where the higher end
// (inverts, else node elevations) is upstream.
func (g *Graph) direction(p int32) (int32, int32) {
	pp := &g.Pipes[p]
	from, to := pp.From, pp.To
	if g.Network != "drainage" && g.Network != "sewer" {
		return from, to
	}
	if pp.FromInvert != nil && pp.ToInvert != nil {
		if *pp.ToInvert > *pp.FromInvert {
			return to, from
		}
		return from, to
	}
	if from >= 0 && to >= 0 && g.Nodes[from].Elevation != nil && g.Nodes[to].Elevation != nil && *g.Nodes[to].Elevation > *g.Nodes[from].Elevation {
		return to, from
	}
	return from, to
}

// Direction of a trace.
const (
	Connected  = "connected"
	Downstream = "downstream"
	Upstream   = "upstream"
)

// flood visits what can be reached from the start nodes and pipes, not
// entering skipped elements nor passing closed valves (shutNode and shutPipe
// add valves to treat as closed). dir is Connected, Downstream or Upstream.
func (g *Graph) flood(startNodes, startPipes []int32, dir string, skipNode, skipPipe, shutNode, shutPipe []bool) (vn, vp []bool) {
	vn = make([]bool, len(g.Nodes))
	vp = make([]bool, len(g.Pipes))
	var qn, qp []int32
	enterNode := func(n int32) {
		if n < 0 || vn[n] || (skipNode != nil && skipNode[n]) || g.lineValveNode[n] {
			return
		}
		if g.ns[n] == closed || (shutNode != nil && shutNode[n]) {
			return
		}
		vn[n] = true
		qn = append(qn, n)
	}
	enterPipe := func(p int32) {
		if vp[p] || (skipPipe != nil && skipPipe[p]) || g.ps[p] == closed || (shutPipe != nil && shutPipe[p]) {
			return
		}
		vp[p] = true
		qp = append(qp, p)
	}
	for _, n := range startNodes {
		enterNode(n)
	}
	for _, p := range startPipes {
		enterPipe(p)
	}
	for len(qn) > 0 || len(qp) > 0 {
		for len(qn) > 0 {
			n := qn[len(qn)-1]
			qn = qn[:len(qn)-1]
			for _, p := range g.adj[n] {
				if vp[p] {
					continue
				}
				pp := &g.Pipes[p]
				if dir != Connected {
					up, down := g.direction(p)
					if (dir == Downstream && up != n) || (dir == Upstream && down != n) {
						continue
					}
				}
				end := int8(0)
				if pp.From != n {
					end = 1
				}
				if st, _ := g.lineValveAt(p, end, shutNode); st == closed {
					continue
				}
				enterPipe(p)
			}
		}
		for len(qp) > 0 {
			p := qp[len(qp)-1]
			qp = qp[:len(qp)-1]
			pp := &g.Pipes[p]
			for end, n := range [2]int32{pp.From, pp.To} {
				if n < 0 || vn[n] {
					continue
				}
				if dir != Connected {
					up, down := g.direction(p)
					if (dir == Downstream && n != down) || (dir == Upstream && n != up) {
						continue
					}
				}
				if st, _ := g.lineValveAt(p, int8(end), shutNode); st == closed {
					continue
				}
				enterNode(n)
			}
		}
	}
	return vn, vp
}

// Trace is the result of a connected, upstream or downstream trace.
type Trace struct {
	Network   string  `json:"network"`
	Direction string  `json:"direction"`
	Pipes     []int64 `json:"pipes"`
	Nodes     []int64 `json:"nodes"`
}

// Trace follows the network from a node or a pipe (id 0 for none) in dir.
// Closed valves and closed pipes stop every trace. Returns ENOTFOUND for an
// unknown start, EINVALID for a bad direction.
func (g *Graph) Trace(node, pipe int64, dir string) (*Trace, error) {
	if dir != Connected && dir != Downstream && dir != Upstream {
		return nil, errs.Invalid("direction", "direction must be connected, upstream or downstream, got %q", dir)
	}
	var sn, sp []int32
	if node != 0 {
		i, ok := g.nodeIdx[node]
		if !ok {
			return nil, &errs.Error{Code: errs.ENOTFOUND, Where: "node", Message: "no node with this id in the network"}
		}
		if g.lineValveNode[i] {
			// A valve on a pipe: trace from its pipe.
			if p, ok := g.valvePipe[i]; ok {
				sp = append(sp, p)
			}
		} else {
			sn = append(sn, i)
		}
	} else {
		i, ok := g.pipeIdx[pipe]
		if !ok {
			return nil, &errs.Error{Code: errs.ENOTFOUND, Where: "pipe", Message: "no pipe with this id in the network"}
		}
		sp = append(sp, i)
	}
	vn, vp := g.flood(sn, sp, dir, nil, nil, nil, nil)
	// A start that a closed valve holds is still part of its own trace.
	for _, n := range sn {
		vn[n] = true
	}
	for _, p := range sp {
		vp[p] = true
	}
	return &Trace{Network: g.Network, Direction: dir, Pipes: g.pipeIDs(vp), Nodes: g.nodeIDs(vn)}, nil
}

func (g *Graph) pipeIDs(v []bool) []int64 {
	out := []int64{}
	for i, ok := range v {
		if ok {
			out = append(out, g.Pipes[i].ID)
		}
	}
	return out
}

func (g *Graph) nodeIDs(v []bool) []int64 {
	out := []int64{}
	for i, ok := range v {
		if ok {
			out = append(out, g.Nodes[i].ID)
		}
	}
	return out
}

// Valve is a valve of an isolation answer.
type Valve struct {
	// Type is "node" (a valve node that is a graph vertex), "line" (a valve
	// node on a pipe next to a node) or "link" (a pipe of kind valve).
	Type     string     `json:"type"`
	ID       int64      `json:"id"`
	SourceID string     `json:"source_id"`
	Name     string     `json:"name,omitempty"`
	Status   string     `json:"status"`
	Pipe     int64      `json:"pipe,omitempty"`
	Point    [2]float64 `json:"point"`
}

// Isolation is the answer to "this pipe broke: what do we close and who
// loses water".
type Isolation struct {
	Network string `json:"network"`
	Pipe    int64  `json:"pipe"`
	// Isolable is false when a source lies inside the segment, so that no
	// set of valves cuts the break off from it.
	Isolable bool `json:"isolable"`
	// Valves are the valves to close.
	Valves []Valve `json:"valves"`
	// Unneeded are valves bounding the segment that need not be closed,
	// since no source lies behind them.
	Unneeded []Valve `json:"unneeded_valves"`
	// Inoperable are the broken or inaccessible valves the trace passed.
	Inoperable       []Valve `json:"inoperable_valves"`
	SourcesInSegment []int64 `json:"sources_in_segment"`
	SegmentPipes     []int64 `json:"segment_pipes"`
	SegmentNodes     []int64 `json:"segment_nodes"`
	LostPipes        []int64 `json:"lost_pipes"`
	LostNodes        []int64 `json:"lost_nodes"`
}

type valveKey struct {
	typ string
	id  int64
}

type boundary struct {
	typ     string
	idx     int32 // node index (node, line) or pipe index (link)
	outNode int32 // outside element: a node index, or -1
	outPipe int32 // or a pipe index, or -1
}

// Isolate works out the valves to close for a break of pipe id and what
// loses supply. See the package documentation for the exact semantics.
// Returns ENOTFOUND for an unknown pipe.
func (g *Graph) Isolate(id int64) (*Isolation, error) {
	b, ok := g.pipeIdx[id]
	if !ok {
		return nil, &errs.Error{Code: errs.ENOTFOUND, Where: "pipe", Message: "no pipe with this id in the network"}
	}
	segN := make([]bool, len(g.Nodes))
	segP := make([]bool, len(g.Pipes))
	var bounds []boundary
	passed := map[valveKey]Valve{}
	var qn, qp []int32
	out := &Isolation{Network: g.Network, Pipe: id, Isolable: true}
	pass := func(v Valve) { passed[valveKey{v.Type, v.ID}] = v }

	enterNode := func(n int32) {
		if n < 0 || segN[n] {
			return
		}
		switch nodeValve(&g.Nodes[n]) {
		case closed:
			return
		case operable:
			bounds = append(bounds, boundary{"node", n, n, -1})
			return
		case inoperable:
			pass(g.nodeValveInfo("node", n, -1))
		}
		segN[n] = true
		qn = append(qn, n)
	}
	segP[b] = true
	qp = append(qp, b)
	for len(qn) > 0 || len(qp) > 0 {
		for len(qp) > 0 {
			p := qp[len(qp)-1]
			qp = qp[:len(qp)-1]
			pp := &g.Pipes[p]
			for end, n := range [2]int32{pp.From, pp.To} {
				if n < 0 || segN[n] {
					continue
				}
				st, v := g.lineValveAt(p, int8(end), nil)
				switch st {
				case closed:
					continue
				case operable:
					bounds = append(bounds, boundary{"line", v, n, -1})
					continue
				case inoperable:
					for _, lv := range g.lineValves[p] {
						if lv.end == int8(end) {
							pass(g.nodeValveInfo("line", lv.node, p))
						}
					}
				}
				enterNode(n)
			}
		}
		for len(qn) > 0 {
			n := qn[len(qn)-1]
			qn = qn[:len(qn)-1]
			if IsSource(g.Nodes[n].Kind) {
				out.SourcesInSegment = append(out.SourcesInSegment, g.Nodes[n].ID)
			}
			for _, p := range g.adj[n] {
				if segP[p] {
					continue
				}
				pp := &g.Pipes[p]
				end := int8(0)
				if pp.From != n {
					end = 1
				}
				st, v := g.lineValveAt(p, end, nil)
				switch st {
				case closed:
					continue
				case operable:
					bounds = append(bounds, boundary{"line", v, -1, p})
					continue
				case inoperable:
					for _, lv := range g.lineValves[p] {
						if lv.end == end {
							pass(g.nodeValveInfo("line", lv.node, p))
						}
					}
				}
				switch pipeValve(pp) {
				case closed:
					continue
				case operable:
					bounds = append(bounds, boundary{"link", p, -1, p})
					continue
				case inoperable:
					pass(g.linkValveInfo(p))
				}
				segP[p] = true
				qp = append(qp, p)
			}
		}
	}
	out.Isolable = len(out.SourcesInSegment) == 0

	// What sources reach without passing through the segment.
	var sources []int32
	for i := range g.Nodes {
		if IsSource(g.Nodes[i].Kind) && !segN[i] {
			sources = append(sources, int32(i))
		}
	}
	rn, rp := g.flood(sources, nil, Connected, segN, segP, nil, nil)
	shutN := make([]bool, len(g.Nodes))
	shutP := make([]bool, len(g.Pipes))
	seen := map[valveKey]bool{}
	for _, bd := range bounds {
		var v Valve
		var needed bool
		switch bd.typ {
		case "node":
			v = g.nodeValveInfo("node", bd.idx, -1)
			needed = rn[bd.idx]
			// A vertex valve all of whose pipes are in the segment isolates
			// nothing.
			inner := true
			for _, p := range g.adj[bd.idx] {
				inner = inner && segP[p]
			}
			if inner {
				continue
			}
		case "line":
			if bd.outNode >= 0 {
				if segN[bd.outNode] {
					continue
				}
				needed = rn[bd.outNode]
			} else {
				if segP[bd.outPipe] {
					continue
				}
				needed = rp[bd.outPipe]
			}
			v = g.nodeValveInfo("line", bd.idx, g.valvePipe[bd.idx])
		case "link":
			pp := &g.Pipes[bd.idx]
			if (pp.From < 0 || segN[pp.From]) && (pp.To < 0 || segN[pp.To]) {
				continue
			}
			v = g.linkValveInfo(bd.idx)
			needed = rp[bd.idx]
		}
		k := valveKey{v.Type, v.ID}
		if seen[k] {
			continue
		}
		seen[k] = true
		if needed {
			out.Valves = append(out.Valves, v)
			if bd.typ == "link" {
				shutP[bd.idx] = true
			} else {
				shutN[bd.idx] = true
			}
		} else {
			out.Unneeded = append(out.Unneeded, v)
		}
	}
	for _, v := range passed {
		out.Inoperable = append(out.Inoperable, v)
	}
	sortValves(out.Valves)
	sortValves(out.Unneeded)
	sortValves(out.Inoperable)
	out.SegmentPipes = g.pipeIDs(segP)
	out.SegmentNodes = g.nodeIDs(segN)

	// Supply before and after: lost = fed now, not fed once the valves are
	// shut and the broken pipe is out.
	allSources := sources
	for i := range g.Nodes {
		if IsSource(g.Nodes[i].Kind) && segN[i] {
			allSources = append(allSources, int32(i))
		}
	}
	bn, bp := g.baseline(allSources)
	skip := make([]bool, len(g.Pipes))
	skip[b] = true
	an, ap := g.flood(allSources, nil, Connected, nil, skip, shutN, shutP)
	out.LostPipes, out.LostNodes = []int64{}, []int64{}
	for i := range bp {
		// A link valve that is shut is a barrier, not a pipe losing supply.
		if bp[i] && !ap[i] && !shutP[i] {
			out.LostPipes = append(out.LostPipes, g.Pipes[i].ID)
		}
	}
	for i := range bn {
		if bn[i] && !an[i] {
			out.LostNodes = append(out.LostNodes, g.Nodes[i].ID)
		}
	}
	if out.Valves == nil {
		out.Valves = []Valve{}
	}
	if out.Unneeded == nil {
		out.Unneeded = []Valve{}
	}
	if out.Inoperable == nil {
		out.Inoperable = []Valve{}
	}
	if out.SourcesInSegment == nil {
		out.SourcesInSegment = []int64{}
	}
	return out, nil
}

// baseline is what the sources feed now (cached: the graph is immutable).
func (g *Graph) baseline(sources []int32) ([]bool, []bool) {
	g.baseOnce.Do(func() {
		var all []int32
		for i := range g.Nodes {
			if IsSource(g.Nodes[i].Kind) {
				all = append(all, int32(i))
			}
		}
		g.baseN, g.baseP = g.flood(all, nil, Connected, nil, nil, nil, nil)
	})
	return g.baseN, g.baseP
}

func sortValves(vs []Valve) {
	sort.Slice(vs, func(i, j int) bool {
		if vs[i].Type != vs[j].Type {
			return vs[i].Type < vs[j].Type
		}
		return vs[i].ID < vs[j].ID
	})
}

func (g *Graph) nodeValveInfo(typ string, n int32, pipe int32) Valve {
	nd := &g.Nodes[n]
	v := Valve{Type: typ, ID: nd.ID, SourceID: nd.SourceID, Name: nd.Name, Status: nd.Status, Point: [2]float64{nd.X, nd.Y}}
	if pipe >= 0 {
		v.Pipe = g.Pipes[pipe].ID
	}
	return v
}

func (g *Graph) linkValveInfo(p int32) Valve {
	pp := &g.Pipes[p]
	v := Valve{Type: "link", ID: pp.ID, SourceID: pp.SourceID, Status: pp.Status, Pipe: pp.ID}
	var xs, ys float64
	k := 0.0
	for _, n := range [2]int32{pp.From, pp.To} {
		if n >= 0 {
			xs += g.Nodes[n].X
			ys += g.Nodes[n].Y
			k++
		}
	}
	if k > 0 {
		v.Point = [2]float64{xs / k, ys / k}
	}
	return v
}
