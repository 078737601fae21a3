package scenes_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/scenes"
	"github.com/citytwin/citytwin/spatial"
)

func TestBuiltinsAreValid(t *testing.T) {
	reg := spatial.NewRegistry()
	seen := map[string]bool{}
	for _, sc := range scenes.Builtins() {
		if err := sc.Validate(reg); err != nil {
			t.Errorf("%s: %v", sc.ID, err)
		}
		if seen[sc.ID] {
			t.Errorf("duplicate scene id %s", sc.ID)
		}
		seen[sc.ID] = true
		layers := map[string]bool{}
		for _, l := range sc.Spec.Layers {
			if layers[l.Layer] {
				t.Errorf("%s lists layer %s twice", sc.ID, l.Layer)
			}
			layers[l.Layer] = true
		}
	}
}

func TestSceneAPI(t *testing.T) {
	a := apptest.MustRun(t)
	op := apptest.Key(t, a, auth.Operator)
	viewer := apptest.Key(t, a, auth.Viewer)
	ctx := context.Background()
	_, err := a.Pool.Exec(ctx, `INSERT INTO project_sites (source_id, name, type, stage, investment, risk_level, geom) VALUES
		('p1', 'Canal park', 'park', 'under_construction', 120, 'low', ST_Multi(ST_MakeEnvelope(116.30, 37.45, 116.302, 37.452, 4326))),
		('p2', 'Metro depot', 'transport', 'under_construction', 800, 'high', ST_Multi(ST_MakeEnvelope(116.31, 37.46, 116.312, 37.462, 4326))),
		('p3', 'School', 'education', 'planned', 60.5, 'medium', ST_Multi(ST_MakeEnvelope(116.40, 37.50, 116.402, 37.502, 4326)))`)
	if err != nil {
		t.Fatal(err)
	}

	resp, body := apptest.Do(t, "GET", a.URL()+"/api/v1/scenes", viewer, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"major-projects"`) {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}

	resp, body = apptest.Do(t, "GET", a.URL()+"/api/v1/scenes/major-projects/kpis", viewer, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("kpis: %d %s", resp.StatusCode, body)
	}
	var k struct {
		KPIs []scenes.KPI `json:"kpis"`
	}
	if err := json.Unmarshal(body, &k); err != nil {
		t.Fatal(err)
	}
	got := map[string]scenes.KPI{}
	for _, x := range k.KPIs {
		got[x.Widget] = x
	}
	if got["investment"].Value != 980.5 || got["high-risk"].Value != 1 {
		t.Fatalf("investment=%v high-risk=%v: %s", got["investment"].Value, got["high-risk"].Value, body)
	}
	stages := map[string]int64{}
	for _, g := range got["by-stage"].Groups {
		stages[g.Key] = g.Count
	}
	if stages["under_construction"] != 2 || stages["planned"] != 1 {
		t.Fatalf("by stage: %v", stages)
	}
	// Within a bbox only the first two count.
	resp, body = apptest.Do(t, "GET", a.URL()+"/api/v1/scenes/major-projects/kpis?bbox=116.29,37.44,116.32,37.47", viewer, nil)
	json.Unmarshal(body, &k)
	for _, x := range k.KPIs {
		if x.Widget == "investment" && x.Value != 920 {
			t.Fatalf("investment in bbox = %v (%s)", x.Value, body)
		}
	}

	scene := `{"name":"Night lights","spec":{"camera":{"center":[116.3,37.45],"zoom":15,"pitch":40,"bearing":0},
		"layers":[{"layer":"smart_poles","visible":true,"filter":{"status":["ok","fault"]}}],
		"widgets":[{"id":"poles","kind":"count","title":"Poles","layer":"smart_poles"}]}}`
	cases := []struct {
		name, method, path, key, body string
		want                          int
		where                         string
	}{
		{"viewer cannot write", "PUT", "/api/v1/scenes/night", viewer, scene, 403, ""},
		{"anonymous cannot write", "PUT", "/api/v1/scenes/night", "", scene, 401, ""},
		{"create", "PUT", "/api/v1/scenes/night", op, scene, 201, ""},
		{"replace", "PUT", "/api/v1/scenes/night", op, scene, 200, ""},
		{"builtin is read-only", "PUT", "/api/v1/scenes/command", op, scene, 409, ""},
		{"bad id", "PUT", "/api/v1/scenes/Bad%20Id", op, scene, 400, "id"},
		{"unknown layer", "PUT", "/api/v1/scenes/x", op, strings.Replace(scene, `"layer":"smart_poles","visible"`, `"layer":"volcanoes","visible"`, 1), 400, "spec.layers[0].layer"},
		{"unknown filter attr", "PUT", "/api/v1/scenes/x", op, strings.Replace(scene, `"status":`, `"colour":`, 1), 400, "spec.layers[0].filter.colour"},
		{"zoom out of range", "PUT", "/api/v1/scenes/x", op, strings.Replace(scene, `"zoom":15`, `"zoom":99`, 1), 400, "spec.camera.zoom"},
		{"malformed json", "PUT", "/api/v1/scenes/x", op, `{"name":`, 400, "body"},
		{"unknown field", "PUT", "/api/v1/scenes/x", op, `{"name":"a","bogus":1}`, 400, "bogus"},
		{"bad bbox", "GET", "/api/v1/scenes/night/kpis?bbox=1,2,3", viewer, "", 400, "bbox"},
		{"unknown param", "GET", "/api/v1/scenes/night/kpis?bboxx=1", viewer, "", 400, "bboxx"},
		{"missing scene", "GET", "/api/v1/scenes/nope", viewer, "", 404, ""},
		{"delete builtin", "DELETE", "/api/v1/scenes/command", op, "", 409, ""},
		{"delete", "DELETE", "/api/v1/scenes/night", op, "", 204, ""},
		{"delete again", "DELETE", "/api/v1/scenes/night", op, "", 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := apptest.DoJSON(t, tc.method, a.URL()+tc.path, tc.key, tc.body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if tc.where != "" {
				if _, _, where := apptest.ErrorBody(t, body); where != tc.where {
					t.Fatalf("where = %q, want %q", where, tc.where)
				}
			}
		})
	}
	var audits int
	a.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE entity_type = 'scene' AND entity_id = 'night' AND actor = 'test-operator'`).Scan(&audits)
	if audits != 3 {
		t.Fatalf("%d audit entries for the scene, want 3 (create, update, delete)", audits)
	}
}
