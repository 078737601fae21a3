package spatial_test

import (
	"context"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/dbtest"
	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial"
)

func TestFeatureWrites(t *testing.T) {
	pool := dbtest.MustOpenPool(t)
	s := spatial.NewStore(pool, spatial.NewRegistry())
	var changes []spatial.Change
	s.OnChange(func(_ context.Context, cs []spatial.Change) { changes = append(changes, cs...) })
	ctx := auth.WithPrincipal(context.Background(), &auth.Principal{Name: "alice", Role: auth.Operator})

	// A self-intersecting bow tie is repaired into a valid multipolygon.
	bow := orb.Polygon{{{116.30, 37.45}, {116.301, 37.451}, {116.301, 37.45}, {116.30, 37.451}, {116.30, 37.45}}}
	f, err := s.InsertFeature(ctx, &spatial.Feature{Layer: "buildings", Geometry: bow,
		Attrs: map[string]any{"name": "Bow", "floors": int64(4)}, Props: map[string]any{"colour": "red"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Geometry.(orb.MultiPolygon); !ok || f.Attrs["floors"] != float64(4) || f.Props["colour"] != "red" || f.Source != "manual" || f.H3 == 0 {
		t.Fatalf("stored: %+v", f)
	}
	var valid bool
	var cells, audits int
	var actor string
	pool.QueryRow(ctx, `SELECT ST_IsValid(geom) FROM buildings WHERE id = $1`, f.ID).Scan(&valid)
	pool.QueryRow(ctx, `SELECT count(*) FROM feature_cells WHERE layer = 'buildings' AND feature_id = $1`, f.ID).Scan(&cells)
	pool.QueryRow(ctx, `SELECT count(*), max(actor) FROM audit_log WHERE entity_type = 'feature' AND action = 'feature.create'`).Scan(&audits, &actor)
	if !valid || cells == 0 || audits != 1 || actor != "alice" || len(changes) != 1 || changes[0].IDs[0] != f.ID {
		t.Fatalf("valid %v cells %d audits %d actor %s changes %+v", valid, cells, audits, actor, changes)
	}

	// Typed attributes are checked; nothing is written on error.
	bad := []struct {
		props map[string]any
		where string
	}{
		{map[string]any{"floors": "four"}, "properties.floors"},
		{map[string]any{"floors": 4.5}, "properties.floors"},
		{map[string]any{"height_m": true}, "properties.height_m"},
		{map[string]any{"floors": float64(400)}, "properties"},
	}
	for _, b := range bad {
		gf := geojson.NewFeature(orb.Polygon{{{116.30, 37.45}, {116.301, 37.45}, {116.301, 37.451}, {116.30, 37.45}}})
		gf.Properties = b.props
		l, _ := s.Registry.Layer("buildings")
		nf, err := spatial.FeatureFromGeoJSON(l, gf)
		if err == nil {
			_, err = s.InsertFeature(ctx, nf)
		}
		if errs.Code(err) != errs.EINVALID || errs.Where(err) != b.where {
			t.Errorf("%v: %v (where %q)", b.props, err, errs.Where(err))
		}
	}
	var n int
	pool.QueryRow(ctx, `SELECT count(*) FROM buildings`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d buildings after refused writes", n)
	}
	if _, err := s.InsertFeature(ctx, &spatial.Feature{Layer: "buildings", Geometry: orb.Point{1, 2}}); errs.Code(err) != errs.EINVALID {
		t.Fatalf("point into buildings: %v", err)
	}

	// Patch, then delete.
	p, err := s.PatchFeature(ctx, "buildings", f.ID, []byte(`{"properties":{"floors":null,"use":"office","colour":null}}`))
	if err != nil || p.Attrs["floors"] != nil || p.Attrs["use"] != "office" || p.Props["colour"] != nil {
		t.Fatalf("patch: %+v %v", p, err)
	}
	if err := s.DeleteFeature(ctx, "buildings", f.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetFeature(ctx, "buildings", f.ID); errs.Code(err) != errs.ENOTFOUND {
		t.Fatalf("get deleted: %v", err)
	}
	if err := s.DeleteFeature(ctx, "buildings", f.ID); errs.Code(err) != errs.ENOTFOUND {
		t.Fatalf("delete twice: %v", err)
	}
	pool.QueryRow(ctx, `SELECT count(*) FROM feature_cells WHERE feature_id = $1`, f.ID).Scan(&cells)
	if cells != 0 || len(changes) != 3 {
		t.Fatalf("after delete: cells %d, changes %d", cells, len(changes))
	}
}
