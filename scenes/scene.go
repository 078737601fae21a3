package scenes

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"time"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial"
)

// Scene is a saved command view: where the camera looks, which layers show
// with which filters, and the KPI widgets beside the map.
type Scene struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Spec        Spec      `json:"spec"`
	Builtin     bool      `json:"builtin"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Spec is the content of a scene.
type Spec struct {
	Camera  Camera       `json:"camera"`
	Layers  []SceneLayer `json:"layers"`
	Widgets []Widget     `json:"widgets"`
}

// Camera is the map view: centre (lon, lat), zoom, pitch and bearing.
type Camera struct {
	Center  [2]float64 `json:"center"`
	Zoom    float64    `json:"zoom"`
	Pitch   float64    `json:"pitch"`
	Bearing float64    `json:"bearing"`
}

// SceneLayer says how one registry layer shows in the scene. Filter keeps
// features whose attributes equal the given values (any of a list).
type SceneLayer struct {
	Layer   string         `json:"layer"`
	Visible bool           `json:"visible"`
	Filter  map[string]any `json:"filter,omitempty"`
	// Underground draws the layer below ground (pipes) in the 3D view.
	Underground bool     `json:"underground,omitempty"`
	Opacity     *float64 `json:"opacity,omitempty"`
}

// Widget kinds.
const (
	WidgetCount   = "count"    // number of features of a layer (with filter)
	WidgetSum     = "sum"      // sum of a numeric attribute
	WidgetGroupBy = "group_by" // count (or sum of attr) per value of group
	WidgetAlarms  = "alarms"   // active alarms by severity
	WidgetDevices = "devices"  // devices online/offline/unknown
)

// Widget is a KPI beside the map, computed by Service.KPIs.
type Widget struct {
	ID     string         `json:"id"`
	Kind   string         `json:"kind"`
	Title  string         `json:"title"`
	Layer  string         `json:"layer,omitempty"`
	Attr   string         `json:"attr,omitempty"`
	Group  string         `json:"group,omitempty"`
	Filter map[string]any `json:"filter,omitempty"`
	Unit   string         `json:"unit,omitempty"`
}

var sceneID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// Validate checks s against the layer registry. Its errors are EINVALID and
// name the field at fault.
func (s *Scene) Validate(reg *spatial.Registry) error {
	if !sceneID.MatchString(s.ID) {
		return errs.Invalid("id", "scene id %q must be 1-64 lower-case letters, digits and '-'", s.ID)
	}
	if s.Name == "" || len(s.Name) > 200 {
		return errs.Invalid("name", "a scene needs a name of at most 200 bytes")
	}
	c := s.Spec.Camera
	switch {
	case !finite(c.Center[0], c.Center[1], c.Zoom, c.Pitch, c.Bearing):
		return errs.Invalid("spec.camera", "camera values must be finite numbers")
	case c.Center[0] < -180 || c.Center[0] > 180 || c.Center[1] < -85.06 || c.Center[1] > 85.06:
		return errs.Invalid("spec.camera.center", "centre (%g, %g) is not a longitude/latitude", c.Center[0], c.Center[1])
	case c.Zoom < 0 || c.Zoom > 22:
		return errs.Invalid("spec.camera.zoom", "zoom %g is outside 0..22", c.Zoom)
	case c.Pitch < 0 || c.Pitch > 85:
		return errs.Invalid("spec.camera.pitch", "pitch %g is outside 0..85", c.Pitch)
	case c.Bearing < -360 || c.Bearing > 360:
		return errs.Invalid("spec.camera.bearing", "bearing %g is outside -360..360", c.Bearing)
	}
	if len(s.Spec.Layers) > 100 || len(s.Spec.Widgets) > 50 {
		return errs.Invalid("spec", "at most 100 layers and 50 widgets")
	}
	for i, l := range s.Spec.Layers {
		where := fmt.Sprintf("spec.layers[%d]", i)
		layer, err := reg.Layer(l.Layer)
		if err != nil {
			return errs.Invalid(where+".layer", "unknown layer %q", l.Layer)
		}
		if err := checkFilter(layer, l.Filter, where+".filter"); err != nil {
			return err
		}
		if l.Opacity != nil && (*l.Opacity < 0 || *l.Opacity > 1) {
			return errs.Invalid(where+".opacity", "opacity must be within 0..1")
		}
	}
	ids := map[string]bool{}
	for i, w := range s.Spec.Widgets {
		where := fmt.Sprintf("spec.widgets[%d]", i)
		if w.ID == "" || ids[w.ID] {
			return errs.Invalid(where+".id", "each widget needs a unique id")
		}
		ids[w.ID] = true
		switch w.Kind {
		case WidgetAlarms, WidgetDevices:
			continue
		case WidgetCount, WidgetSum, WidgetGroupBy:
		default:
			return errs.Invalid(where+".kind", "unknown widget kind %q (count, sum, group_by, alarms, devices)", w.Kind)
		}
		layer, err := reg.Layer(w.Layer)
		if err != nil {
			return errs.Invalid(where+".layer", "unknown layer %q", w.Layer)
		}
		if w.Kind == WidgetSum || (w.Kind == WidgetGroupBy && w.Attr != "") {
			a, ok := layer.Attr(w.Attr)
			if !ok || (a.Type != spatial.TypeNumber && a.Type != spatial.TypeInteger) {
				return errs.Invalid(where+".attr", "layer %s has no numeric attribute %q", w.Layer, w.Attr)
			}
		}
		if w.Kind == WidgetGroupBy {
			a, ok := layer.Attr(w.Group)
			if !ok || a.Type == spatial.TypeTextArray {
				return errs.Invalid(where+".group", "layer %s has no attribute %q to group by", w.Layer, w.Group)
			}
		}
		if err := checkFilter(layer, w.Filter, where+".filter"); err != nil {
			return err
		}
	}
	return nil
}

func checkFilter(l *spatial.Layer, f map[string]any, where string) error {
	for k, v := range f {
		if _, ok := l.Attr(k); !ok {
			return errs.Invalid(where+"."+k, "layer %s has no attribute %q", l.Name, k)
		}
		switch v := v.(type) {
		case string, float64, bool:
		case []any:
			if len(v) == 0 || len(v) > 100 {
				return errs.Invalid(where+"."+k, "a list filter needs 1..100 values")
			}
			for _, x := range v {
				switch x.(type) {
				case string, float64, bool:
				default:
					return errs.Invalid(where+"."+k, "filter values must be strings, numbers or booleans")
				}
			}
		default:
			return errs.Invalid(where+"."+k, "filter values must be strings, numbers, booleans or lists of them")
		}
	}
	return nil
}

func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// specJSON is the stored form of a Spec.
func specJSON(s Spec) ([]byte, error) { return json.Marshal(s) }
