package ogc_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/citytwin/citytwin/internal/dbtest"
	"github.com/citytwin/citytwin/spatial"
	"github.com/citytwin/citytwin/spatial/ogc"
)

// sampleGeom is a geometry of the layer's type, near the sample district.
func sampleGeom(gt string, k int) string {
	x, y := 116.3+float64(k)*0.00123456789, 37.45+float64(k)*0.000987654321
	pt := fmt.Sprintf("%.10f %.10f", x, y)
	line := fmt.Sprintf("%.10f %.10f, %.10f %.10f", x, y, x+0.0011111, y+0.00077777)
	ring := fmt.Sprintf("%.10f %.10f, %.10f %.10f, %.10f %.10f, %.10f %.10f", x, y, x+0.0003, y, x+0.0003, y+0.0002, x, y)
	switch gt {
	case "Point":
		return "POINT(" + pt + ")"
	case "LineString":
		return "LINESTRING(" + line + ")"
	case "MultiLineString":
		return "MULTILINESTRING((" + line + "))"
	case "Polygon":
		return "POLYGON((" + ring + "))"
	default:
		return "MULTIPOLYGON(((" + ring + ")))"
	}
}

// sampleValue is a value of attribute a (hostile text, enum members).
func sampleValue(a spatial.Attribute, k int) any {
	if len(a.Enum) > 0 {
		return a.Enum[k%len(a.Enum)]
	}
	switch a.Name { // values the tables' CHECK constraints accept
	case "kind":
		return "valve"
	case "status":
		return "ok"
	}
	switch a.Type {
	case spatial.TypeInteger:
		return 7 + k
	case spatial.TypeNumber:
		return 12.5 + float64(k)/3
	case spatial.TypeBoolean:
		return k%2 == 0
	case spatial.TypeDate:
		return "2024-05-0" + fmt.Sprint(1+k%9)
	case spatial.TypeTimestamp:
		return "2024-05-01T10:20:30.5+08:00"
	case spatial.TypeTextArray:
		return []string{"lamp", `quo"te`, "摄像"}
	default:
		return fmt.Sprintf(`v%d 'quoted' "double" \ 中文`, k)
	}
}

// pageTexts reads a page of layer l with query v through sql(q): id -> the
// feature text.
func pageTexts(t *testing.T, conn *pgx.Conn, l *spatial.Layer, v url.Values, sql func(*ogc.Query) string) map[string]string {
	t.Helper()
	q, err := ogc.ParseQuery(l, v)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(context.Background(), sql(q), q.Args...)
	if err != nil {
		t.Fatalf("%s: %v", l.Name, err)
	}
	out := map[string]string{}
	for rows.Next() {
		raw := rows.RawValues()
		out[string(raw[0])] = string(raw[1])
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", l.Name, err)
	}
	return out
}

func notNull(t *testing.T, conn *pgx.Conn, table, col string) bool {
	t.Helper()
	var nn bool
	if err := conn.QueryRow(context.Background(), `SELECT attnotnull FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2`, table, col).Scan(&nn); err != nil {
		t.Fatal(err)
	}
	return nn
}

// TestPrerenderedFeatureJSON checks, for every layer, that the stored
// feature text (ogc_json, maintained by PostgreSQL on every write) equals
// the text rendered at query time from the layer registry, after inserts,
// updates of attributes, props and geometry, with NULL attributes, and after
// writes that bring a text of their own (with and without the loader's
// setting, migration 0630). A
// layer added to the registry without its column in a migration, or an
// attribute missing from its table's function, fails here.
func TestPrerenderedFeatureJSON(t *testing.T) {
	ctx := context.Background()
	u := dbtest.NewDatabase(t)
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `INSERT INTO user_layers (name, title, geom_type) VALUES ('survey_points', 'Survey', 'Point')`); err != nil {
		t.Fatal(err)
	}
	reg := spatial.NewRegistry()
	if err := reg.LoadUserLayers(ctx, pool); err != nil {
		t.Fatal(err)
	}
	// A session in another time zone writes: the stored text is in UTC
	// whatever the writer's zone.
	writer, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close(ctx)
	if _, err := writer.Exec(ctx, `SET TimeZone = 'Asia/Shanghai'`); err != nil {
		t.Fatal(err)
	}
	reader, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close(ctx)
	if _, err := reader.Exec(ctx, `SET TimeZone = 'UTC'`); err != nil {
		t.Fatal(err)
	}
	layers := reg.Layers()
	if len(layers) < 13 {
		t.Fatalf("%d layers, want the built-in ones and the user layer", len(layers))
	}
	for _, l := range layers {
		t.Run(l.Name, func(t *testing.T) {
			cols := []string{"source", "source_id", "props", "geom"}
			for k := 0; k < 3; k++ {
				props := fmt.Sprintf(`{"colour": "red", "n": %d, "nested": {"a": [1, 2.5, null]}}`, k)
				if len(l.Attributes) > 0 {
					// An attribute wins over a free property of the same name.
					props = fmt.Sprintf(`{"%s": "shadowed", "extra": %d}`, l.Attributes[0].Name, k)
				}
				args := []any{"test", fmt.Sprintf("%s-%d", l.Name, k), props, sampleGeom(l.GeomType, k)}
				vals := []string{"$1", "$2", "$3::jsonb", "ST_GeomFromText($4, 4326)"}
				if l.GeomType == "MultiPolygon" || l.GeomType == "MultiLineString" {
					vals[3] = "ST_Multi(ST_GeomFromText($4, 4326))"
				}
				if l.User {
					cols = append(cols[:4:4], "layer")
					args = append(args, l.Name)
					vals = append(vals, fmt.Sprintf("$%d", len(args)))
				}
				for _, a := range l.Attributes {
					if k == 2 && !notNull(t, reader, l.Table, a.Name) {
						continue // k == 2: every nullable attribute NULL
					}
					{
						cols = append(cols, pgx.Identifier{a.Name}.Sanitize())
						args = append(args, sampleValue(a, k))
						vals = append(vals, fmt.Sprintf("$%d", len(args)))
					}
				}
				_, err := writer.Exec(ctx, fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", l.TableIdent(), strings.Join(cols, ", "), strings.Join(vals, ", ")), args...)
				if err != nil {
					t.Fatalf("insert: %v", err)
				}
				cols = cols[:4]
			}
			check := func(when string, want int) {
				t.Helper()
				stored := pageTexts(t, reader, l, url.Values{}, (*ogc.Query).SQL)
				rendered := pageTexts(t, reader, l, url.Values{}, (*ogc.Query).RenderSQL)
				if len(stored) != want {
					t.Fatalf("%s: %d features, want %d", when, len(stored), want)
				}
				for id, s := range stored {
					if s != rendered[id] {
						t.Fatalf("%s: feature %s stored\n%s\nrendered\n%s", when, id, s, rendered[id])
					}
				}
			}
			check("after insert", 3)
			set := []string{"props = props || '{\"added\": true}'", "geom = ST_Translate(geom, 0.001, 0.001)", "updated_at = now() - interval '3 days 1.5 seconds'"}
			for i := len(l.Attributes) - 1; i >= 0; i-- {
				if a := l.Attributes[i]; !notNull(t, reader, l.Table, a.Name) {
					set = append(set, fmt.Sprintf("%s = NULL", pgx.Identifier{a.Name}.Sanitize()))
					break
				}
			}
			if _, err := writer.Exec(ctx, fmt.Sprintf("UPDATE %s SET %s WHERE source = 'test'", l.TableIdent(), strings.Join(set, ", "))); err != nil {
				t.Fatalf("update: %v", err)
			}
			check("after update", 3)
			// ogc_json is a plain column kept by triggers (migration 0630):
			// a text a write brings is replaced, unless the transaction
			// says the loader rendered it and the write is an insert; an
			// insert bringing NULL gets it computed in any case.
			conflict := "(source, source_id)"
			if l.User {
				conflict = "(layer, source, source_id)"
			}
			// copyRow inserts a copy of the first row with another id, its
			// source id plus suffix, and text (NULL if empty) as ogc_json,
			// with the clause onConflict.
			copyRow := func(tx pgx.Tx, id int, suffix, text, onConflict string) {
				t.Helper()
				for _, q := range []string{
					fmt.Sprintf(`CREATE TEMP TABLE f ON COMMIT DROP AS SELECT * FROM %s WHERE source = 'test' ORDER BY id LIMIT 1`, l.TableIdent()),
					`UPDATE f SET id = $1, source_id = source_id || $2, ogc_json = nullif($3, '')`,
					fmt.Sprintf(`INSERT INTO %s SELECT * FROM f %s`, l.TableIdent(), onConflict),
					`DROP TABLE f`,
				} {
					var args []any
					if strings.Contains(q, "$1") {
						args = []any{id, suffix, text}
					}
					if _, err := tx.Exec(ctx, q, args...); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
			}
			tx, err := writer.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			copyRow(tx, 1001, "-forged", `"geometry":null,"properties":{}`, "")
			if _, err := tx.Exec(ctx, `SET LOCAL citytwin.loader_json = 'on'`); err != nil {
				t.Fatal(err)
			}
			copyRow(tx, 1002, "-null", "", "")
			if _, err := tx.Exec(ctx, fmt.Sprintf(`UPDATE %s SET ogc_json = 'forged' WHERE source_id LIKE '%%-forged'`, l.TableIdent())); err != nil {
				t.Fatal(err)
			}
			copyRow(tx, 1003, "-forged", "forged", fmt.Sprintf(`ON CONFLICT %s DO UPDATE SET ogc_json = 'forged', props = EXCLUDED.props || '{"upserted": 1}'`, conflict))
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			check("after writes that bring their own text", 5)
		})
	}
}

// The triggers that keep ogc_json are the last BEFORE ROW triggers of every
// layer table (they fire by name), so that they see what the others change,
// as the generated column they replace did.
func TestOGCJSONTriggersLast(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tables := map[string]bool{}
	for _, l := range spatial.NewRegistry().Layers() {
		tables[l.Table] = true
	}
	tables["user_features"] = true
	for table := range tables {
		for _, ev := range []struct {
			name string
			bit  int
		}{{"insert", 4}, {"update", 16}} {
			// tgtype: 1 row, 2 before, 4 insert, 16 update.
			var last string
			if err := pool.QueryRow(ctx, `SELECT coalesce(max(tgname COLLATE "C"), '') FROM pg_trigger
				WHERE tgrelid = $1::regclass AND NOT tgisinternal AND tgtype & 3 = 3 AND tgtype & $2 <> 0`, table, ev.bit).Scan(&last); err != nil {
				t.Fatal(err)
			}
			if last != "zz_ogc_json_"+ev.name {
				t.Errorf("%s: the last BEFORE %s row trigger is %q, not zz_ogc_json_%s", table, ev.name, last, ev.name)
			}
		}
	}
}
