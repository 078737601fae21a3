// Package epanet reads EPANET .inp water network models: junctions,
// reservoirs and tanks become network_nodes (network "water"), pipes, pumps
// and valves become pipes (kind pipe, pump, valve) with their status, from
// and to nodes by id, and [VERTICES] as their shape. US customary units (GPM,
// CFS, MGD, IMGD, AFD) are converted to metres and millimetres. Coordinates
// are the model's own: the import needs their CRS (--crs).
//
// A link's status is open unless the model says closed: a pipe's own status
// field (after its minor loss, or in its place as EPANET reads it), else
// [STATUS]. A pipe with a check valve (status CV) stays kind pipe, status
// open (the layer's kinds and statuses have no check valve), with the
// property check_valve true; its minor loss is the property minor_loss.
//
// Records are numbered by the line that defines them. A node missing from
// [COORDINATES] is rejected naming it and its line, and so is each link
// that ends at it, naming that end node.
package epanet

import (
	"io"
	"strings"

	"github.com/citytwin/citytwin/importers/internal/inp"
	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial/load"
)

// Layers are the layers an EPANET model goes to.
var Layers = []string{"network_nodes", "pipes"}

// Scanner yields an EPANET model's nodes, then its links.
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
	if _, ok := f.Sections["PIPES"]; !ok {
		if _, ok := f.Sections["JUNCTIONS"]; !ok {
			return nil, errs.Invalid(file, "not an EPANET model: no [JUNCTIONS] or [PIPES]")
		}
	}
	us := true // EPANET's default flow unit is GPM
	if u := f.Option("UNITS"); u != "" {
		us = u == "GPM" || u == "CFS" || u == "MGD" || u == "IMGD" || u == "AFD"
	}
	lenM, diaMM := 1.0, 1.0
	if us {
		lenM, diaMM = 0.3048, 25.4
	}
	coords, verts, err := f.Coords()
	if err != nil {
		return nil, errs.Invalid(file, "%v", err)
	}
	var recs []*load.Record
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
	nodes := inp.Nodes{}
	for _, sec := range []struct{ name, kind string }{{"JUNCTIONS", "junction"}, {"RESERVOIRS", "reservoir"}, {"TANKS", "tank"}} {
		for _, l := range f.Sections[sec.name] {
			id := l.Fields[0]
			if len(l.Fields) < 2 {
				return nil, bad(sec.name, l, "%s needs an id and an elevation", sec.kind)
			}
			props := map[string]any{"network": "water", "kind": sec.kind, "name": id}
			elev, ok, err := num(sec.name, l, 1)
			if err != nil {
				return nil, err
			}
			if ok {
				if sec.kind == "reservoir" {
					props["head_m"] = elev * lenM
				} else {
					props["elevation_m"] = elev * lenM
				}
			}
			if sec.kind == "junction" {
				if d, ok, err := num(sec.name, l, 2); err != nil {
					return nil, err
				} else if ok {
					props["base_demand"] = d
				}
			}
			if sec.kind == "tank" {
				for i, k := range []string{"init_level_m", "min_level_m", "max_level_m", "tank_diameter_m"} {
					if v, ok, err := num(sec.name, l, 2+i); err != nil {
						return nil, err
					} else if ok {
						props[k] = v * lenM
					}
				}
			}
			recs = append(recs, nodes.Add(file, sec.name, sec.kind, l, coords, props))
		}
	}
	status := map[string]string{}
	for _, l := range f.Sections["STATUS"] {
		if len(l.Fields) >= 2 {
			switch linkStatus(l.Fields[1]) {
			case "closed":
				status[l.Fields[0]] = "closed"
			case "open", "active":
				status[l.Fields[0]] = "open"
			}
		}
	}
	for _, sec := range []struct{ name, kind string }{{"PIPES", "pipe"}, {"PUMPS", "pump"}, {"VALVES", "valve"}} {
		for _, l := range f.Sections[sec.name] {
			if len(l.Fields) < 3 {
				return nil, bad(sec.name, l, "%s needs an id and two nodes", sec.kind)
			}
			id, from, to := l.Fields[0], l.Fields[1], l.Fields[2]
			props := map[string]any{"network": "water", "kind": sec.kind, "name": id, "from_node": from, "to_node": to, "status": "open"}
			switch sec.kind {
			case "pipe":
				if v, ok, err := num(sec.name, l, 3); err != nil {
					return nil, err
				} else if ok {
					props["length_m"] = v * lenM
				}
				if v, ok, err := num(sec.name, l, 4); err != nil {
					return nil, err
				} else if ok {
					props["diameter_mm"] = v * diaMM
				}
				if v, ok, err := num(sec.name, l, 5); err != nil {
					return nil, err
				} else if ok {
					props["roughness"] = v
				}
				// EPANET's pipedata: with 7 fields the last is a minor loss
				// coefficient or a status; with 8, a minor loss then a status.
				if len(l.Fields) > 6 {
					st := ""
					if len(l.Fields) == 7 {
						st = pipeStatus(l.Fields[6])
					}
					if st == "" {
						v, err := inp.Float(l.Fields[6])
						if err != nil {
							return nil, bad(sec.name, l, "field 7: %q is neither a minor loss coefficient nor a status (OPEN, CLOSED, CV)", l.Fields[6])
						}
						props["minor_loss"] = v
					}
					if len(l.Fields) > 7 {
						if st = pipeStatus(l.Fields[7]); st == "" {
							return nil, bad(sec.name, l, "field 8: %q is not a status (OPEN, CLOSED, CV)", l.Fields[7])
						}
					}
					switch st {
					case "closed":
						props["status"] = "closed"
					case "cv":
						props["check_valve"] = true
					}
				}
			case "pump":
				props["pump"] = strings.Join(l.Fields[3:], " ")
			case "valve":
				if v, ok, err := num(sec.name, l, 3); err != nil {
					return nil, err
				} else if ok {
					props["diameter_mm"] = v * diaMM
				}
				if len(l.Fields) > 4 {
					props["valve_type"] = strings.ToUpper(l.Fields[4])
				}
				if len(l.Fields) > 5 {
					props["setting"] = l.Fields[5]
				}
			}
			if s, ok := status[id]; ok {
				props["status"] = s
			}
			r := nodes.Link(file, sec.name, sec.kind, l, verts, props)
			recs = append(recs, r)
		}
	}
	return recs, nil
}

// linkStatus returns the status keyword s stands for, in lower case: open,
// closed, active or cv; "" for anything else. Like EPANET's match(), a
// keyword matches a field that begins with it, in any case.
func linkStatus(s string) string {
	u := strings.ToUpper(s)
	for _, k := range []string{"OPEN", "CLOSED", "ACTIVE", "CV"} {
		if strings.HasPrefix(u, k) {
			return strings.ToLower(k)
		}
	}
	return ""
}

// pipeStatus is linkStatus for a pipe's own status field, which may be OPEN,
// CLOSED or CV.
func pipeStatus(s string) string {
	if st := linkStatus(s); st != "active" {
		return st
	}
	return ""
}
