package tiles

import (
	"context"
	"sort"

	"github.com/citytwin/citytwin/spatial"
)

// The command-view palette.
const (
	colorBackground = "#0b1020"
	colorDistrict   = "#6b7a99"
	colorWater      = "#12324f"
	colorWaterway   = "#2e86c1"
	colorParking    = "#23395d"
)

// matchExpr is a MapLibre "match" expression picking a colour by attribute.
func matchExpr(attr string, palette map[string]string, def string) any {
	if len(palette) == 0 {
		return def
	}
	keys := make([]string, 0, len(palette))
	for k := range palette {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	e := []any{"match", []any{"get", attr}}
	for _, k := range keys {
		e = append(e, k, palette[k])
	}
	return append(e, def)
}

// Style returns the MapLibre style (v8) drawing the base and infra maps in
// the command-view palette, with 3D buildings. It names no external URL: no
// glyphs, no sprite, no text layers. base is scheme://host, suffix a query
// string carried into the TileJSON URLs.
func (s *Service) Style(ctx context.Context, base, suffix string) (map[string]any, error) {
	style := func(name string) spatial.Style {
		if l, err := s.registry.Layer(name); err == nil {
			return l.Style
		}
		return spatial.Style{}
	}
	zooms := func(mapName, layer string) (int, int) {
		if m, ok := s.tileMap(mapName); ok {
			if lo, hi, ok := m.layerZooms(layer); ok {
				return lo, hi
			}
		}
		return 0, MaxZoom
	}
	src := func(m string) map[string]any {
		return map[string]any{"type": "vector", "url": base + "/tiles/" + m + ".json" + suffix}
	}
	layer := func(id, typ, source, srcLayer string, paint map[string]any) map[string]any {
		l := map[string]any{"id": id, "type": typ, "source": source, "source-layer": srcLayer, "paint": paint}
		mapName := source
		lo, _ := zooms(mapName, srcLayer)
		if lo > 0 {
			l["minzoom"] = lo
		}
		return l
	}
	roads, landuse, buildings := style("roads"), style("landuse"), style("buildings")
	pipes, nodes, poles, sites := style("pipes"), style("network_nodes"), style("smart_poles"), style("project_sites")

	layers := []any{
		map[string]any{"id": "background", "type": "background", "paint": map[string]any{"background-color": colorBackground}},
		layer("landuse", "fill", MapBase, "landuse", map[string]any{
			"fill-color":   matchExpr("class", landuse.Palette, landuse.Color),
			"fill-opacity": 0.8,
		}),
		layer("water", "fill", MapBase, "water", map[string]any{"fill-color": colorWater}),
		layer("waterways", "line", MapBase, "waterways", map[string]any{
			"line-color": colorWaterway,
			"line-width": []any{"interpolate", []any{"linear"}, []any{"zoom"}, 10, 0.5, 16, 3},
		}),
		layer("parking-lots", "fill", MapBase, "parking_lots", map[string]any{
			"fill-color": colorParking, "fill-opacity": 0.8, "fill-outline-color": "#3d7bd9",
		}),
		layer("districts-outline", "line", MapBase, "districts", map[string]any{
			"line-color": colorDistrict, "line-width": 1.5, "line-dasharray": []any{4, 2},
		}),
		layer("roads", "line", MapBase, "roads", map[string]any{
			"line-color": matchExpr("class", roads.Palette, roads.Color),
			"line-width": []any{"interpolate", []any{"exponential", 1.6}, []any{"zoom"},
				10, []any{"match", []any{"get", "class"}, []any{"motorway", "trunk", "primary"}, 1.2, 0.4},
				16, []any{"match", []any{"get", "class"}, []any{"motorway", "trunk", "primary"}, 8, []any{"secondary", "tertiary"}, 5, 2.5}},
			"line-opacity": 0.9,
		}),
		layer("project-sites", "fill", MapInfra, "project_sites", map[string]any{
			"fill-color":   matchExpr("stage", sites.Palette, sites.Color),
			"fill-opacity": 0.25,
		}),
		layer("project-sites-outline", "line", MapInfra, "project_sites", map[string]any{
			"line-color": matchExpr("stage", sites.Palette, sites.Color),
			"line-width": 2,
		}),
		layer("buildings-3d", "fill-extrusion", MapBase, "buildings", map[string]any{
			"fill-extrusion-color":   matchExpr("use", buildings.Palette, buildings.Color),
			"fill-extrusion-height":  []any{"coalesce", []any{"get", "height_m"}, 10},
			"fill-extrusion-base":    0,
			"fill-extrusion-opacity": 0.85,
		}),
		layer("pipes", "line", MapInfra, "pipes", map[string]any{
			"line-color": matchExpr("network", pipes.Palette, pipes.Color),
			"line-width": []any{"interpolate", []any{"linear"}, []any{"zoom"}, 12, 1, 18,
				[]any{"max", 2, []any{"/", []any{"coalesce", []any{"get", "diameter_mm"}, 200}, 60}}},
			"line-opacity": []any{"match", []any{"get", "status"}, []any{"abandoned", "planned"}, 0.4, 0.95},
		}),
		layer("network-nodes", "circle", MapInfra, "network_nodes", map[string]any{
			"circle-color":        matchExpr("kind", nodes.Palette, nodes.Color),
			"circle-radius":       []any{"interpolate", []any{"linear"}, []any{"zoom"}, 14, 2, 18, 6},
			"circle-stroke-color": []any{"match", []any{"get", "valve_state"}, "closed", "#ff3b30", "#0b1020"},
			"circle-stroke-width": []any{"match", []any{"get", "valve_state"}, "closed", 2, 0.5},
		}),
		layer("smart-poles", "circle", MapInfra, "smart_poles", map[string]any{
			"circle-color":        matchExpr("status", poles.Palette, poles.Color),
			"circle-radius":       []any{"interpolate", []any{"linear"}, []any{"zoom"}, 14, 2.5, 18, 7},
			"circle-stroke-color": "#0b1020",
			"circle-stroke-width": 1,
		}),
		layer("cameras", "circle", MapInfra, "cameras", map[string]any{
			"circle-color":        style("cameras").Color,
			"circle-radius":       []any{"interpolate", []any{"linear"}, []any{"zoom"}, 14, 2, 18, 5},
			"circle-stroke-color": "#0b1020",
			"circle-stroke-width": 1,
		}),
	}
	hex := layer("hex", "fill", MapHex, "hex", map[string]any{
		"fill-color": []any{"interpolate", []any{"linear"}, []any{"get", "count"},
			0, "#10243a", 10, "#1f6f8b", 100, "#f2c14e", 1000, "#ff4d4d"},
		"fill-opacity":       0.55,
		"fill-outline-color": "#0b1020",
	})
	hex["layout"] = map[string]any{"visibility": "none"}
	layers = append(layers, hex)
	center, zoom := []float64{0, 0}, 2.0
	if m, ok := s.tileMap(MapBase); ok {
		b, ok, err := s.extent(ctx, m.layers)
		if err != nil {
			return nil, err
		}
		if ok {
			center, zoom = []float64{(b[0] + b[2]) / 2, (b[1] + b[3]) / 2}, 14
		}
	}
	return map[string]any{
		"version": 8,
		"name":    "citytwin command view",
		"metadata": map[string]any{
			"citytwin:sources": []string{MapBase, MapInfra, MapHex},
		},
		"center": center,
		"zoom":   zoom,
		"pitch":  45,
		"light":  map[string]any{"anchor": "viewport", "color": "#ffffff", "intensity": 0.35},
		"sources": map[string]any{
			MapBase:  src(MapBase),
			MapInfra: src(MapInfra),
			MapHex:   src(MapHex),
		},
		"layers": layers,
	}, nil
}
