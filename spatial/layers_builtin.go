package spatial

// Networks are the pipe network types.
var Networks = []string{"water", "gas", "heat", "drainage", "sewer", "power", "telecom"}

// NetworkColors is the command-view palette of the pipe networks.
var NetworkColors = map[string]string{
	"water": "#1f78ff", "gas": "#ffb000", "heat": "#ff4d4d", "drainage": "#2bb673",
	"sewer": "#8c6d1f", "power": "#c03cff", "telecom": "#00c2d1",
}

// builtinLayers returns the built-in layers in display order. Their tables
// are created by the migrations in migrations/.
func builtinLayers() []*Layer {
	return []*Layer{
		{
			Name: "districts", Title: "Districts", TitleZH: "行政区", Table: "districts", GeomType: "MultiPolygon", Group: "base",
			MinZoom: 8, MaxZoom: 22, Style: Style{Color: "#6b7a99"},
			Attributes: []Attribute{
				{Name: "name", Type: TypeText, Title: "Name"},
				{Name: "name_en", Type: TypeText, Title: "Name (English)"},
				{Name: "code", Type: TypeText, Title: "Code", TileMinZoom: 10},
				{Name: "population", Type: TypeInteger, Title: "Population", TileMinZoom: 10},
			},
		},
		{
			Name: "landuse", Title: "Land use", TitleZH: "用地", Table: "landuse", GeomType: "MultiPolygon", Group: "base",
			MinZoom: 10, MaxZoom: 22,
			Style: Style{Color: "#2a3342", ColorBy: "class", Palette: map[string]string{
				"residential": "#2b3445", "commercial": "#3a3350", "industrial": "#3d3a2e", "park": "#1f4030",
				"grass": "#1f4030", "forest": "#1b3a2a", "education": "#3b3040", "construction": "#4a3a22",
			}},
			Attributes: []Attribute{
				{Name: "class", Type: TypeText, Title: "Class"},
				{Name: "name", Type: TypeText, Title: "Name", TileMinZoom: 13},
			},
		},
		{
			Name: "water", Title: "Water", TitleZH: "水域", Table: "water", GeomType: "MultiPolygon", Group: "base",
			MinZoom: 8, MaxZoom: 22, Style: Style{Color: "#1b4f72"},
			Attributes: []Attribute{
				{Name: "name", Type: TypeText, Title: "Name"},
				{Name: "class", Type: TypeText, Title: "Class"},
			},
		},
		{
			Name: "waterways", Title: "Waterways", TitleZH: "河道", Table: "waterways", GeomType: "MultiLineString", Group: "base",
			MinZoom: 8, MaxZoom: 22, Style: Style{Color: "#2e86c1"},
			Attributes: []Attribute{
				{Name: "name", Type: TypeText, Title: "Name"},
				{Name: "class", Type: TypeText, Title: "Class"},
			},
		},
		{
			Name: "roads", Title: "Roads", TitleZH: "道路", Table: "roads", GeomType: "MultiLineString", Group: "base",
			MinZoom: 8, MaxZoom: 22,
			Style: Style{Color: "#8a94a6", ColorBy: "class", Palette: map[string]string{
				"motorway": "#e0a040", "trunk": "#d0b060", "primary": "#c8c8c8", "secondary": "#a8b0bc", "tertiary": "#909aa8", "residential": "#6c7686", "service": "#555e6c",
			}},
			Attributes: []Attribute{
				{Name: "name", Type: TypeText, Title: "Name", TileMinZoom: 12},
				{Name: "name_en", Type: TypeText, Title: "Name (pinyin)", TileMinZoom: 14},
				{Name: "class", Type: TypeText, Title: "Class"},
				{Name: "lanes", Type: TypeInteger, Title: "Lanes", TileMinZoom: 15},
				{Name: "oneway", Type: TypeBoolean, Title: "One way", TileMinZoom: 15},
			},
		},
		{
			Name: "parking_lots", Title: "Parking lots", TitleZH: "停车场", Table: "parking_lots", GeomType: "MultiPolygon", Group: "base",
			MinZoom: 13, MaxZoom: 22, Style: Style{Color: "#3d7bd9"},
			Attributes: []Attribute{
				{Name: "name", Type: TypeText, Title: "Name"},
				{Name: "capacity", Type: TypeInteger, Title: "Capacity"},
				{Name: "kind", Type: TypeText, Title: "Kind"},
			},
		},
		{
			Name: "buildings", Title: "Buildings", TitleZH: "建筑", Table: "buildings", GeomType: "MultiPolygon", Group: "base",
			MinZoom: 12, MaxZoom: 22,
			Style: Style{Color: "#9aa5b8", ColorBy: "use", Extrude: "height_m", Palette: map[string]string{
				"residential": "#8fa3bf", "commercial": "#6fa8dc", "office": "#7f9cf5", "industrial": "#b59f7b",
				"school": "#e3b35b", "education": "#e3b35b", "hospital": "#e07070", "public": "#c792ea", "retail": "#6fa8dc",
			}},
			Attributes: []Attribute{
				{Name: "name", Type: TypeText, Title: "Name", TileMinZoom: 14},
				{Name: "address", Type: TypeText, Title: "Address", TileMinZoom: 16},
				{Name: "use", Type: TypeText, Title: "Use"},
				{Name: "height_m", Type: TypeNumber, Title: "Height", Unit: "m"},
				{Name: "floors", Type: TypeInteger, Title: "Floors", TileMinZoom: 14},
				{Name: "year_built", Type: TypeInteger, Title: "Year built", TileMinZoom: 16},
			},
		},
		{
			Name: "pipes", Title: "Pipes", TitleZH: "管线", Table: "pipes", GeomType: "LineString", Group: "infra",
			MinZoom: 12, MaxZoom: 22,
			Style: Style{Color: "#1f78ff", ColorBy: "network", Palette: NetworkColors},
			Attributes: []Attribute{
				{Name: "network", Type: TypeText, Title: "Network", Enum: Networks},
				{Name: "kind", Type: TypeText, Title: "Kind"},
				{Name: "name", Type: TypeText, Title: "Name", TileMinZoom: 16},
				{Name: "diameter_mm", Type: TypeNumber, Title: "Diameter", Unit: "mm"},
				{Name: "material", Type: TypeText, Title: "Material", TileMinZoom: 16},
				{Name: "depth_m", Type: TypeNumber, Title: "Depth", Unit: "m"},
				{Name: "length_m", Type: TypeNumber, Title: "Length", Unit: "m", TileMinZoom: 16},
				{Name: "install_year", Type: TypeInteger, Title: "Installed", TileMinZoom: 16},
				{Name: "status", Type: TypeText, Title: "Status"},
				{Name: "from_node", Type: TypeText, Title: "From node", TileMinZoom: 16},
				{Name: "to_node", Type: TypeText, Title: "To node", TileMinZoom: 16},
				{Name: "from_invert_m", Type: TypeNumber, Title: "Upstream invert", Unit: "m", TileMinZoom: 16},
				{Name: "to_invert_m", Type: TypeNumber, Title: "Downstream invert", Unit: "m", TileMinZoom: 16},
				{Name: "tunnel", Type: TypeText, Title: "Utility tunnel", TileMinZoom: 14},
			},
		},
		{
			Name: "network_nodes", Title: "Network nodes", TitleZH: "管网节点", Table: "network_nodes", GeomType: "Point", Group: "infra",
			MinZoom: 14, MaxZoom: 22,
			Style: Style{Color: "#1f78ff", ColorBy: "kind", Palette: map[string]string{
				"valve": "#ffd400", "hydrant": "#ff3b30", "tank": "#5ac8fa", "reservoir": "#0a84ff", "source": "#0a84ff",
				"pump": "#bf5af2", "manhole": "#8e8e93", "outfall": "#30d158", "junction": "#636366",
			}},
			Attributes: []Attribute{
				{Name: "network", Type: TypeText, Title: "Network", Enum: Networks},
				{Name: "kind", Type: TypeText, Title: "Kind"},
				{Name: "name", Type: TypeText, Title: "Name", TileMinZoom: 16},
				{Name: "elevation_m", Type: TypeNumber, Title: "Elevation", Unit: "m", TileMinZoom: 16},
				{Name: "depth_m", Type: TypeNumber, Title: "Depth", Unit: "m", TileMinZoom: 16},
				{Name: "valve_state", Type: TypeText, Title: "Valve state", Enum: []string{"open", "closed"}},
				{Name: "status", Type: TypeText, Title: "Status"},
				{Name: "on_pipe", Type: TypeText, Title: "On pipe", TileMinZoom: 16},
				{Name: "near_node", Type: TypeText, Title: "Next to node", TileMinZoom: 16},
			},
		},
		{
			Name: "smart_poles", Title: "Smart poles", TitleZH: "智慧灯杆", Table: "smart_poles", GeomType: "Point", Group: "infra",
			MinZoom: 14, MaxZoom: 22,
			Style: Style{Color: "#ffd966", ColorBy: "status", Palette: map[string]string{
				"ok": "#ffd966", "fault": "#ff3b30", "offline": "#8e8e93", "maintenance": "#ff9f0a",
			}},
			Attributes: []Attribute{
				{Name: "name", Type: TypeText, Title: "Name", TileMinZoom: 16},
				{Name: "functions", Type: TypeTextArray, Title: "Functions"},
				{Name: "height_m", Type: TypeNumber, Title: "Height", Unit: "m", TileMinZoom: 16},
				{Name: "road", Type: TypeText, Title: "Road", TileMinZoom: 16},
				{Name: "status", Type: TypeText, Title: "Status"},
			},
		},
		{
			Name: "cameras", Title: "Cameras", TitleZH: "摄像头", Table: "cameras", GeomType: "Point", Group: "infra",
			MinZoom: 14, MaxZoom: 22, Style: Style{Color: "#64d2ff"},
			Attributes: []Attribute{
				{Name: "name", Type: TypeText, Title: "Name", TileMinZoom: 16},
				{Name: "pole", Type: TypeText, Title: "Pole", TileMinZoom: 16},
				{Name: "direction_deg", Type: TypeNumber, Title: "Direction", Unit: "°"},
				{Name: "fov_deg", Type: TypeNumber, Title: "Field of view", Unit: "°"},
				{Name: "range_m", Type: TypeNumber, Title: "Range", Unit: "m"},
				{Name: "stream_url", Type: TypeText, Title: "Stream", TileMinZoom: 22},
				{Name: "status", Type: TypeText, Title: "Status"},
			},
		},
		{
			Name: "project_sites", Title: "Project sites", TitleZH: "重大项目", Table: "project_sites", GeomType: "MultiPolygon", Group: "infra",
			MinZoom: 10, MaxZoom: 22,
			Style: Style{Color: "#ff9f0a", ColorBy: "stage", Palette: map[string]string{
				"planned": "#8e8e93", "approved": "#64d2ff", "under_construction": "#ff9f0a", "completed": "#30d158", "stalled": "#ff453a",
			}},
			Attributes: []Attribute{
				{Name: "name", Type: TypeText, Title: "Name"},
				{Name: "type", Type: TypeText, Title: "Type"},
				{Name: "stage", Type: TypeText, Title: "Stage", Enum: []string{"planned", "approved", "under_construction", "completed", "stalled"}},
				{Name: "investment", Type: TypeNumber, Title: "Investment", Unit: "million CNY"},
				{Name: "progress_pct", Type: TypeNumber, Title: "Progress", Unit: "%"},
				{Name: "start_date", Type: TypeDate, Title: "Start", TileMinZoom: 14},
				{Name: "planned_end", Type: TypeDate, Title: "Planned end", TileMinZoom: 14},
				{Name: "owner", Type: TypeText, Title: "Owner", TileMinZoom: 14},
				{Name: "risk_level", Type: TypeText, Title: "Risk", Enum: []string{"low", "medium", "high"}},
			},
		},
	}
}
