package inp

import (
	"fmt"

	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial/load"
)

// Node is where a model's node is defined and where it lies.
type Node struct {
	Kind    string // junction, tank, manhole, ...
	Section string // its section, upper case
	Line    int    // the line that defines it
	XY      [2]float64
	HasXY   bool // it has [COORDINATES]
}

func (n *Node) String() string {
	return fmt.Sprintf("%s [%s] line %d", n.Kind, n.Section, n.Line)
}

// Nodes indexes a model's nodes by id.
type Nodes map[string]*Node

// Add records the node defined by line l of section sec, with its
// coordinates when coords has them, and returns its record: on layer
// network_nodes, numbered by its line (so that a rejection's record number
// is the line to look at), with its point, or, without coordinates, a Decode
// that rejects it naming the node and its line.
func (ns Nodes) Add(file, sec, kind string, l Line, coords map[string][2]float64, props map[string]any) *load.Record {
	id := l.Fields[0]
	n := &Node{Kind: kind, Section: sec, Line: l.Num}
	n.XY, n.HasXY = coords[id]
	ns[id] = n
	r := &load.Record{File: file, Num: int64(l.Num), Layer: "network_nodes", SourceID: id, Props: props}
	if n.HasXY {
		r.Geom = orb.Point{n.XY[0], n.XY[1]}
	} else {
		err := errs.Invalid("geometry", "%s %s ([%s] line %d) has no coordinates in [COORDINATES]", kind, id, sec, l.Num)
		r.Decode = func(*load.Record) error { return err }
	}
	return r
}

// Link returns the record of the link defined by line l of section sec
// (kind, id, from and to nodes in its first three fields): on layer pipes,
// numbered by its line, its shape running from the from node through its
// vertices to the to node. When an end node is not defined or has no
// coordinates, the record's Decode rejects it naming that node (and the line
// that defines it).
func (ns Nodes) Link(file, sec, kind string, l Line, verts map[string][][2]float64, props map[string]any) *load.Record {
	id, from, to := l.Fields[0], l.Fields[1], l.Fields[2]
	r := &load.Record{File: file, Num: int64(l.Num), Layer: "pipes", SourceID: id, Props: props}
	link := fmt.Sprintf("%s %s ([%s] line %d)", kind, id, sec, l.Num)
	a, b := ns[from], ns[to]
	var err error
	switch {
	case a == nil && b == nil && from != to:
		err = errs.Invalid("nodes", "%s joins unknown nodes %q and %q", link, from, to)
	case a == nil:
		err = errs.Invalid("nodes", "%s joins unknown node %q", link, from)
	case b == nil:
		err = errs.Invalid("nodes", "%s joins unknown node %q", link, to)
	case !a.HasXY && !b.HasXY && from != to:
		err = errs.Invalid("geometry", "%s: its end nodes %s (%v) and %s (%v) have no coordinates in [COORDINATES]", link, from, a, to, b)
	case !a.HasXY:
		err = errs.Invalid("geometry", "%s: its from node %s (%v) has no coordinates in [COORDINATES]", link, from, a)
	case !b.HasXY:
		err = errs.Invalid("geometry", "%s: its to node %s (%v) has no coordinates in [COORDINATES]", link, to, b)
	}
	if err != nil {
		r.Decode = func(*load.Record) error { return err }
		return r
	}
	ls := orb.LineString{{a.XY[0], a.XY[1]}}
	for _, v := range verts[id] {
		ls = append(ls, orb.Point{v[0], v[1]})
	}
	r.Geom = append(ls, orb.Point{b.XY[0], b.XY[1]})
	return r
}
