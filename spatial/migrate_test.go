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
