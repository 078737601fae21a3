package scenes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial"
)

// Service stores scenes and computes their KPI widgets.
type Service struct {
	Pool     *pgxpool.Pool
	Registry *spatial.Registry
}

// NewService returns a scene service.
func NewService(pool *pgxpool.Pool, reg *spatial.Registry) *Service {
	return &Service{Pool: pool, Registry: reg}
}

// InstallBuiltins writes the built-in scenes, replacing older versions of
// them, so that every start serves the current ones.
func (s *Service) InstallBuiltins(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		for _, sc := range Builtins() {
			if err := sc.Validate(s.Registry); err != nil {
				return fmt.Errorf("built-in scene %s: %w", sc.ID, err)
			}
			spec, err := specJSON(sc.Spec)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO scenes (id, name, description, spec, builtin) VALUES ($1, $2, $3, $4, true)
				ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description,
				spec = EXCLUDED.spec, builtin = true, updated_at = now()
				WHERE scenes.spec IS DISTINCT FROM EXCLUDED.spec OR scenes.name IS DISTINCT FROM EXCLUDED.name`,
				sc.ID, sc.Name, sc.Description, spec)
			if err != nil {
				return fmt.Errorf("built-in scene %s: %w", sc.ID, err)
			}
		}
		return nil
	})
}

const sceneCols = `id, name, coalesce(description, ''), spec, builtin, updated_at`

func scanScene(row pgx.Row) (*Scene, error) {
	var sc Scene
	var spec []byte
	if err := row.Scan(&sc.ID, &sc.Name, &sc.Description, &spec, &sc.Builtin, &sc.UpdatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(spec, &sc.Spec); err != nil {
		return nil, fmt.Errorf("scene %s: %w", sc.ID, err)
	}
	return &sc, nil
}

// List returns every scene, built-in first.
func (s *Service) List(ctx context.Context) ([]*Scene, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+sceneCols+` FROM scenes ORDER BY builtin DESC, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Scene{}
	for rows.Next() {
		sc, err := scanScene(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, rows.Err()
}

// Get returns one scene. Returns ENOTFOUND if it does not exist.
func (s *Service) Get(ctx context.Context, id string) (*Scene, error) {
	sc, err := scanScene(s.Pool.QueryRow(ctx, `SELECT `+sceneCols+` FROM scenes WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errs.NotFound("no scene %q", id)
	}
	return sc, err
}

// Put creates or replaces a scene and records who did it. Returns EINVALID
// for a bad scene and ECONFLICT for a built-in one.
func (s *Service) Put(ctx context.Context, sc *Scene, actor string) (created bool, err error) {
	if err := sc.Validate(s.Registry); err != nil {
		return false, err
	}
	spec, err := specJSON(sc.Spec)
	if err != nil {
		return false, err
	}
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var builtin bool
		err := tx.QueryRow(ctx, `SELECT builtin FROM scenes WHERE id = $1 FOR UPDATE`, sc.ID).Scan(&builtin)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			created = true
		case err != nil:
			return err
		case builtin:
			return errs.Errorf(errs.ECONFLICT, "built-in scene %q cannot be changed; save a copy under another id", sc.ID)
		}
		err = tx.QueryRow(ctx, `INSERT INTO scenes (id, name, description, spec) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description, spec = EXCLUDED.spec, updated_at = now()
			RETURNING updated_at`, sc.ID, sc.Name, sc.Description, spec).Scan(&sc.UpdatedAt)
		if err != nil {
			return err
		}
		action := "update"
		if created {
			action = "create"
		}
		_, err = tx.Exec(ctx, `INSERT INTO audit_log (actor, action, entity_type, entity_id, detail) VALUES ($1, $2, 'scene', $3, $4)`,
			actor, action, sc.ID, spec)
		return err
	})
	return created, err
}

// Delete removes a user scene. Returns ENOTFOUND or ECONFLICT (built-in).
func (s *Service) Delete(ctx context.Context, id, actor string) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var builtin bool
		err := tx.QueryRow(ctx, `DELETE FROM scenes WHERE id = $1 AND NOT builtin RETURNING builtin`, id).Scan(&builtin)
		if errors.Is(err, pgx.ErrNoRows) {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM scenes WHERE id = $1)`, id).Scan(&exists); err != nil {
				return err
			}
			if exists {
				return errs.Errorf(errs.ECONFLICT, "built-in scene %q cannot be deleted", id)
			}
			return errs.NotFound("no scene %q", id)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO audit_log (actor, action, entity_type, entity_id) VALUES ($1, 'delete', 'scene', $2)`, actor, id)
		return err
	})
}

// KPI is the computed value of a widget.
type KPI struct {
	Widget string  `json:"widget"`
	Kind   string  `json:"kind"`
	Title  string  `json:"title"`
	Unit   string  `json:"unit,omitempty"`
	Value  float64 `json:"value"`
	// Groups holds per-value results of group_by, alarms and devices widgets.
	Groups []Group `json:"groups,omitempty"`
}

// Group is one row of a grouped KPI.
type Group struct {
	Key   string  `json:"key"`
	Count int64   `json:"count"`
	Value float64 `json:"value"`
}

// KPIs computes the widgets of scene id, restricted to bbox when it is not
// nil.
func (s *Service) KPIs(ctx context.Context, id string, bbox *orb.Bound) ([]KPI, time.Time, error) {
	sc, err := s.Get(ctx, id)
	if err != nil {
		return nil, time.Time{}, err
	}
	out := make([]KPI, 0, len(sc.Spec.Widgets))
	for _, w := range sc.Spec.Widgets {
		k, err := s.kpi(ctx, w, bbox)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("widget %s: %w", w.ID, err)
		}
		out = append(out, k)
	}
	return out, time.Now().UTC(), nil
}

func (s *Service) kpi(ctx context.Context, w Widget, bbox *orb.Bound) (KPI, error) {
	k := KPI{Widget: w.ID, Kind: w.Kind, Title: w.Title, Unit: w.Unit}
	var q string
	var args []any
	switch w.Kind {
	case WidgetAlarms:
		q = `SELECT severity, count(*), 0::float8 FROM alarms WHERE active`
		if bbox != nil {
			q += ` AND geom && ST_MakeEnvelope($1, $2, $3, $4, 4326)`
			args = bboxArgs(bbox)
		}
		q += ` GROUP BY 1 ORDER BY 1`
	case WidgetDevices:
		q = `SELECT status, count(*), 0::float8 FROM devices`
		if bbox != nil {
			q += ` WHERE geom && ST_MakeEnvelope($1, $2, $3, $4, 4326)`
			args = bboxArgs(bbox)
		}
		q += ` GROUP BY 1 ORDER BY 1`
	default:
		layer, err := s.Registry.Layer(w.Layer)
		if err != nil {
			return k, err
		}
		where, wargs := layer.Where(1)
		args = wargs
		conds := []string{where}
		if bbox != nil {
			n := len(args)
			conds = append(conds, fmt.Sprintf("geom && ST_MakeEnvelope($%d, $%d, $%d, $%d, 4326)", n+1, n+2, n+3, n+4))
			args = append(args, bboxArgs(bbox)...)
		}
		for _, name := range sortedKeys(w.Filter) {
			args = append(args, filterValues(w.Filter[name]))
			conds = append(conds, fmt.Sprintf("%s::text = ANY($%d::text[])", pgx.Identifier{name}.Sanitize(), len(args)))
		}
		value := "0::float8"
		if w.Attr != "" {
			value = "coalesce(sum(" + pgx.Identifier{w.Attr}.Sanitize() + "), 0)::float8"
		}
		key := "''"
		group := ""
		if w.Kind == WidgetGroupBy {
			key = "coalesce(" + pgx.Identifier{w.Group}.Sanitize() + "::text, '')"
			group = " GROUP BY 1 ORDER BY 1"
		}
		q = "SELECT " + key + ", count(*), " + value + " FROM " + layer.TableIdent() + " WHERE " + strings.Join(conds, " AND ") + group
	}
	rows, err := s.Pool.Query(ctx, q, args...)
	if err != nil {
		return k, err
	}
	defer rows.Close()
	for rows.Next() {
		var g Group
		if err := rows.Scan(&g.Key, &g.Count, &g.Value); err != nil {
			return k, err
		}
		switch w.Kind {
		case WidgetCount:
			k.Value = float64(g.Count)
		case WidgetSum:
			k.Value = g.Value
		default:
			k.Groups = append(k.Groups, g)
			if w.Attr != "" {
				k.Value += g.Value
			} else {
				k.Value += float64(g.Count)
			}
		}
	}
	return k, rows.Err()
}

func bboxArgs(b *orb.Bound) []any { return []any{b.Min[0], b.Min[1], b.Max[0], b.Max[1]} }

func filterValues(v any) []string {
	one := func(x any) string {
		switch x := x.(type) {
		case string:
			return x
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			return strconv.FormatBool(x)
		}
		return fmt.Sprint(x)
	}
	if list, ok := v.([]any); ok {
		out := make([]string, len(list))
		for i, x := range list {
			out[i] = one(x)
		}
		return out
	}
	return []string{one(v)}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
