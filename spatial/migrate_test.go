package spatial_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/citytwin/citytwin/internal/dbtest"
	"github.com/citytwin/citytwin/spatial"
)

func TestMigrateEmptyThenAgain(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustOpenPoolURL(t, dbtest.NewEmptyDatabase(t))
	applied, err := spatial.Migrate(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(spatial.Migrations()); len(applied) != want {
		t.Fatalf("applied %d migrations, want %d", len(applied), want)
	}
	again, err := spatial.Migrate(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Fatalf("second run applied %v, want nothing", again)
	}
	pending, err := spatial.PendingMigrations(ctx, pool)
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending = %v, %v", pending, err)
	}
	for _, l := range spatial.NewRegistry().Layers() {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+l.TableIdent()).Scan(&n); err != nil {
			t.Errorf("layer %s: table %s: %v", l.Name, l.Table, err)
		}
		for _, a := range l.Attributes {
			var ok bool
			err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = $1 AND column_name = $2)`, l.Table, a.Name).Scan(&ok)
			if err != nil || !ok {
				t.Errorf("layer %s: attribute %s has no column in %s", l.Name, a.Name, l.Table)
			}
		}
	}
}

func TestMigrateConcurrent(t *testing.T) {
	ctx := context.Background()
	url := dbtest.NewEmptyDatabase(t)
	var wg sync.WaitGroup
	results := make([][]string, 4)
	errs := make([]error, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool := dbtest.MustOpenPoolURL(t, url)
			results[i], errs[i] = spatial.Migrate(ctx, pool)
		}()
	}
	wg.Wait()
	total := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrate %d: %v", i, err)
		}
		total += len(results[i])
	}
	if want := len(spatial.Migrations()); total != want {
		t.Fatalf("concurrent runs applied %d migrations in all, want exactly %d", total, want)
	}
}

func TestSchemaRefusesWrongGeometryType(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustOpenPool(t)
	cases := []struct {
		name, sql string
		wantErr   string
	}{
		{"point as building", `INSERT INTO buildings (source_id, geom) VALUES ('a', ST_GeomFromText('POINT(116.3 37.45)', 4326))`, "Geometry type (Point) does not match column type (MultiPolygon)"},
		{"wrong srid", `INSERT INTO smart_poles (source_id, geom) VALUES ('b', ST_GeomFromText('POINT(500000 4100000)', 3857))`, "SRID"},
		{"empty", `INSERT INTO smart_poles (source_id, geom) VALUES ('c', ST_GeomFromText('POINT EMPTY', 4326))`, "check constraint"},
		{"unknown network", `INSERT INTO pipes (source_id, network, geom) VALUES ('d', 'lava', ST_GeomFromText('LINESTRING(0 0,1 1)', 4326))`, "check constraint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pool.Exec(ctx, tc.sql)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
	if _, err := pool.Exec(ctx, `INSERT INTO buildings (source_id, geom, height_m) VALUES ('ok', ST_Multi(ST_MakeEnvelope(116.3, 37.45, 116.301, 37.451, 4326)), 30)`); err != nil {
		t.Fatalf("a valid building is refused: %v", err)
	}
	// Re-import upserts on (source, source_id).
	_, err := pool.Exec(ctx, `INSERT INTO buildings (source_id, geom) VALUES ('ok', ST_Multi(ST_MakeEnvelope(116.3, 37.45, 116.301, 37.451, 4326)))`)
	if err == nil || !strings.Contains(err.Error(), "duplicate key") {
		t.Fatalf("duplicate (source, source_id) accepted: %v", err)
	}
}

// The devices table refuses the ids that twin's device id pattern refuses
// (its own check, cheaper to evaluate, must keep that meaning).
func TestSchemaDeviceIDCheck(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustOpenPool(t)
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"pole-1", true},
		{"A.b_c:d-9", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{"-pole", false},
		{".pole", false},
		{"pole 1", false},
		{"pole/1", false},
		{"p\u00f6le", false},
		{"pole\n", false},
	} {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO devices (id, kind) VALUES ($1, 'env')`, tc.id)
		_ = tx.Rollback(ctx)
		if (err == nil) != tc.ok {
			t.Errorf("id %q: err = %v, want accepted %v", tc.id, err, tc.ok)
		} else if err != nil && !strings.Contains(err.Error(), "devices_id_check") {
			t.Errorf("id %q: err = %v, want the id check", tc.id, err)
		}
	}
}

func TestH3ParentSQL(t *testing.T) {
	pool := dbtest.MustOpenPool(t)
	// 8f2830828052d25 is a resolution-15 cell; its resolution-9 parent is
	// 89283082807ffff (computed with h3-go's Cell.Parent).
	var got int64
	if err := pool.QueryRow(context.Background(), `SELECT ct_h3_parent(x'08f2830828052d25'::bigint, 9)`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if want := int64(0x89283082807ffff); got != want {
		t.Fatalf("ct_h3_parent = %x, want %x", got, want)
	}
}

// TestMigrateObservationSeries: a database that stored observations keyed
// by device and metric text (before 0680) keeps every reading, in the
// partitions of its months, readable through the observations view.
func TestMigrateObservationSeries(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustOpenPoolURL(t, dbtest.NewEmptyDatabase(t))
	if _, err := pool.Exec(ctx, `CREATE TABLE schema_migrations (version text PRIMARY KEY, sum text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for _, m := range spatial.Migrations() {
		if m.Version >= "0680" {
			break
		}
		if _, err := pool.Exec(ctx, m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Version, err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO schema_migrations (version, sum) VALUES ($1, $2)`, m.Version, m.Sum); err != nil {
			t.Fatal(err)
		}
	}
	// Two devices, two metrics, three months (one of them long past).
	if _, err := pool.Exec(ctx, `INSERT INTO devices (id, kind) VALUES ('env-1', 'env'), ('p-1', 'pressure')`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `SELECT ct_observation_partition(t) FROM unnest(ARRAY['2024-02-10T00:00:00Z'::timestamptz, '2024-03-05T00:00:00Z']) t`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO observations (device_id, time, metric, value) VALUES
		('env-1', '2024-02-10T08:00:00Z', 'pm25', 12.5), ('env-1', '2024-02-10T08:00:00Z', 'temp_c', 3),
		('env-1', '2024-03-05T09:30:00Z', 'pm25', 40), ('p-1', '2024-03-05T09:30:00Z', 'pressure_mpa', 0.31),
		('p-1', now(), 'pressure_mpa', 0.29)`); err != nil {
		t.Fatal(err)
	}
	applied, err := spatial.Migrate(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) == 0 || applied[0] != "0680_observation_series" {
		t.Fatalf("applied %v, want 0680_observation_series first", applied)
	}
	rows, err := pool.Query(ctx, `SELECT device_id || ' ' || metric || ' ' || to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' ' || value
		FROM observations WHERE time < '2025-01-01' ORDER BY device_id, time, metric`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	want := []string{"env-1 pm25 2024-02-10 08:00 12.5", "env-1 temp_c 2024-02-10 08:00 3", "env-1 pm25 2024-03-05 09:30 40",
		"p-1 pressure_mpa 2024-03-05 09:30 0.31"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("after 0680:\n got %v\nwant %v", got, want)
	}
	var recent, series, parts int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM observations WHERE time > now() - interval '1 day'),
		(SELECT count(*) FROM observation_series),
		(SELECT count(*) FROM pg_inherits WHERE inhparent = 'observation_points'::regclass
			AND inhrelid::regclass::text IN ('observation_points_202402', 'observation_points_202403'))`).Scan(&recent, &series, &parts); err != nil {
		t.Fatal(err)
	}
	if recent != 1 || series != 3 || parts != 2 {
		t.Fatalf("recent %d, series %d, old month partitions %d; want 1, 3, 2", recent, series, parts)
	}
	// A stored (series, time) is still refused a second time.
	if _, err := pool.Exec(ctx, `INSERT INTO observation_points SELECT id, '2024-02-10T08:00:00Z', 1 FROM observation_series
		WHERE device_id = 'env-1' AND metric = 'pm25'`); err == nil || !strings.Contains(err.Error(), "observation_points") {
		t.Fatalf("duplicate reading: err = %v, want the primary key", err)
	}
}
