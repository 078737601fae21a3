// Package osm reads OpenStreetMap extracts (.osm.pbf, .osm XML, .osm.bz2) into
// the twin's layers: buildings (height, levels), roads, water, waterways,
// land use, parking, street lamps and utility poles (smart_poles) and
// pipelines (pipes). Multipolygon relations are assembled with
// github.com/paulmach/osm/osmgeojson.
//
// The extract is held in memory while ways and relations are assembled, which
// suits city extracts (tens to hundreds of MB of PBF); planet-scale files need
// a pre-cut extract.
package osm

import (
	"context"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/osm"
	"github.com/paulmach/osm/osmgeojson"
	"github.com/paulmach/osm/osmpbf"
	"github.com/paulmach/osm/osmxml"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial/load"
)

// Layers are the layers OSM features go to.
var Layers = []string{"buildings", "roads", "water", "waterways", "landuse", "parking_lots", "smart_poles", "pipes"}

// Scanner yields the features of an OSM extract, one layer each.
type Scanner struct {
	File string

	features []*geojson.Feature
	// outlines are ways that outline a building relation (not buildings).
	outlines map[string]bool
	i        int
	n        int64
	rec      *load.Record
}

// NewScanner reads the whole extract from r: PBF when pbf is true, else XML.
// Returns EINVALID for a truncated or malformed file.
func NewScanner(ctx context.Context, r io.Reader, file string, pbf bool) (*Scanner, error) {
	o := &osm.OSM{}
	var sc osm.Scanner
	if pbf {
		s := osmpbf.New(ctx, r, runtime.GOMAXPROCS(0))
		sc = s
	} else {
		sc = osmxml.New(ctx, r)
	}
	defer sc.Close()
	for sc.Scan() {
		switch obj := sc.Object().(type) {
		case *osm.Node:
			o.Nodes = append(o.Nodes, obj)
		case *osm.Way:
			o.Ways = append(o.Ways, obj)
		case *osm.Relation:
			o.Relations = append(o.Relations, obj)
		}
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errs.Invalid(file, "malformed or truncated OSM file: %v", err)
	}
	if len(o.Nodes)+len(o.Ways)+len(o.Relations) == 0 {
		return nil, errs.Invalid(file, "no OSM data in the file")
	}
	fc, err := osmgeojson.Convert(o, osmgeojson.NoMeta(true), osmgeojson.NoRelationMembership(true))
	if err != nil {
		return nil, errs.Invalid(file, "assemble OSM geometries: %v", err)
	}
	return &Scanner{File: file, features: fc.Features, outlines: buildingOutlines(o.Relations)}, nil
}

// buildingOutlines returns the ids ("way/N") of the outer ways of
// multipolygon relations that are buildings themselves. Such a way traces
// the relation's building; when it carries building tags of its own as well
// (often with other tags, so that osmgeojson keeps it), it is the same
// building, not a second one. In Delaware's extract two campus buildings
// were imported twice that way, once with and once without their courtyard.
func buildingOutlines(rels osm.Relations) map[string]bool {
	out := map[string]bool{}
	for _, r := range rels {
		if t := r.Tags.Find("type"); t != "multipolygon" {
			continue
		}
		if b := r.Tags.Find("building"); b == "" || b == "no" {
			continue
		}
		for _, m := range r.Members {
			if m.Type == osm.TypeWay && m.Role == "outer" {
				out[fmt.Sprintf("way/%d", m.Ref)] = true
			}
		}
	}
	return out
}

// Scan advances to the next feature that belongs to a layer.
func (s *Scanner) Scan() bool {
	for s.i < len(s.features) {
		f := s.features[s.i]
		s.i++
		s.features[s.i-1] = nil
		tags, _ := f.Properties["tags"].(map[string]string)
		layer, props := Classify(tags, f.Geometry)
		if layer == "" {
			continue
		}
		id, _ := f.ID.(string)
		if layer == "buildings" && s.outlines[id] {
			continue
		}
		s.n++
		s.rec = &load.Record{File: s.File, Num: s.n, Layer: layer, SourceID: id, Geom: f.Geometry, Props: props}
		return true
	}
	return false
}

// Record returns the current feature.
func (s *Scanner) Record() *load.Record { return s.rec }

// Err returns nil: the file was read whole by NewScanner.
func (s *Scanner) Err() error { return nil }

// Close releases the features.
func (s *Scanner) Close() error { s.features = nil; return nil }

func polygonal(g orb.Geometry) bool {
	switch g.(type) {
	case orb.Polygon, orb.MultiPolygon:
		return true
	}
	return false
}

func linear(g orb.Geometry) bool {
	switch g.(type) {
	case orb.LineString, orb.MultiLineString:
		return true
	}
	return false
}

// Classify picks the layer of an OSM feature from its tags and geometry and
// maps its tags to the layer's attributes (the other tags are kept as
// properties named osm:KEY). It returns "" for features no layer takes.
func Classify(tags map[string]string, g orb.Geometry) (string, map[string]any) {
	if len(tags) == 0 || g == nil {
		return "", nil
	}
	props := map[string]any{}
	take := func(key, attr string) {
		if v, ok := tags[key]; ok && v != "" {
			props[attr] = v
		}
	}
	layer := ""
	_, isPoint := g.(orb.Point)
	switch {
	case tags["building"] != "" && tags["building"] != "no" && polygonal(g):
		layer = "building"
		if h, ok := parseLength(tags["height"]); ok {
			props["height_m"] = h
		}
		if l, err := strconv.ParseFloat(strings.TrimSpace(tags["building:levels"]), 64); err == nil && l >= 0 && l < 300 {
			props["floors"] = math.Round(l)
		}
		if u := tags["building"]; u != "yes" {
			props["use"] = u
		}
		take("name", "name")
		if st := tags["addr:street"]; st != "" {
			props["address"] = strings.TrimSpace(tags["addr:housenumber"] + " " + st)
		}
		if y, err := strconv.Atoi(strings.TrimSpace(tags["start_date"])); err == nil {
			props["year_built"] = y
		}
		layer = "buildings"
	case tags["highway"] == "street_lamp" && isPoint:
		layer = "smart_poles"
		props["functions"] = []string{"light"}
		take("name", "name")
		take("ref", "name")
	case tags["power"] == "pole" && isPoint:
		layer = "smart_poles"
		props["functions"] = []string{"power"}
		take("ref", "name")
	case tags["highway"] != "" && linear(g):
		layer = "roads"
		props["class"] = tags["highway"]
		take("name", "name")
		take("name:en", "name_en")
		if l, err := strconv.Atoi(tags["lanes"]); err == nil && l > 0 && l < 50 {
			props["lanes"] = l
		}
		switch tags["oneway"] {
		case "yes", "true", "1", "-1":
			props["oneway"] = true
		case "no", "false", "0":
			props["oneway"] = false
		}
	case tags["man_made"] == "pipeline" && linear(g):
		net := map[string]string{"water": "water", "gas": "gas", "heat": "heat", "hot_water": "heat", "sewage": "sewer", "rainwater": "drainage"}[tags["substance"]]
		if net == "" {
			return "", nil
		}
		layer = "pipes"
		props["network"] = net
		props["kind"] = "pipe"
		take("name", "name")
		if d, ok := parseLength(tags["diameter"]); ok {
			props["diameter_mm"] = d
		}
		take("material", "material")
	case (tags["amenity"] == "parking") && polygonal(g):
		layer = "parking_lots"
		take("name", "name")
		if c, err := strconv.Atoi(tags["capacity"]); err == nil && c >= 0 {
			props["capacity"] = c
		}
		take("parking", "kind")
	case (tags["natural"] == "water" || tags["waterway"] == "riverbank" || tags["landuse"] == "reservoir" || tags["landuse"] == "basin") && polygonal(g):
		layer = "water"
		take("name", "name")
		props["class"] = firstOf(tags["water"], tags["natural"], tags["waterway"], tags["landuse"])
	case tags["waterway"] != "" && linear(g):
		layer = "waterways"
		take("name", "name")
		props["class"] = tags["waterway"]
	case tags["landuse"] != "" && polygonal(g):
		layer = "landuse"
		props["class"] = tags["landuse"]
		take("name", "name")
	case (tags["leisure"] == "park" || tags["leisure"] == "garden") && polygonal(g):
		layer = "landuse"
		props["class"] = "park"
		take("name", "name")
	default:
		return "", nil
	}
	for k, v := range tags {
		props["osm:"+k] = v
	}
	return layer, props
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// parseLength reads an OSM length ("12", "12.5 m", "40 ft", "12'6\"") in metres.
func parseLength(s string) (float64, bool) {
	s = strings.TrimSpace(strings.ReplaceAll(s, ",", "."))
	if s == "" {
		return 0, false
	}
	mul := 1.0
	switch {
	case strings.HasSuffix(s, "ft"):
		mul, s = 0.3048, strings.TrimSpace(strings.TrimSuffix(s, "ft"))
	case strings.HasSuffix(s, "m"):
		s = strings.TrimSpace(strings.TrimSuffix(s, "m"))
	case strings.Contains(s, "'"):
		var ft, in float64
		if _, err := fmt.Sscanf(s, "%f'%f\"", &ft, &in); err == nil {
			return ft*0.3048 + in*0.0254, true
		}
		if _, err := fmt.Sscanf(s, "%f'", &ft); err == nil {
			return ft * 0.3048, true
		}
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f >= 1000 || math.IsNaN(f) {
		return 0, false
	}
	return f * mul, true
}
