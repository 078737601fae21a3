package importers

import (
	"strings"

	"github.com/citytwin/citytwin/spatial"
	"github.com/citytwin/citytwin/spatial/load"
)

// fieldNames lists, per layer attribute, field names that exports commonly
// give it (lower case): English and pinyin-free Chinese headings of
// municipal tables, and OpenStreetMap's keys as Overpass writes them into
// GeoJSON. A field named like the attribute itself, in any case (NAME,
// Height_M), is its attribute too.
var fieldNames = map[string][]string{
	"height_m":     {"height", "bldg_h", "bldg_height", "building_height", "build_h", "高度", "建筑高度", "楼高", "房屋高度"},
	"floors":       {"levels", "building:levels", "building_levels", "floor", "num_floors", "nfloors", "storeys", "stories", "层数", "楼层", "楼层数", "地上层数", "建筑层数"},
	"name":         {"名称", "名字", "建筑名称", "项目名称", "道路名称"},
	"address":      {"addr", "地址", "门牌"},
	"use":          {"usage", "用途", "建筑用途", "使用性质"},
	"year_built":   {"year", "built_year", "yearbuilt", "construct_year", "建成年份", "建成年代", "竣工年份"},
	"diameter_mm":  {"diameter", "dn", "管径"},
	"material":     {"管材", "材质"},
	"depth_m":      {"depth", "埋深"},
	"install_year": {"建设年代", "敷设年代", "埋设年代", "敷设年份"},
	"elevation_m":  {"elevation", "elev", "高程", "地面高程"},
	"capacity":     {"车位数", "泊位数"},
	"lanes":        {"车道数"},
	"status":       {"状态"},
}

// genericFormats are the formats whose fields are whatever the exporting
// tool wrote; the other readers name their attributes themselves.
var genericFormats = map[string]bool{"geojson": true, "csv": true, "shapefile": true, "gpkg": true}

// fieldMap renames the fields of generic formats to the attributes of
// their layer: per layer, lower-cased field name → attribute.
type fieldMap map[string]map[string]string

func newFieldMap(layers []*spatial.Layer) fieldMap {
	m := fieldMap{}
	for _, l := range layers {
		names := map[string]string{}
		for _, a := range l.Attributes {
			for _, f := range fieldNames[a.Name] {
				names[f] = a.Name
			}
		}
		// An attribute's own name wins over another's alias.
		for _, a := range l.Attributes {
			names[strings.ToLower(a.Name)] = a.Name
		}
		m[l.Name] = names
	}
	return m
}

// apply renames r's fields to its layer's attributes, leaving alone any
// attribute already set (by the file or by --map, which goes first).
func (m fieldMap) apply(r *load.Record) {
	names := m[r.Layer]
	if len(names) == 0 {
		return
	}
	for f, v := range r.Props {
		a, ok := names[strings.ToLower(f)]
		if !ok || a == f {
			continue
		}
		if _, set := r.Props[a]; set {
			continue
		}
		r.Props[a] = v
		delete(r.Props, f)
	}
}
