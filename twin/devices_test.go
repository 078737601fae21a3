package twin_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/twin"
	"github.com/citytwin/citytwin/twin/feed"
)

func TestDevicesAPI(t *testing.T) {
	s := mustServer(t)
	ev := watch(t, s.Bus)
	d := s.createDevice(t, `{"id":"env-1","kind":"env","lon":116.3,"lat":37.45,"name":"Env one"}`)
	if d.Status != "unknown" || d.Kind != "env" || d.IntervalS != 60 || d.Metrics["pm25"].Max != 2000 {
		t.Fatalf("device: %+v", d)
	}
	e := ev.wait(t, "device created", func(e feed.Event) bool { return e.Entity == "device:env-1" })
	if e.Kind != "device" || e.Layer != "devices" || e.Stream != "state" || e.Cell == 0 || e.Version != 1 {
		t.Fatalf("event: %+v", e)
	}
	var data map[string]any
	json.Unmarshal(e.Data, &data)
	for _, k := range []string{"id", "kind", "name", "lon", "lat", "feature", "status", "last_seen", "values"} {
		if _, ok := data[k]; !ok {
			t.Errorf("event data lacks %q: %s", k, e.Data)
		}
	}
	if len(data) != 9 {
		t.Errorf("event data has extra keys: %s", e.Data)
	}

	// Bulk, all or nothing.
	var bulk []string
	for i := 0; i < 50; i++ {
		bulk = append(bulk, fmt.Sprintf(`{"id":"lamp-%03d","kind":"lamp","lon":116.3%02d,"lat":37.45}`, i, i))
	}
	resp, b := apptest.DoJSON(t, "POST", s.URL()+"/api/v1/devices", s.admin, "["+strings.Join(bulk, ",")+"]")
	var created []twin.DeviceView
	if resp.StatusCode != 201 || json.Unmarshal(b, &created) != nil || len(created) != 50 || created[49].Key == "" {
		t.Fatalf("bulk: %d %.300s", resp.StatusCode, b)
	}
	// A bad record fails the whole batch, naming it.
	resp, b = apptest.DoJSON(t, "POST", s.URL()+"/api/v1/devices", s.admin, `[{"id":"x-1","kind":"env","lon":1,"lat":2},{"id":"x-2","kind":"toaster","lon":1,"lat":2}]`)
	if code, _, where := apptest.ErrorBody(t, b); resp.StatusCode != 400 || code != "invalid" || where != "[1].kind" {
		t.Fatalf("bad kind: %d %s", resp.StatusCode, b)
	}
	if n := s.count(t, `SELECT count(*) FROM devices WHERE id LIKE 'x-%'`); n != 0 {
		t.Fatalf("half-written batch: %d devices", n)
	}
	cases := []struct{ body, where string }{
		{`{"id":"bad id","kind":"env","lon":1,"lat":2}`, "device.id"},
		{`{"id":"a","kind":"env","lon":200,"lat":2}`, "device.lon"},
		{`{"id":"a","kind":"env"}`, "device"},
		{`{"id":"a","kind":"env","lon":1,"lat":2,"interval_s":0}`, "device.interval_s"},
		{`{"id":"a","kind":"env","lon":1,"lat":2,"feature":{"layer":"smart_poles","id":1}}`, "device"},
		{`{"id":"a","kind":"env","feature":{"layer":"nope","id":1}}`, "device.feature.layer"},
		{`{"id":"a","kind":"env","feature":{"layer":"smart_poles","id":999}}`, "device.feature"},
		{`{"id":"a","kind":"env","lon":1,"lat":2,"colour":"red"}`, "colour"},
	}
	for _, c := range cases {
		resp, b := apptest.DoJSON(t, "POST", s.URL()+"/api/v1/devices", s.admin, c.body)
		if code, _, where := apptest.ErrorBody(t, b); resp.StatusCode != 400 || code != "invalid" || where != c.where {
			t.Errorf("%s: %d %s (want where %q)", c.body, resp.StatusCode, b, c.where)
		}
	}
	resp, b = apptest.DoJSON(t, "POST", s.URL()+"/api/v1/devices", s.admin, `{"id":"env-1","kind":"env","lon":1,"lat":2}`)
	if resp.StatusCode != 409 {
		t.Fatalf("duplicate: %d %s", resp.StatusCode, b)
	}
	resp, _ = apptest.DoJSON(t, "POST", s.URL()+"/api/v1/devices", s.operator, `{"id":"op-1","kind":"env","lon":1,"lat":2}`)
	if resp.StatusCode != 403 {
		t.Fatalf("operator created a device: %d", resp.StatusCode)
	}

	// List with filters.
	resp, b = apptest.Do(t, "GET", s.URL()+"/api/v1/devices?kind=lamp&bbox=116.3,37,116.3105,38&limit=5", s.viewer, nil)
	var list []twin.DeviceView
	if resp.StatusCode != 200 || json.Unmarshal(b, &list) != nil || len(list) != 5 || list[0].ID != "lamp-000" {
		t.Fatalf("list: %d %.300s", resp.StatusCode, b)
	}
	resp, b = apptest.Do(t, "GET", s.URL()+"/api/v1/devices?bbox=1,2,3", s.viewer, nil)
	if resp.StatusCode != 400 {
		t.Fatalf("bad bbox: %d %s", resp.StatusCode, b)
	}

	// Bound to a feature: takes its point; listed under the feature.
	var pole int64
	if err := s.Pool.QueryRow(t.Context(), `INSERT INTO smart_poles (name, geom) VALUES ('P1', ST_SetSRID(ST_MakePoint(116.31, 37.46), 4326)) RETURNING id`).Scan(&pole); err != nil {
		t.Fatal(err)
	}
	ld := s.createDevice(t, fmt.Sprintf(`{"id":"lamp-pole","kind":"lamp","feature":{"layer":"smart_poles","id":%d}}`, pole))
	if ld.Lon != 116.31 || ld.Lat != 37.46 || ld.Feature == nil || ld.Feature.ID != pole {
		t.Fatalf("feature device: %+v", ld)
	}
	resp, b = apptest.Do(t, "GET", fmt.Sprintf("%s/api/v1/features/smart_poles/%d/devices", s.URL(), pole), s.viewer, nil)
	if resp.StatusCode != 200 || json.Unmarshal(b, &list) != nil || len(list) != 1 || list[0].ID != "lamp-pole" {
		t.Fatalf("feature devices: %d %s", resp.StatusCode, b)
	}

	// Patch and delete.
	resp, b = apptest.DoJSON(t, "PATCH", s.URL()+"/api/v1/devices/env-1", s.admin, `{"name":"renamed","interval_s":30}`)
	var pd twin.DeviceView
	if resp.StatusCode != 200 || json.Unmarshal(b, &pd) != nil || pd.Name != "renamed" || pd.IntervalS != 30 || pd.Version != 2 {
		t.Fatalf("patch: %d %s", resp.StatusCode, b)
	}
	resp, _ = apptest.Do(t, "DELETE", s.URL()+"/api/v1/devices/lamp-049", s.admin, nil)
	if resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	resp, _ = apptest.Do(t, "GET", s.URL()+"/api/v1/devices/lamp-049", s.viewer, nil)
	if resp.StatusCode != 404 {
		t.Fatalf("deleted device: %d", resp.StatusCode)
	}
	if n := s.count(t, `SELECT count(*) FROM api_keys WHERE device_id = 'lamp-049'`); n != 0 {
		t.Fatalf("deleted device keeps its key")
	}
}
