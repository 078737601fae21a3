package tiles

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial"
)

// TileJSON is a TileJSON 3.0.0 document.
type TileJSON struct {
	TileJSON     string        `json:"tilejson"`
	Name         string        `json:"name"`
	Description  string        `json:"description"`
	Version      string        `json:"version"`
	Attribution  string        `json:"attribution,omitempty"`
	Scheme       string        `json:"scheme"`
	Tiles        []string      `json:"tiles"`
	MinZoom      int           `json:"minzoom"`
	MaxZoom      int           `json:"maxzoom"`
	Bounds       [4]float64    `json:"bounds"`
	Center       [3]float64    `json:"center"`
	VectorLayers []VectorLayer `json:"vector_layers"`
}

// VectorLayer describes one MVT layer in a TileJSON.
type VectorLayer struct {
	ID          string            `json:"id"`
	Description string            `json:"description,omitempty"`
	MinZoom     int               `json:"minzoom"`
	MaxZoom     int               `json:"maxzoom"`
	Fields      map[string]string `json:"fields"`
}

var mapDescriptions = map[string]string{
	MapBase:  "citytwin base map: districts, land use, water, roads, parking lots, buildings (height_m, floors, use for 3D)",
	MapInfra: "citytwin infrastructure: pipes by network, network nodes and valves, smart poles, cameras, project sites",
	MapHex:   "citytwin H3 hexagons: feature counts per cell at a resolution chosen by zoom",
}

func fieldType(t spatial.AttrType) string {
	switch t {
	case spatial.TypeInteger, spatial.TypeNumber:
		return "Number"
	case spatial.TypeBoolean:
		return "Boolean"
	}
	return "String"
}

// TileJSON returns the TileJSON of map name with tile URLs under base
// (scheme://host) and suffix (a query string, or ""). Returns ENOTFOUND for
// an unknown map.
func (s *Service) TileJSON(ctx context.Context, name, base, suffix string) (*TileJSON, error) {
	m, ok := s.tileMap(name)
	if !ok {
		return nil, &errs.Error{Code: errs.ENOTFOUND, Where: "map", Message: fmt.Sprintf("unknown map %q (maps: %s)", name, strings.Join(s.MapNames(), ", "))}
	}
	tj := &TileJSON{
		TileJSON: "3.0.0", Name: name, Description: mapDescriptions[name], Version: "1.0.0", Scheme: "xyz",
		Tiles:   []string{fmt.Sprintf("%s/tiles/%s/{z}/{x}/{y}.pbf%s", base, name, suffix)},
		MinZoom: m.minZoom, MaxZoom: m.maxZoom,
		Bounds: [4]float64{-180, -85.0511287798066, 180, 85.0511287798066},
	}
	if name == MapHex {
		fields := map[string]string{"cell": "String", "res": "Number", "count": "Number"}
		for _, n := range hexCountLayers {
			fields[n] = "Number"
		}
		tj.VectorLayers = []VectorLayer{{ID: "hex", Description: "H3 cells with feature counts", MinZoom: hexMinZoom, MaxZoom: MaxZoom, Fields: fields}}
	}
	for _, l := range m.layers {
		minz, maxz, ok := m.layerZooms(l.Name)
		if !ok {
			continue
		}
		fields := map[string]string{}
		for _, a := range l.Attributes {
			fields[a.Name] = fieldType(a.Type)
		}
		tj.VectorLayers = append(tj.VectorLayers, VectorLayer{ID: l.Name, Description: l.Title, MinZoom: minz, MaxZoom: maxz, Fields: fields})
	}
	layers := m.layers
	if name == MapHex {
		layers = s.registry.Layers()
	}
	if b, ok, err := s.extent(ctx, layers); err != nil {
		return nil, err
	} else if ok {
		tj.Bounds = b
		z := max(tj.MinZoom, 12)
		tj.Center = [3]float64{(b[0] + b[2]) / 2, (b[1] + b[3]) / 2, float64(z)}
	}
	return tj, nil
}

// extent returns the extent of the layers' features, if they have any.
func (s *Service) extent(ctx context.Context, layers []*spatial.Layer) ([4]float64, bool, error) {
	var parts []string
	var args []any
	for _, l := range layers {
		where, a := l.Where(len(args) + 1)
		args = append(args, a...)
		parts = append(parts, fmt.Sprintf("SELECT ST_Extent(geom) AS e FROM %s WHERE %s", l.TableIdent(), where))
	}
	if len(parts) == 0 {
		return [4]float64{}, false, nil
	}
	q := fmt.Sprintf(`SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(e) AS e FROM (%s) u) t WHERE e IS NOT NULL`,
		strings.Join(parts, " UNION ALL "))
	var b [4]float64
	err := s.pool.QueryRow(ctx, q, args...).Scan(&b[0], &b[1], &b[2], &b[3])
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return b, false, nil
		}
		return b, false, fmt.Errorf("tiles: extent: %w", err)
	}
	return b, true, nil
}
