package twin_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/twin"
	"github.com/citytwin/citytwin/twin/feed"
)

func obs(dev, metric string, t time.Time, v float64) string {
	return fmt.Sprintf(`{"device":%q,"time":%q,"metric":%q,"value":%g}`, dev, rfc(t), metric, v)
}

func TestAlarms(t *testing.T) {
	s := mustServer(t)
	ev := watch(t, s.Bus)
	s.createDevice(t, `{"id":"env-1","kind":"env","lon":116.3,"lat":37.45}`)
	base := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Second)

	// PM2.5 over 75: raised once however many readings stay high.
	s.ingest(t, s.operator, "["+obs("env-1", "pm25", base, 80)+"]")
	s.ingest(t, s.operator, "["+obs("env-1", "pm25", base.Add(time.Second), 90)+","+obs("env-1", "pm25", base.Add(2*time.Second), 95)+"]")
	as := s.alarms(t, "device=env-1&active=true")
	if len(as) != 1 || as[0].Type != "pm25_high" || as[0].Severity != "major" || *as[0].Value != 80 || as[0].Acknowledged {
		t.Fatalf("alarms: %+v", as)
	}
	id := as[0].ID
	e := ev.wait(t, "alarm raised", func(e feed.Event) bool { return e.Entity == fmt.Sprintf("alarm:%d", id) })
	if e.Stream != "event" || e.Kind != "alarm" || e.Layer != "alarms" || e.Version != 1 || e.Cell == 0 {
		t.Fatalf("alarm event: %+v", e)
	}
	var data map[string]any
	json.Unmarshal(e.Data, &data)
	if len(data) != 15 || data["active"] != true || data["device"] != "env-1" {
		t.Fatalf("alarm data: %s", e.Data)
	}

	// Ack: active-acked.
	resp, b := apptest.Do(t, "POST", fmt.Sprintf("%s/api/v1/alarms/%d/ack", s.URL(), id), s.operator, nil)
	var a twin.Alarm
	if resp.StatusCode != 200 || json.Unmarshal(b, &a) != nil || !a.Active || !a.Acknowledged || a.AckedBy == nil || a.Version != 2 {
		t.Fatalf("ack: %d %s", resp.StatusCode, b)
	}
	resp, _ = apptest.Do(t, "POST", fmt.Sprintf("%s/api/v1/alarms/%d/ack", s.URL(), id), s.viewer, nil)
	if resp.StatusCode != 403 {
		t.Fatalf("viewer acked: %d", resp.StatusCode)
	}
	// Still high: no second alarm while the acked one is active.
	s.ingest(t, s.operator, "["+obs("env-1", "pm25", base.Add(3*time.Second), 99)+"]")
	if n := len(s.alarms(t, "device=env-1")); n != 1 {
		t.Fatalf("%d alarms", n)
	}
	// Condition ends: cleared by itself -> cleared-acked.
	s.ingest(t, s.operator, "["+obs("env-1", "pm25", base.Add(4*time.Second), 20)+"]")
	as = s.alarms(t, "device=env-1")
	if len(as) != 1 || as[0].Active || !as[0].Acknowledged || as[0].ClearedAt == nil || as[0].Version != 3 {
		t.Fatalf("after clear: %+v", as)
	}
	// High again: a new alarm; cleared by hand while unacked -> cleared-unacked.
	s.ingest(t, s.operator, "["+obs("env-1", "pm25", base.Add(5*time.Second), 100)+"]")
	as = s.alarms(t, "device=env-1&active=true&acknowledged=false")
	if len(as) != 1 || as[0].ID == id {
		t.Fatalf("second alarm: %+v", as)
	}
	resp, b = apptest.Do(t, "POST", fmt.Sprintf("%s/api/v1/alarms/%d/clear", s.URL(), as[0].ID), s.operator, nil)
	if resp.StatusCode != 200 || json.Unmarshal(b, &a) != nil || a.Active || a.Acknowledged {
		t.Fatalf("clear: %d %s", resp.StatusCode, b)
	}
	if n := len(s.alarms(t, "active=false&acknowledged=false")); n != 1 {
		t.Fatalf("cleared-unacked: %d", n)
	}
	resp, _ = apptest.Do(t, "POST", s.URL()+"/api/v1/alarms/999999/ack", s.operator, nil)
	if resp.StatusCode != 404 {
		t.Fatalf("unknown alarm: %d", resp.StatusCode)
	}
	resp, _ = apptest.Do(t, "GET", s.URL()+"/api/v1/alarms?active=maybe", s.viewer, nil)
	if resp.StatusCode != 400 {
		t.Fatalf("bad filter: %d", resp.StatusCode)
	}
	if n := len(s.alarms(t, "bbox=116.2,37.4,116.4,37.5")); n != 2 {
		t.Fatalf("bbox: %d", n)
	}
	if n := len(s.alarms(t, "bbox=0,0,1,1")); n != 0 {
		t.Fatalf("bbox elsewhere: %d", n)
	}
}

func TestDurationRule(t *testing.T) {
	s := mustServer(t)
	s.createDevice(t, `{"id":"p-1","kind":"pressure","lon":116.3,"lat":37.45}`)
	base := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Second)
	s.ingest(t, s.operator, "["+obs("p-1", "pressure_mpa", base, 0.1)+","+obs("p-1", "pressure_mpa", base.Add(30*time.Second), 0.12)+"]")
	if n := len(s.alarms(t, "device=p-1")); n != 0 {
		t.Fatalf("raised before 60 s: %d", n)
	}
	s.ingest(t, s.operator, "["+obs("p-1", "pressure_mpa", base.Add(61*time.Second), 0.11)+"]")
	as := s.alarms(t, "device=p-1&active=true")
	if len(as) != 1 || as[0].Type != "low_pressure" || as[0].Severity != "critical" {
		t.Fatalf("duration alarm: %+v", as)
	}
	// Back above: clears; a short dip does not raise again.
	s.ingest(t, s.operator, "["+obs("p-1", "pressure_mpa", base.Add(70*time.Second), 0.3)+","+obs("p-1", "pressure_mpa", base.Add(80*time.Second), 0.1)+","+obs("p-1", "pressure_mpa", base.Add(90*time.Second), 0.3)+"]")
	if n := len(s.alarms(t, "device=p-1&active=true")); n != 0 {
		t.Fatalf("still active: %d", n)
	}
	if n := len(s.alarms(t, "device=p-1")); n != 1 {
		t.Fatalf("short dip raised: %d alarms", n)
	}
}

func TestRulesAPI(t *testing.T) {
	s := mustServer(t)
	s.createDevice(t, `{"id":"f-1","kind":"flow","lon":116.3,"lat":37.45}`)
	resp, b := apptest.Do(t, "GET", s.URL()+"/api/v1/rules", s.viewer, nil)
	var rules []twin.Rule
	if resp.StatusCode != 200 || json.Unmarshal(b, &rules) != nil || len(rules) < 5 {
		t.Fatalf("rules: %d %s", resp.StatusCode, b)
	}
	// A range rule and a rate rule for one device.
	resp, b = apptest.DoJSON(t, "POST", s.URL()+"/api/v1/rules", s.admin, `{"name":"flow band","device_id":"f-1","metric":"flow_m3h","kind":"range","min":10,"max":100,"alarm_type":"flow_band","severity":"minor"}`)
	var rng twin.Rule
	if resp.StatusCode != 201 || json.Unmarshal(b, &rng) != nil || rng.ID == 0 || !rng.AutoClear {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	resp, b = apptest.DoJSON(t, "POST", s.URL()+"/api/v1/rules", s.admin, `{"name":"flow jump","device_kind":"flow","metric":"flow_m3h","kind":"rate","value":5,"alarm_type":"flow_jump","severity":"major","auto_clear":false}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create rate: %d %s", resp.StatusCode, b)
	}
	for _, bad := range []string{
		`{"name":"x","metric":"flow_m3h","kind":"range","min":1,"max":2,"alarm_type":"x","severity":"minor"}`,
		`{"name":"x","device_kind":"flow","metric":"flow_m3h","kind":"threshold","alarm_type":"x","severity":"minor"}`,
		`{"name":"x","device_kind":"flow","metric":"flow_m3h","kind":"range","min":3,"max":2,"alarm_type":"x","severity":"minor"}`,
		`{"name":"x","device_kind":"flow","metric":"flow_m3h","kind":"rate","value":1,"alarm_type":"x","severity":"huge"}`,
		`{"name":"x","device_kind":"flow","metric":"flow_m3h","kind":"sometimes","alarm_type":"x","severity":"minor"}`,
	} {
		resp, b := apptest.DoJSON(t, "POST", s.URL()+"/api/v1/rules", s.admin, bad)
		if resp.StatusCode != 400 {
			t.Errorf("%s: %d %s", bad, resp.StatusCode, b)
		}
	}
	base := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Second)
	s.ingest(t, s.operator, "["+obs("f-1", "flow_m3h", base, 50)+","+obs("f-1", "flow_m3h", base.Add(10*time.Second), 60)+"]")
	if n := len(s.alarms(t, "device=f-1")); n != 0 {
		t.Fatalf("alarms in band: %d", n)
	}
	// 60 -> 200 in 10 s: out of range and a jump of 14/s.
	s.ingest(t, s.operator, "["+obs("f-1", "flow_m3h", base.Add(20*time.Second), 200)+"]")
	as := s.alarms(t, "device=f-1&active=true")
	types := map[string]bool{}
	for _, a := range as {
		types[a.Type] = true
	}
	if len(as) != 2 || !types["flow_band"] || !types["flow_jump"] {
		t.Fatalf("alarms: %+v", as)
	}
	// Back in band slowly: the range alarm clears, the rate alarm (no auto clear) stays.
	s.ingest(t, s.operator, "["+obs("f-1", "flow_m3h", base.Add(60*time.Second), 90)+"]")
	as = s.alarms(t, "device=f-1&active=true")
	if len(as) != 1 || as[0].Type != "flow_jump" {
		t.Fatalf("after: %+v", as)
	}
	resp, _ = apptest.Do(t, "DELETE", fmt.Sprintf("%s/api/v1/rules/%d", s.URL(), rng.ID), s.admin, nil)
	if resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	resp, _ = apptest.Do(t, "DELETE", fmt.Sprintf("%s/api/v1/rules/%d", s.URL(), rng.ID), s.admin, nil)
	if resp.StatusCode != 404 {
		t.Fatalf("delete twice: %d", resp.StatusCode)
	}
}

func TestLampFaultMarksPole(t *testing.T) {
	s := mustServer(t)
	ev := watch(t, s.Bus)
	var pole int64
	if err := s.Pool.QueryRow(t.Context(), `INSERT INTO smart_poles (name, geom) VALUES ('P1', ST_SetSRID(ST_MakePoint(116.31, 37.46), 4326)) RETURNING id`).Scan(&pole); err != nil {
		t.Fatal(err)
	}
	s.createDevice(t, fmt.Sprintf(`{"id":"lamp-1","kind":"lamp","feature":{"layer":"smart_poles","id":%d}}`, pole))
	base := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	// Off and no current: fine. On and no current: lamp fault.
	s.ingest(t, s.operator, "["+obs("lamp-1", "on", base, 0)+","+obs("lamp-1", "current_a", base, 0)+"]")
	if n := len(s.alarms(t, "device=lamp-1")); n != 0 {
		t.Fatalf("fault while off")
	}
	s.ingest(t, s.operator, "["+obs("lamp-1", "on", base.Add(time.Second), 1)+"]")
	as := s.alarms(t, "device=lamp-1&active=true")
	if len(as) != 1 || as[0].Type != "lamp_fault" {
		t.Fatalf("lamp fault: %+v", as)
	}
	status := func() string {
		var st string
		s.Pool.QueryRow(t.Context(), `SELECT status FROM smart_poles WHERE id = $1`, pole).Scan(&st)
		return st
	}
	if st := status(); st != "fault" {
		t.Fatalf("pole status %q", st)
	}
	entity := fmt.Sprintf("smart_poles:%d", pole)
	e := ev.wait(t, "feature status", func(e feed.Event) bool { return e.Entity == entity && strings.Contains(string(e.Data), "fault") })
	if e.Kind != "feature_status" || e.Layer != "smart_poles" || e.Stream != "state" {
		t.Fatalf("event: %+v", e)
	}
	// Current flows again: cleared, pole ok.
	s.ingest(t, s.operator, "["+obs("lamp-1", "current_a", base.Add(2*time.Second), 0.8)+"]")
	if st := status(); st != "ok" {
		t.Fatalf("pole status after repair %q", st)
	}
	ev.wait(t, "feature ok", func(e feed.Event) bool { return e.Entity == entity && strings.Contains(string(e.Data), `"ok"`) })
}

func TestOffline(t *testing.T) {
	s := mustServer(t)
	ev := watch(t, s.Bus)
	d := s.createDevice(t, `{"id":"env-1","kind":"env","lon":116.3,"lat":37.45,"interval_s":1}`)
	s.ingest(t, d.Key, "["+obs("env-1", "pm25", time.Now(), 5)+"]")
	if got := s.device(t, "env-1"); got.Status != "online" {
		t.Fatalf("status %q", got.Status)
	}
	// Silent for more than 3 intervals: offline, with an alarm.
	eventually(t, func() string {
		if got := s.device(t, "env-1"); got.Status != "offline" {
			return "still " + got.Status
		}
		return ""
	})
	ev.wait(t, "offline event", func(e feed.Event) bool {
		return e.Entity == "device:env-1" && strings.Contains(string(e.Data), `"status":"offline"`)
	})
	as := s.alarms(t, "device=env-1&active=true")
	if len(as) != 1 || as[0].Type != "offline" {
		t.Fatalf("offline alarm: %+v", as)
	}
	// Reports again: online, alarm cleared.
	s.ingest(t, d.Key, "["+obs("env-1", "pm25", time.Now(), 6)+"]")
	if got := s.device(t, "env-1"); got.Status != "online" {
		t.Fatalf("status %q", got.Status)
	}
	if n := len(s.alarms(t, "device=env-1&active=true")); n != 0 {
		t.Fatalf("offline alarm still active")
	}
}
