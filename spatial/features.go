package spatial

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/paulmach/orb/geojson"

	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/errs"
)

// MetaProperties are the properties every feature carries besides its
// layer's attributes and free properties.
var MetaProperties = []string{"source", "source_id", "updated_at"}

// PropsSQL is the SQL expression (jsonb) of a feature's GeoJSON properties:
// its free properties, then its typed attributes (an attribute wins over a
// free property of the same name), then source, source_id and updated_at.
// When only is not nil, just those properties are built. alias qualifies the
// columns ("" for none). Names come from the registry, never from requests.
func (l *Layer) PropsSQL(alias string, only []string) string {
	col := func(c string) string {
		if alias == "" {
			return pgx.Identifier{c}.Sanitize()
		}
		return alias + "." + pgx.Identifier{c}.Sanitize()
	}
	lit := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	if only != nil {
		var parts []string
		for _, name := range only {
			if _, ok := l.Attr(name); ok || isMeta(name) {
				parts = append(parts, lit(name), col(name))
			} else {
				parts = append(parts, lit(name), col("props")+"->"+lit(name))
			}
		}
		if len(parts) == 0 {
			return "'{}'::jsonb"
		}
		return "jsonb_strip_nulls(jsonb_build_object(" + strings.Join(parts, ", ") + "))"
	}
	var attrs []string
	for _, a := range l.Attributes {
		attrs = append(attrs, lit(a.Name), col(a.Name))
	}
	meta := fmt.Sprintf("jsonb_build_object('source', %s, 'source_id', %s, 'updated_at', %s)", col("source"), col("source_id"), col("updated_at"))
	if len(attrs) == 0 {
		return col("props") + " || " + meta
	}
	return col("props") + " || jsonb_build_object(" + strings.Join(attrs, ", ") + ") || " + meta
}

func isMeta(name string) bool {
	for _, m := range MetaProperties {
		if m == name {
			return true
		}
	}
	return false
}

// GetFeature returns the feature id of layer. Returns ENOTFOUND when the
// layer or the feature does not exist.
func (s *Store) GetFeature(ctx context.Context, layer string, id int64) (*Feature, error) {
	l, err := s.Registry.Layer(layer)
	if err != nil {
		return nil, err
	}
	return getFeature(ctx, s.Pool, l, id, false)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func getFeature(ctx context.Context, q querier, l *Layer, id int64, lock bool) (*Feature, error) {
	where, args := l.Where(2)
	var attrs []string
	for _, a := range l.Attributes {
		attrs = append(attrs, "'"+a.Name+"'", pgx.Identifier{a.Name}.Sanitize())
	}
	attrSQL := "'{}'::jsonb"
	if len(attrs) > 0 {
		attrSQL = "jsonb_build_object(" + strings.Join(attrs, ", ") + ")"
	}
	sql := fmt.Sprintf(`SELECT id, source, source_id, props, coalesce(h3, 0), updated_at, ST_AsBinary(geom), %s
		FROM %s WHERE id = $1 AND %s`, attrSQL, l.TableIdent(), where)
	if lock {
		sql += " FOR UPDATE"
	}
	f := &Feature{Layer: l.Name}
	var h3c int64
	var g []byte
	err := q.QueryRow(ctx, sql, append([]any{id}, args...)...).Scan(&f.ID, &f.Source, &f.SourceID, &f.Props, &h3c, &f.UpdatedAt, &g, &f.Attrs)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errs.NotFound("no feature %d in layer %s", id, l.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("get feature: %w", err)
	}
	f.H3 = uint64(h3c)
	if f.Geometry, err = wkb.Unmarshal(g); err != nil {
		return nil, fmt.Errorf("get feature %d: geometry: %w", id, err)
	}
	for k, v := range f.Attrs {
		if v == nil {
			delete(f.Attrs, k)
		}
	}
	return f, nil
}

// FeatureFromGeoJSON splits a GeoJSON feature into a feature of layer l:
// properties naming an attribute of the layer become typed attributes
// (checked against the attribute's type), source and source_id set the
// feature's source, updated_at is ignored (the store sets it), and the rest
// become free properties. Errors are EINVALID naming the property.
func FeatureFromGeoJSON(l *Layer, gf *geojson.Feature) (*Feature, error) {
	f := &Feature{Layer: l.Name, Geometry: gf.Geometry, Attrs: map[string]any{}, Props: map[string]any{}}
	for k, v := range gf.Properties {
		switch k {
		case "source":
			s, ok := v.(string)
			if !ok || s == "" || len(s) > 200 {
				return nil, errs.Invalid("properties.source", "source must be a non-empty string of at most 200 characters")
			}
			f.Source = s
			continue
		case "source_id":
			switch x := v.(type) {
			case string:
				f.SourceID = x
			case float64:
				f.SourceID = strconv.FormatFloat(x, 'f', -1, 64)
			default:
				return nil, errs.Invalid("properties.source_id", "source_id must be a string")
			}
			if f.SourceID == "" || len(f.SourceID) > 200 {
				return nil, errs.Invalid("properties.source_id", "source_id must be a non-empty string of at most 200 characters")
			}
			continue
		case "updated_at", "id":
			continue
		}
		a, ok := l.Attr(k)
		if !ok {
			f.Props[k] = v
			continue
		}
		if v == nil {
			continue
		}
		cv, err := ConvertAttr(a, v)
		if err != nil {
			return nil, err
		}
		f.Attrs[k] = cv
	}
	return f, nil
}

// ConvertAttr checks a JSON value against attribute a's type and returns the
// value to store. Errors are EINVALID naming the property.
func ConvertAttr(a Attribute, v any) (any, error) {
	where := "properties." + a.Name
	switch a.Type {
	case TypeText:
		s, ok := v.(string)
		if !ok {
			return nil, errs.Invalid(where, "%s must be a string", a.Name)
		}
		if len(a.Enum) > 0 {
			found := false
			for _, e := range a.Enum {
				found = found || e == s
			}
			if !found {
				return nil, errs.Invalid(where, "%s must be one of %s, got %q", a.Name, strings.Join(a.Enum, ", "), s)
			}
		}
		return s, nil
	case TypeInteger:
		n, ok := v.(float64)
		if !ok || n != math.Trunc(n) || math.Abs(n) > math.MaxInt32 {
			return nil, errs.Invalid(where, "%s must be an integer", a.Name)
		}
		return int64(n), nil
	case TypeNumber:
		n, ok := v.(float64)
		if !ok || math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, errs.Invalid(where, "%s must be a number", a.Name)
		}
		return n, nil
	case TypeBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, errs.Invalid(where, "%s must be true or false", a.Name)
		}
		return b, nil
	case TypeDate:
		s, ok := v.(string)
		if ok {
			if _, err := time.Parse("2006-01-02", s); err == nil {
				return s, nil
			}
		}
		return nil, errs.Invalid(where, "%s must be a date YYYY-MM-DD", a.Name)
	case TypeTimestamp:
		s, ok := v.(string)
		if ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t, nil
			}
		}
		return nil, errs.Invalid(where, "%s must be an RFC 3339 timestamp", a.Name)
	case TypeTextArray:
		arr, ok := v.([]any)
		if !ok {
			return nil, errs.Invalid(where, "%s must be an array of strings", a.Name)
		}
		out := make([]string, len(arr))
		for i, x := range arr {
			s, ok := x.(string)
			if !ok {
				return nil, errs.Invalid(fmt.Sprintf("%s[%d]", where, i), "%s must be an array of strings", a.Name)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, errs.Invalid(where, "attribute %s has unsupported type %s", a.Name, a.Type)
}

func sqlType(t AttrType) string {
	switch t {
	case TypeInteger:
		return "integer"
	case TypeNumber:
		return "double precision"
	case TypeBoolean:
		return "boolean"
	case TypeDate:
		return "date"
	case TypeTimestamp:
		return "timestamptz"
	case TypeTextArray:
		return "text[]"
	}
	return "text"
}

// prepared is a checked feature ready to store.
type prepared struct {
	f     *Feature
	wkb   []byte
	cell  int64
	cells []int64
}

func (s *Store) prepare(l *Layer, f *Feature) (*prepared, error) {
	g, _, err := NewGeomChecker().Check(l, f.Geometry)
	if err != nil {
		return nil, err
	}
	f.Geometry = g
	b, err := wkb.Marshal(g)
	if err != nil {
		return nil, errs.Invalid("geometry", "cannot encode: %v", err)
	}
	if f.Props == nil {
		f.Props = map[string]any{}
	}
	for k := range f.Attrs {
		if _, ok := l.Attr(k); !ok {
			return nil, errs.Invalid("properties."+k, "layer %s has no attribute %s", l.Name, k)
		}
	}
	cover := CoverCells(g, CoverRes)
	p := &prepared{f: f, wkb: b, cell: int64(FeatureCell(g))}
	for _, c := range cover {
		p.cells = append(p.cells, int64(c))
	}
	return p, nil
}

// columns returns the attribute columns and their value expressions from $n.
func (p *prepared) columns(l *Layer, n int) (cols []string, exprs []string, args []any) {
	for _, a := range l.Attributes {
		cols = append(cols, pgx.Identifier{a.Name}.Sanitize())
		v, ok := p.f.Attrs[a.Name]
		if !ok || v == nil {
			// An attribute not given takes the column's default.
			exprs = append(exprs, "DEFAULT")
			continue
		}
		exprs = append(exprs, fmt.Sprintf("$%d::%s", n, sqlType(a.Type)))
		args = append(args, v)
		n++
	}
	return
}

// InsertFeature stores f (Layer, Geometry, Attrs, Props; Source and SourceID
// optional) as a new feature after checking and repairing its geometry,
// with its H3 cell and cover cells, an audit entry by the context's
// principal, and tells OnChange listeners once committed. Returns the stored
// feature. Returns EINVALID for bad input, ECONFLICT when (source,
// source_id) exists.
func (s *Store) InsertFeature(ctx context.Context, f *Feature) (*Feature, error) {
	l, err := s.Registry.Layer(f.Layer)
	if err != nil {
		return nil, err
	}
	p, err := s.prepare(l, f)
	if err != nil {
		return nil, err
	}
	if f.Source == "" {
		f.Source = "manual"
	}
	var id int64
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		cols := []string{"source", "props", "h3", "geom"}
		exprs := []string{"$1", "$2", "$3", "ST_SetSRID(ST_GeomFromWKB($4), 4326)"}
		args := []any{f.Source, f.Props, p.cell, p.wkb}
		if f.SourceID != "" {
			cols = append(cols, "source_id")
			args = append(args, f.SourceID)
			exprs = append(exprs, fmt.Sprintf("$%d", len(args)))
		}
		if l.User {
			cols = append(cols, "layer")
			args = append(args, l.Name)
			exprs = append(exprs, fmt.Sprintf("$%d", len(args)))
		}
		ac, ae, aa := p.columns(l, len(args)+1)
		cols, exprs, args = append(cols, ac...), append(exprs, ae...), append(args, aa...)
		sql := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) RETURNING id", l.TableIdent(), strings.Join(cols, ", "), strings.Join(exprs, ", "))
		if err := tx.QueryRow(ctx, sql, args...).Scan(&id); err != nil {
			return dbError(err)
		}
		if err := writeCells(ctx, tx, l.Name, id, p.cells); err != nil {
			return err
		}
		return audit(ctx, tx, "feature.create", l.Name, id, map[string]any{"source": f.Source, "source_id": f.SourceID})
	})
	if err != nil {
		return nil, err
	}
	s.Changed(ctx, Change{Layer: l.Name, IDs: []int64{id}, Bound: f.Geometry.Bound()})
	return s.GetFeature(ctx, l.Name, id)
}

// ReplaceFeature replaces every attribute, free property and the geometry of
// the feature f.ID (source and source_id are kept unless f sets them).
// Returns ENOTFOUND when it does not exist.
func (s *Store) ReplaceFeature(ctx context.Context, f *Feature) (*Feature, error) {
	l, err := s.Registry.Layer(f.Layer)
	if err != nil {
		return nil, err
	}
	p, err := s.prepare(l, f)
	if err != nil {
		return nil, err
	}
	var old orb.Bound
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		cur, err := getFeature(ctx, tx, l, f.ID, true)
		if err != nil {
			return err
		}
		old = cur.Geometry.Bound()
		return s.update(ctx, tx, l, p, "feature.replace")
	})
	if err != nil {
		return nil, err
	}
	s.Changed(ctx, Change{Layer: l.Name, IDs: []int64{f.ID}, Bound: old.Union(f.Geometry.Bound())})
	return s.GetFeature(ctx, l.Name, f.ID)
}

func (s *Store) update(ctx context.Context, tx pgx.Tx, l *Layer, p *prepared, action string) error {
	f := p.f
	sets := []string{"props = $2", "h3 = $3", "geom = ST_SetSRID(ST_GeomFromWKB($4), 4326)", "updated_at = now()"}
	args := []any{f.ID, f.Props, p.cell, p.wkb}
	if f.Source != "" {
		args = append(args, f.Source)
		sets = append(sets, fmt.Sprintf("source = $%d", len(args)))
	}
	if f.SourceID != "" {
		args = append(args, f.SourceID)
		sets = append(sets, fmt.Sprintf("source_id = $%d", len(args)))
	}
	ac, ae, aa := p.columns(l, len(args)+1)
	for i := range ac {
		sets = append(sets, ac[i]+" = "+ae[i])
	}
	args = append(args, aa...)
	where, wargs := l.Where(len(args) + 1)
	args = append(args, wargs...)
	sql := fmt.Sprintf("UPDATE %s SET %s WHERE id = $1 AND %s", l.TableIdent(), strings.Join(sets, ", "), where)
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		return dbError(err)
	}
	if err := writeCells(ctx, tx, l.Name, f.ID, p.cells); err != nil {
		return err
	}
	return audit(ctx, tx, action, l.Name, f.ID, nil)
}

// PatchFeature applies a JSON merge patch (RFC 7396) to the GeoJSON form of
// the feature layer/id: patch {"properties": {"name": "x", "floors": null}}
// sets name and removes floors; a "geometry" member replaces the geometry.
// Returns ENOTFOUND when it does not exist, EINVALID for a bad patch.
func (s *Store) PatchFeature(ctx context.Context, layer string, id int64, patch json.RawMessage) (*Feature, error) {
	l, err := s.Registry.Layer(layer)
	if err != nil {
		return nil, err
	}
	var pm map[string]any
	if err := json.Unmarshal(patch, &pm); err != nil || pm == nil {
		return nil, errs.Invalid("body", "a merge patch must be a JSON object")
	}
	for k := range pm {
		switch k {
		case "type", "id", "links":
		case "properties", "geometry":
		default:
			return nil, errs.Invalid(k, "unknown member %q of a feature patch (properties, geometry)", k)
		}
	}
	var f *Feature
	var old orb.Bound
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		cur, err := getFeature(ctx, tx, l, id, true)
		if err != nil {
			return err
		}
		old = cur.Geometry.Bound()
		gf := cur.GeoJSON()
		doc, err := json.Marshal(gf)
		if err != nil {
			return err
		}
		var m map[string]any
		if err := json.Unmarshal(doc, &m); err != nil {
			return err
		}
		merged := mergePatch(m, pm)
		b, err := json.Marshal(merged)
		if err != nil {
			return err
		}
		nf, err := geojson.UnmarshalFeature(b)
		if err != nil {
			return errs.Invalid("geometry", "patched feature is not valid GeoJSON: %v", err)
		}
		f, err = FeatureFromGeoJSON(l, nf)
		if err != nil {
			return err
		}
		f.ID = id
		p, err := s.prepare(l, f)
		if err != nil {
			return err
		}
		return s.update(ctx, tx, l, p, "feature.patch")
	})
	if err != nil {
		return nil, err
	}
	s.Changed(ctx, Change{Layer: l.Name, IDs: []int64{id}, Bound: old.Union(f.Geometry.Bound())})
	return s.GetFeature(ctx, l.Name, id)
}

func mergePatch(target any, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = mergePatch(tm[k], v)
	}
	return tm
}

// DeleteFeature deletes the feature layer/id with its cells, audited.
// Returns ENOTFOUND when it does not exist.
func (s *Store) DeleteFeature(ctx context.Context, layer string, id int64) error {
	l, err := s.Registry.Layer(layer)
	if err != nil {
		return err
	}
	var old orb.Bound
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		cur, err := getFeature(ctx, tx, l, id, true)
		if err != nil {
			return err
		}
		old = cur.Geometry.Bound()
		where, args := l.Where(2)
		if _, err := tx.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE id = $1 AND %s", l.TableIdent(), where), append([]any{id}, args...)...); err != nil {
			return dbError(err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM feature_cells WHERE layer = $1 AND feature_id = $2`, l.Name, id); err != nil {
			return err
		}
		return audit(ctx, tx, "feature.delete", l.Name, id, map[string]any{"source": cur.Source, "source_id": cur.SourceID})
	})
	if err != nil {
		return err
	}
	s.Changed(ctx, Change{Layer: l.Name, IDs: []int64{id}, Bound: old})
	return nil
}

// GeoJSON returns f as a GeoJSON feature with the properties the feature API
// serves: free properties, typed attributes, source, source_id, updated_at.
func (f *Feature) GeoJSON() *geojson.Feature {
	gf := geojson.NewFeature(f.Geometry)
	gf.ID = f.ID
	for k, v := range f.Props {
		gf.Properties[k] = v
	}
	for k, v := range f.Attrs {
		gf.Properties[k] = v
	}
	gf.Properties["source"] = f.Source
	gf.Properties["source_id"] = f.SourceID
	gf.Properties["updated_at"] = f.UpdatedAt.UTC().Format(time.RFC3339Nano)
	return gf
}

func writeCells(ctx context.Context, tx pgx.Tx, layer string, id int64, cells []int64) error {
	if _, err := tx.Exec(ctx, `DELETE FROM feature_cells WHERE layer = $1 AND feature_id = $2`, layer, id); err != nil {
		return fmt.Errorf("feature cells: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO feature_cells (layer, feature_id, cell)
		SELECT $1, $2, unnest($3::bigint[]) ON CONFLICT DO NOTHING`, layer, id, cells); err != nil {
		return fmt.Errorf("feature cells: %w", err)
	}
	return nil
}

func audit(ctx context.Context, tx pgx.Tx, action, layer string, id int64, detail map[string]any) error {
	actor := auth.PrincipalFrom(ctx).Actor()
	if _, err := tx.Exec(ctx, `INSERT INTO audit_log (actor, action, entity_type, entity_id, detail) VALUES ($1, $2, $3, $4, $5)`,
		actor, action, "feature", layer+"/"+strconv.FormatInt(id, 10), detail); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// dbError turns constraint violations into EINVALID/ECONFLICT.
func dbError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return errs.Errorf(errs.ECONFLICT, "a feature with this source and source_id exists")
		case "23514", "23502", "22P02", "22003", "22007", "22008":
			where := pe.ColumnName
			if where == "" {
				where = "properties"
			} else {
				where = "properties." + where
			}
			return &errs.Error{Code: errs.EINVALID, Where: where, Message: pe.Message}
		}
	}
	return err
}
