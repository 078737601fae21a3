package spatial

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/citytwin/citytwin/internal/errs"
)

// AttrType is the type of a layer attribute, as stored in its column.
type AttrType string

// Attribute types.
const (
	TypeText      AttrType = "text"
	TypeInteger   AttrType = "integer"
	TypeNumber    AttrType = "number"
	TypeBoolean   AttrType = "boolean"
	TypeDate      AttrType = "date"
	TypeTimestamp AttrType = "timestamp"
	TypeTextArray AttrType = "text[]"
)

// Attribute is a typed column of a layer.
type Attribute struct {
	Name  string   `json:"name"`
	Type  AttrType `json:"type"`
	Title string   `json:"title,omitempty"`
	Unit  string   `json:"unit,omitempty"`
	// Enum lists the allowed values of a text attribute, if restricted.
	Enum []string `json:"enum,omitempty"`
	// TileMinZoom is the lowest zoom whose tiles carry the attribute, so
	// that low zooms stay small. 0 means every zoom.
	TileMinZoom int `json:"tile_min_zoom,omitempty"`
}

// Style holds default style hints for maps and legends.
type Style struct {
	Color string `json:"color"`
	// ColorBy names an attribute whose values pick colours from Palette.
	ColorBy string            `json:"color_by,omitempty"`
	Palette map[string]string `json:"palette,omitempty"`
	// Extrude names the attribute giving a 3D height in metres.
	Extrude string `json:"extrude,omitempty"`
}

// Layer describes one layer of the twin: the one description that the
// feature API, the tiles and the importers all read, so that adding a layer is
// one change here (plus its table in a migration).
type Layer struct {
	Name    string `json:"name"`
	Title   string `json:"title"`
	TitleZH string `json:"title_zh,omitempty"`
	// Table holds the layer's features; user layers share user_features,
	// told apart by its layer column.
	Table string `json:"-"`
	// GeomType is the PostGIS type of the geom column: Point, LineString,
	// MultiLineString, MultiPolygon, or Geometry for mixed user layers.
	GeomType string `json:"geometry_type"`
	// Group is the tile map the layer belongs to: "base" or "infra".
	Group      string      `json:"group"`
	Attributes []Attribute `json:"attributes"`
	MinZoom    int         `json:"min_zoom"`
	MaxZoom    int         `json:"max_zoom"`
	Style      Style       `json:"style"`
	// User is true for layers created by imports rather than built in.
	User bool `json:"user,omitempty"`
}

// Attr returns the named attribute of l.
func (l *Layer) Attr(name string) (Attribute, bool) {
	for _, a := range l.Attributes {
		if a.Name == name {
			return a, true
		}
	}
	return Attribute{}, false
}

// TableIdent is the quoted table name for SQL.
func (l *Layer) TableIdent() string { return pgx.Identifier{l.Table}.Sanitize() }

// Where is the SQL condition selecting the layer's rows in its table, with
// the layer name as parameter $n (user layers), or "TRUE".
func (l *Layer) Where(n int) (string, []any) {
	if l.User {
		return fmt.Sprintf("layer = $%d", n), []any{l.Name}
	}
	return "TRUE", nil
}

// Registry is the set of layers: the built-in ones and user layers loaded
// from the database. It is safe for concurrent use.
type Registry struct {
	mu     sync.RWMutex
	layers map[string]*Layer
}

// NewRegistry returns a registry holding the built-in layers.
func NewRegistry() *Registry {
	r := &Registry{layers: map[string]*Layer{}}
	for _, l := range builtinLayers() {
		r.layers[l.Name] = l
	}
	return r
}

// Layer returns the named layer. Returns ENOTFOUND for an unknown layer.
func (r *Registry) Layer(name string) (*Layer, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	l, ok := r.layers[name]
	if !ok {
		return nil, &errs.Error{Code: errs.ENOTFOUND, Where: "layer", Message: fmt.Sprintf("unknown layer %q", name)}
	}
	return l, nil
}

// Layers returns every layer, built-in first in their fixed order, then user
// layers by name.
func (r *Registry) Layers() []*Layer {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Layer, 0, len(r.layers))
	for _, l := range r.layers {
		out = append(out, l)
	}
	order := map[string]int{}
	for i, l := range builtinLayers() {
		order[l.Name] = i
	}
	sort.Slice(out, func(i, j int) bool {
		oi, iok := order[out[i].Name]
		oj, jok := order[out[j].Name]
		switch {
		case iok && jok:
			return oi < oj
		case iok != jok:
			return iok
		}
		return out[i].Name < out[j].Name
	})
	return out
}

var userLayerName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// LoadUserLayers reads the user layers from the database into r.
func (r *Registry) LoadUserLayers(ctx context.Context, pool *pgxpool.Pool) error {
	rows, err := pool.Query(ctx, `SELECT name, title, geom_type, attributes FROM user_layers`)
	if err != nil {
		return fmt.Errorf("load user layers: %w", err)
	}
	defer rows.Close()
	var ls []*Layer
	for rows.Next() {
		var name, title, gt string
		var attrs []byte
		if err := rows.Scan(&name, &title, &gt, &attrs); err != nil {
			return err
		}
		l := userLayer(name, title, gt)
		if err := json.Unmarshal(attrs, &l.Attributes); err != nil {
			return fmt.Errorf("user layer %s: attributes: %w", name, err)
		}
		ls = append(ls, l)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range ls {
		if b, ok := r.layers[l.Name]; ok && !b.User {
			continue // a built-in name always wins
		}
		r.layers[l.Name] = l
	}
	return nil
}

// EnsureUserLayer returns the layer named name, creating a user layer of
// geometry type gt when no layer has that name. It runs in tx so that a failed
// import leaves no layer behind; call Add with the result after commit.
func EnsureUserLayer(ctx context.Context, tx pgx.Tx, r *Registry, name, title, gt string) (*Layer, error) {
	if l, err := r.Layer(name); err == nil {
		return l, nil
	}
	if !userLayerName.MatchString(name) {
		return nil, errs.Invalid("layer", "layer name %q must be lower case letters, digits and _ (at most 63), starting with a letter", name)
	}
	if title == "" {
		title = name
	}
	if _, err := tx.Exec(ctx, `INSERT INTO user_layers (name, title, geom_type) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO NOTHING`, name, title, gt); err != nil {
		return nil, fmt.Errorf("create user layer: %w", err)
	}
	return userLayer(name, title, gt), nil
}

// Add puts l into the registry (after the transaction that created it).
func (r *Registry) Add(l *Layer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.layers[l.Name]; ok && !b.User {
		return
	}
	r.layers[l.Name] = l
}

func userLayer(name, title, gt string) *Layer {
	return &Layer{
		Name: name, Title: title, Table: "user_features", GeomType: gt, Group: "base",
		MinZoom: 10, MaxZoom: 22, User: true,
		Style: Style{Color: "#b07cc6"},
	}
}
