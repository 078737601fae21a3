// Package swmm reads SWMM .inp drainage models: junctions (manholes),
// outfalls and storage units become network_nodes (network "drainage") with
// their invert elevation and depth; conduits become pipes (kind conduit) from
// their inlet to their outlet node, so that from/to follow the design flow
// direction, with the inverts at both ends (node invert + offset), length and
// the diameter (or height) of their cross-section. US units (FLOW_UNITS CFS,
// GPM, MGD) are converted to metres. Coordinates need their CRS (--crs).
package swmm

import (
	"io"
	"strings"

	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/importers/internal/inp"
	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial/load"
)

// Layers are the layers a SWMM model goes to.
var Layers = []string{"network_nodes", "pipes"}

// Scanner yields a SWMM model's nodes, then its conduits.
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
	n := int64(0)
	inverts := map[string]float64{}
	for _, sec := range []struct{ name, kind string }{{"JUNCTIONS", "manhole"}, {"OUTFALLS", "outfall"}, {"STORAGE", "storage"}, {"DIVIDERS", "junction"}} {
		for _, l := range f.Sections[sec.name] {
			if len(l.Fields) < 2 {
				return nil, bad(sec.name, l, "a node needs a name and an invert elevation")
			}
			id := l.Fields[0]
			n++
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
			r := &load.Record{File: file, Num: n, Layer: "network_nodes", SourceID: id, Props: props}
			if c, ok := coords[id]; ok {
				r.Geom = orb.Point{c[0], c[1]}
			}
			recs = append(recs, r)
		}
	}
	xs := map[string]inp.Line{}
	for _, l := range f.Sections["XSECTIONS"] {
		if len(l.Fields) >= 3 {
			xs[l.Fields[0]] = l
		}
	}
	offsetsAreElev := f.Option("LINK_OFFSETS") == "ELEVATION"
	for _, l := range f.Sections["CONDUITS"] {
		if len(l.Fields) < 4 {
			return nil, bad("CONDUITS", l, "a conduit needs a name, inlet and outlet nodes and a length")
		}
		id, from, to := l.Fields[0], l.Fields[1], l.Fields[2]
		n++
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
			off, _, err := num("CONDUITS", l, 5+i)
			if err != nil {
				return nil, err
			}
			if offsetsAreElev {
				props[end.attr] = off * m
			} else if inv, ok := inverts[end.node]; ok {
				props[end.attr] = inv + off*m
			}
		}
		if x, ok := xs[id]; ok {
			props["shape"] = strings.ToUpper(x.Fields[1])
			if g, err := inp.Float(x.Fields[2]); err == nil {
				props["diameter_mm"] = g * m * 1000
			}
		}
		r := &load.Record{File: file, Num: n, Layer: "pipes", SourceID: id, Props: props}
		_, fok := inverts[from]
		_, tok := inverts[to]
		a, aok := coords[from]
		b, bok := coords[to]
		if !fok || !tok {
			r.Decode = func(*load.Record) error {
				return errs.Invalid("nodes", "conduit %s joins unknown node %q or %q", id, from, to)
			}
		} else if aok && bok {
			ls := orb.LineString{{a[0], a[1]}}
			for _, v := range verts[id] {
				ls = append(ls, orb.Point{v[0], v[1]})
			}
			r.Geom = append(ls, orb.Point{b[0], b[1]})
		}
		recs = append(recs, r)
	}
	return recs, nil
}
