package scenes

// dezhou is the centre of the sample district (the old city and the new
// districts along the Grand Canal).
var dezhou = [2]float64{116.30, 37.45}

func layer(name string, visible bool) SceneLayer { return SceneLayer{Layer: name, Visible: visible} }

func baseLayers() []SceneLayer {
	return []SceneLayer{
		layer("districts", true), layer("landuse", true), layer("water", true), layer("waterways", true),
		layer("roads", true), layer("parking_lots", false), layer("buildings", true),
	}
}

// show makes the named layers of ls visible.
func show(ls []SceneLayer, names ...string) []SceneLayer {
	for i := range ls {
		for _, n := range names {
			if ls[i].Layer == n {
				ls[i].Visible = true
			}
		}
	}
	return ls
}

// Builtins returns the built-in scenes: the use cases of the city's action
// plan, each a starting view that staff can copy and adapt.
func Builtins() []*Scene {
	return []*Scene{
		{
			ID: "city-overview", Name: "城市总览 City overview",
			Description: "The whole district in 3D with the city's headline indicators.",
			Spec: Spec{
				Camera: Camera{Center: dezhou, Zoom: 13.5, Pitch: 50, Bearing: -15},
				Layers: append(baseLayers(), layer("project_sites", true), layer("smart_poles", false)),
				Widgets: []Widget{
					{ID: "buildings", Kind: WidgetCount, Title: "建筑 Buildings", Layer: "buildings"},
					{ID: "floor-area", Kind: WidgetSum, Title: "楼层数 Floors", Layer: "buildings", Attr: "floors"},
					{ID: "devices", Kind: WidgetDevices, Title: "设备在线 Devices"},
					{ID: "alarms", Kind: WidgetAlarms, Title: "告警 Active alarms"},
				},
			},
		},
		{
			ID: "underground-networks", Name: "地下管网 Underground networks",
			Description: "Pipes by network below ground, valves and hydrants, with pipe lengths by network.",
			Spec: Spec{
				Camera: Camera{Center: dezhou, Zoom: 16, Pitch: 60, Bearing: 20},
				Layers: append(baseLayers(),
					SceneLayer{Layer: "pipes", Visible: true, Underground: true},
					SceneLayer{Layer: "network_nodes", Visible: true, Underground: true, Filter: map[string]any{"kind": []any{"valve", "hydrant", "tank", "source", "pump"}}}),
				Widgets: []Widget{
					{ID: "length-by-network", Kind: WidgetGroupBy, Title: "管线长度 Pipe length by network", Layer: "pipes", Group: "network", Attr: "length_m", Unit: "m"},
					{ID: "valves", Kind: WidgetCount, Title: "阀门 Valves", Layer: "network_nodes", Filter: map[string]any{"kind": "valve"}},
					{ID: "broken-valves", Kind: WidgetCount, Title: "故障阀门 Valves out of service", Layer: "network_nodes", Filter: map[string]any{"kind": "valve", "status": []any{"broken", "inaccessible"}}},
					{ID: "alarms", Kind: WidgetAlarms, Title: "管网告警 Alarms"},
				},
			},
		},
		{
			ID: "major-projects", Name: "重大项目 Major projects",
			Description: "Major project cloud supervision: every project on one map, totals by stage and type, investment and risk.",
			Spec: Spec{
				Camera: Camera{Center: dezhou, Zoom: 12.5, Pitch: 30},
				Layers: append(baseLayers(), layer("project_sites", true)),
				Widgets: []Widget{
					{ID: "by-stage", Kind: WidgetGroupBy, Title: "按阶段 By stage", Layer: "project_sites", Group: "stage"},
					{ID: "by-type", Kind: WidgetGroupBy, Title: "按类型 By type", Layer: "project_sites", Group: "type"},
					{ID: "investment", Kind: WidgetSum, Title: "总投资 Investment", Layer: "project_sites", Attr: "investment", Unit: "million CNY"},
					{ID: "high-risk", Kind: WidgetCount, Title: "高风险 High risk", Layer: "project_sites", Filter: map[string]any{"risk_level": "high"}},
				},
			},
		},
		{
			ID: "command", Name: "应急指挥 Command",
			Description: "One map for command staff: live alarms and device state over the city, cameras and poles.",
			Spec: Spec{
				Camera: Camera{Center: dezhou, Zoom: 14.5, Pitch: 45},
				Layers: append(baseLayers(), layer("smart_poles", true), layer("cameras", true), SceneLayer{Layer: "pipes", Visible: false, Underground: true}),
				Widgets: []Widget{
					{ID: "alarms", Kind: WidgetAlarms, Title: "告警 Active alarms"},
					{ID: "devices", Kind: WidgetDevices, Title: "设备 Devices"},
					{ID: "cameras", Kind: WidgetCount, Title: "摄像头 Cameras", Layer: "cameras"},
				},
			},
		},
		{
			ID: "smart-poles", Name: "智慧灯杆 Smart poles",
			Description: "Street lighting and pole functions: lamp state, faults, cameras, sensors and 5G.",
			Spec: Spec{
				Camera: Camera{Center: dezhou, Zoom: 16, Pitch: 40},
				Layers: append(baseLayers(), layer("smart_poles", true), layer("cameras", false)),
				Widgets: []Widget{
					{ID: "poles", Kind: WidgetCount, Title: "灯杆 Poles", Layer: "smart_poles"},
					{ID: "by-status", Kind: WidgetGroupBy, Title: "状态 Status", Layer: "smart_poles", Group: "status"},
					{ID: "devices", Kind: WidgetDevices, Title: "设备 Devices"},
				},
			},
		},
		{
			ID: "parking", Name: "停车诱导 Parking guidance",
			Description: "Parking lots with their capacity, for guidance from live occupancy.",
			Spec: Spec{
				Camera: Camera{Center: dezhou, Zoom: 14.5, Pitch: 30},
				Layers: show(baseLayers(), "parking_lots"),
				Widgets: []Widget{
					{ID: "lots", Kind: WidgetCount, Title: "停车场 Lots", Layer: "parking_lots"},
					{ID: "capacity", Kind: WidgetSum, Title: "车位 Spaces", Layer: "parking_lots", Attr: "capacity"},
				},
			},
		},
	}
}
