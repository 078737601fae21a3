// Package swmm reads SWMM .inp drainage models: junctions (manholes),
// outfalls, storage units and dividers become network_nodes (network
// "drainage") with their invert elevation and depth; conduits, orifices,
// weirs, outlets and pumps become pipes from their inlet to their outlet
// node, so that from/to follow the design flow direction and network traces
// run through every link, shaped by [VERTICES].
//
// Conduits (kind conduit) carry their length, roughness, the diameter (or
// height) of their cross-section and the inverts at both ends
// (from_invert_m, to_invert_m): the node's invert plus the offset with
// LINK_OFFSETS DEPTH (the default), the offset itself with ELEVATION; an
// offset "*" (or none) is the node's invert. Orifices, weirs and outlets
// have kind and link_type orifice, weir or outlet, their type (orifice_type,
// weir_type, outlet_type), the cross-section of orifices and weirs, and as
// both inverts the elevation of their opening or crest, given like an
// offset at the inlet node. Pumps have kind pump, link_type pump,
// pump_curve, and status open or closed (Status ON or OFF at the start).
//
// Records are numbered by the line that defines them. A node missing from
// [COORDINATES] is rejected naming it and its line, and so is each link
// that ends at it, naming that end node. US units (FLOW_UNITS CFS, GPM,
// MGD) are converted to metres. Coordinates need their CRS (--crs).
package swmm

import (
	"io"
	"strings"

	"github.com/citytwin/citytwin/importers/internal/inp"
	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial/load"
)

// Layers are the layers a SWMM model goes to.
var Layers = []string{"network_nodes", "pipes"}

// Scanner yields a SWMM model's nodes, then its links.
type Scanner struct {
	*inp.Records
}

// NewScanner reads the model from r. Returns EINVALID for a malformed file.
func NewScanner(r io.Reader, file string) (*Scanner, error) {
	f, err := inp.Parse(r, file)
	if err != nil {
		return nil, err
	}
	recs, err := build(f, file)
	if err != nil {
		return nil, err
	}
	return &Scanner{inp.NewRecords(recs)}, nil
}

func build(f *inp.File, file string) ([]*load.Record, error) {
	if _, ok := f.Sections["CONDUITS"]; !ok {
		if _, ok := f.Sections["JUNCTIONS"]; !ok {
			return nil, errs.Invalid(file, "not a SWMM model: no [JUNCTIONS] or [CONDUITS]")
		}
	}
	m := 1.0
	switch f.Option("FLOW_UNITS") {
	case "CFS", "GPM", "MGD", "":
		m = 0.3048
	}
	coords, verts, err := f.Coords()
	if err != nil {
		return nil, errs.Invalid(file, "%v", err)
	}
	bad := func(sec string, l inp.Line, format string, a ...any) error {
		return errs.Invalid(file, "["+sec+"] line %d: "+format, append([]any{l.Num}, a...)...)
	}
	num := func(sec string, l inp.Line, i int) (float64, bool, error) {
		if i >= len(l.Fields) {
			return 0, false, nil
		}
		v, err := inp.Float(l.Fields[i])
		if err != nil {
			return 0, false, bad(sec, l, "field %d: %q is not a number", i+1, l.Fields[i])
		}
		return v, true, nil
	}
	var recs []*load.Record
	nodes := inp.Nodes{}
	inverts := map[string]float64{}
	for _, sec := range []struct{ name, kind string }{{"JUNCTIONS", "manhole"}, {"OUTFALLS", "outfall"}, {"STORAGE", "storage"}, {"DIVIDERS", "junction"}} {
		for _, l := range f.Sections[sec.name] {
			if len(l.Fields) < 2 {
				return nil, bad(sec.name, l, "a node needs a name and an invert elevation")
			}
			id := l.Fields[0]
			inv, _, err := num(sec.name, l, 1)
			if err != nil {
				return nil, err
			}
			inverts[id] = inv * m
			props := map[string]any{"network": "drainage", "kind": sec.kind, "name": id, "elevation_m": inv * m}
			if sec.kind == "manhole" || sec.kind == "storage" {
				if d, ok, err := num(sec.name, l, 2); err != nil {
					return nil, err
				} else if ok {
					props["depth_m"] = d * m
				}
			}
			if sec.kind == "outfall" && len(l.Fields) > 2 {
				props["outfall_type"] = strings.ToUpper(l.Fields[2])
			}
			recs = append(recs, nodes.Add(file, sec.name, sec.kind, l, coords, props))
		}
	}
	xs := map[string]inp.Line{}
	for _, l := range f.Sections["XSECTIONS"] {
		if len(l.Fields) >= 3 {
			xs[l.Fields[0]] = l
		}
	}
	offsetsAreElev := f.Option("LINK_OFFSETS") == "ELEVATION"
	// invert returns the elevation of a link's end at node from field i: the
	// node's invert plus the offset (LINK_OFFSETS DEPTH, the default) or the
	// offset itself (ELEVATION). "*", or no field, puts it at the node's
	// invert; ok is false when that invert is unknown.
	invert := func(sec string, l inp.Line, i int, node string) (v float64, ok bool, err error) {
		inv, known := inverts[node]
		if i >= len(l.Fields) || l.Fields[i] == "*" {
			return inv, known, nil
		}
		off, err := inp.Float(l.Fields[i])
		if err != nil {
			return 0, false, bad(sec, l, "field %d: %q is neither a number nor *", i+1, l.Fields[i])
		}
		if offsetsAreElev {
			return off * m, true, nil
		}
		return inv + off*m, known, nil
	}
	xsection := func(id string, props map[string]any) {
		if x, ok := xs[id]; ok {
			props["shape"] = strings.ToUpper(x.Fields[1])
			if g, err := inp.Float(x.Fields[2]); err == nil {
				props["diameter_mm"] = g * m * 1000
			}
		}
	}
	for _, l := range f.Sections["CONDUITS"] {
		if len(l.Fields) < 4 {
			return nil, bad("CONDUITS", l, "a conduit needs a name, inlet and outlet nodes and a length")
		}
		id, from, to := l.Fields[0], l.Fields[1], l.Fields[2]
		props := map[string]any{"network": "drainage", "kind": "conduit", "name": id, "from_node": from, "to_node": to}
		if v, ok, err := num("CONDUITS", l, 3); err != nil {
			return nil, err
		} else if ok {
			props["length_m"] = v * m
		}
		if v, ok, err := num("CONDUITS", l, 4); err != nil {
			return nil, err
		} else if ok {
			props["roughness"] = v
		}
		for i, end := range []struct{ node, attr string }{{from, "from_invert_m"}, {to, "to_invert_m"}} {
			if v, ok, err := invert("CONDUITS", l, 5+i, end.node); err != nil {
				return nil, err
			} else if ok {
				props[end.attr] = v
			}
		}
		xsection(id, props)
		recs = append(recs, nodes.Link(file, "CONDUITS", "conduit", l, verts, props))
	}
	// Regulators and pumps: the opening of an orifice, the crest of a weir
	// and the outlet's opening lie at one elevation, its field (offset or
	// elevation) at the inlet node, and they have no length.
	for _, sec := range []struct {
		name, kind string
		offset     int    // field of the offset or crest height, -1 for none
		typ        string // property for the field after the two nodes
	}{
		{"ORIFICES", "orifice", 4, "orifice_type"},
		{"WEIRS", "weir", 4, "weir_type"},
		{"OUTLETS", "outlet", 3, ""},
		{"PUMPS", "pump", -1, "pump_curve"},
	} {
		for _, l := range f.Sections[sec.name] {
			if len(l.Fields) < 3 {
				return nil, bad(sec.name, l, "%s needs a name, inlet and outlet nodes", articled(sec.kind))
			}
			id, from, to := l.Fields[0], l.Fields[1], l.Fields[2]
			props := map[string]any{"network": "drainage", "kind": linkKinds[sec.kind], "link_type": sec.kind, "name": id, "from_node": from, "to_node": to}
			if sec.typ != "" && len(l.Fields) > 3 {
				props[sec.typ] = l.Fields[3]
				if sec.kind != "pump" {
					props[sec.typ] = strings.ToUpper(l.Fields[3])
				}
			}
			if sec.offset >= 0 {
				if v, ok, err := invert(sec.name, l, sec.offset, from); err != nil {
					return nil, err
				} else if ok {
					props["from_invert_m"] = v
					props["to_invert_m"] = v
				}
			}
			switch sec.kind {
			case "orifice", "weir":
				xsection(id, props)
			case "outlet":
				if len(l.Fields) > 4 {
					props["outlet_type"] = strings.ToUpper(l.Fields[4])
				}
			case "pump":
				// Status ON (the default) or OFF: whether it runs at the start.
				if len(l.Fields) > 4 {
					switch strings.ToUpper(l.Fields[4]) {
					case "ON":
						props["status"] = "open"
					case "OFF":
						props["status"] = "closed"
					default:
						return nil, bad(sec.name, l, "field 5: %q is not a pump status (ON, OFF)", l.Fields[4])
					}
				} else {
					props["status"] = "open"
				}
			}
			recs = append(recs, nodes.Link(file, sec.name, sec.kind, l, verts, props))
		}
	}
	return recs, nil
}

// linkKinds maps SWMM's link types to the pipes layer's kind (migration
// 0690 added orifice, weir and outlet).
var linkKinds = map[string]string{"conduit": "conduit", "orifice": "orifice", "weir": "weir", "outlet": "outlet", "pump": "pump"}

func articled(kind string) string {
	if strings.IndexByte("aeiou", kind[0]) >= 0 {
		return "an " + kind
	}
	return "a " + kind
}
