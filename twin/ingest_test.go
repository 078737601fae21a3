package twin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/twin/feed"
)

func TestHTTPIngest(t *testing.T) {
	s := mustServer(t)
	ev := watch(t, s.Bus)
	d1 := s.createDevice(t, `{"id":"env-1","kind":"env","lon":116.3,"lat":37.45}`)
	s.createDevice(t, `{"id":"env-2","kind":"env","lon":116.31,"lat":37.45}`)
	now := time.Now().UTC().Truncate(time.Millisecond)
	body := fmt.Sprintf(`[{"device":"env-1","time":%q,"metric":"pm25","value":12.5},{"device":"env-1","time":%q,"metric":"temp_c","value":21}]`,
		rfc(now.Add(-time.Second)), rfc(now))
	r := s.ingest(t, d1.Key, body)
	if r.Accepted != 2 || r.Duplicates != 0 || len(r.Rejected) != 0 {
		t.Fatalf("first: %+v", r)
	}
	// Stored before the answer.
	if n := s.count(t, `SELECT count(*) FROM observations WHERE device_id = 'env-1'`); n != 2 {
		t.Fatalf("stored %d rows", n)
	}
	// Idempotent.
	r = s.ingest(t, d1.Key, body)
	if r.Accepted != 0 || r.Duplicates != 2 {
		t.Fatalf("retry: %+v", r)
	}
	// A batch mixing a stored row with a new one sent twice: the new row is
	// stored once and counted once (this takes the fallback path of the
	// insert, whose COPY fails on the stored row), the others are duplicates.
	later := now.Add(time.Second)
	mixed := fmt.Sprintf(`[{"device":"env-1","time":%q,"metric":"pm25","value":12.5},{"device":"env-1","time":%[2]q,"metric":"pm25","value":13},{"device":"env-1","time":%[2]q,"metric":"pm25","value":13}]`,
		rfc(now.Add(-time.Second)), rfc(later))
	r = s.ingest(t, d1.Key, mixed)
	if r.Accepted != 1 || r.Duplicates != 2 {
		t.Fatalf("mixed: %+v", r)
	}
	if n := s.count(t, `SELECT count(*) FROM observations WHERE device_id = 'env-1'`); n != 3 {
		t.Fatalf("stored %d rows after the mixed batch, want 3", n)
	}
	if d := s.device(t, "env-1"); d.Values["pm25"].Value != 13 || !d.Values["pm25"].Time.Equal(later) {
		t.Fatalf("state after the mixed batch: %+v", d.Values["pm25"])
	}
	// State and event.
	d := s.device(t, "env-1")
	if d.Status != "online" || d.Values["pm25"].Value != 13 || !d.Values["temp_c"].Time.Equal(now) || d.LastSeen == nil {
		t.Fatalf("state: %+v", d)
	}
	e := ev.wait(t, "device state", func(e feed.Event) bool {
		return e.Entity == "device:env-1" && strings.Contains(string(e.Data), `"pm25"`)
	})
	var data struct {
		Status string
		Values map[string]struct{ Value float64 }
	}
	json.Unmarshal(e.Data, &data)
	if data.Status != "online" || data.Values["pm25"].Value != 12.5 || e.Version < 2 {
		t.Fatalf("event: %+v %s", e, e.Data)
	}
	var logged int
	if err := s.Pool.QueryRow(t.Context(), `SELECT count(*) FROM event_log WHERE seq = $1 AND entity = 'device:env-1'`, e.Seq).Scan(&logged); err != nil || logged != 1 {
		t.Fatalf("event not in the log: %v %d", err, logged)
	}

	// Rejections: each names its record and reason; nothing of them is stored.
	bad := fmt.Sprintf(`[
		{"device":"env-2","time":%[1]q,"metric":"pm25","value":1},
		{"device":"nope","time":%[1]q,"metric":"pm25","value":1},
		{"device":"env-1","time":%[1]q,"metric":"volume","value":1},
		{"device":"env-1","time":%[1]q,"metric":"humidity","value":140},
		{"device":"env-1","time":%[1]q,"metric":"pm10","value":"12"},
		{"device":"env-1","time":%[2]q,"metric":"pm10","value":3},
		{"device":"env-1","time":"yesterday","metric":"pm10","value":3},
		{"device":"env-1","time":%[1]q,"metric":"pm10","value":4, "extra":1},
		{"device":"env-1","time":%[1]q,"metric":"no2","value":40}
	]`, rfc(now.Add(time.Second)), rfc(now.Add(10*time.Minute)))
	r = s.ingest(t, d1.Key, bad)
	want := []string{"forbidden", "unknown_device", "unknown_metric", "out_of_range", "not_a_number", "future_time", "bad_time", "malformed"}
	if r.Accepted != 1 || len(r.Rejected) != len(want) {
		t.Fatalf("rejections: %+v", r)
	}
	for i, w := range want {
		if !strings.HasPrefix(r.Rejected[i].Reason, w) {
			if r.Rejected[i].Index != i {
				t.Errorf("rejection %d: %+v", i, r.Rejected[i])
			}
			t.Errorf("rejection %d: %q, want %s", i, r.Rejected[i].Reason, w)
		}
	}
	if n := s.count(t, `SELECT count(*) FROM observations WHERE device_id = 'env-2' OR metric IN ('humidity', 'pm10', 'volume')`); n != 0 {
		t.Fatalf("stored %d refused rows", n)
	}

	// NDJSON by a gateway (operator key) for several devices.
	nd := fmt.Sprintf("{\"device\":\"env-1\",\"time\":%q,\"metric\":\"o3\",\"value\":50}\n\n{\"device\":\"env-2\",\"time\":%q,\"metric\":\"o3\",\"value\":60}\n", rfc(now), rfc(now))
	resp, b := apptest.Do(t, "POST", s.URL()+"/api/v1/observations", s.operator, strings.NewReader(nd), "Content-Type", "application/x-ndjson")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"accepted":2`) {
		t.Fatalf("ndjson: %d %s", resp.StatusCode, b)
	}
	// Whole-body errors and credentials.
	for _, c := range []struct {
		key, body string
		status    int
	}{
		{"", `[]`, 401},
		{s.viewer, `[]`, 403},
		{s.operator, `{"device":`, 400},
		{s.operator, `42`, 400},
		{s.operator, ``, 400},
	} {
		resp, b := apptest.DoJSON(t, "POST", s.URL()+"/api/v1/observations", c.key, c.body)
		if resp.StatusCode != c.status {
			t.Errorf("%q: %d %s, want %d", c.body, resp.StatusCode, b, c.status)
		}
		apptest.ErrorBody(t, b)
	}
	// Metrics count refusals.
	_, b = apptest.Do(t, "GET", s.URL()+"/metrics", "", nil)
	if !strings.Contains(string(b), `citytwin_observations_rejected_total{reason="out_of_range"} 1`) {
		t.Errorf("metrics lack rejections")
	}
}

func TestRateLimit(t *testing.T) {
	t.Setenv("CITYTWIN_DEVICE_RATE", "1")
	t.Setenv("CITYTWIN_DEVICE_BURST", "5")
	s := mustServer(t)
	d := s.createDevice(t, `{"id":"flood","kind":"flow","lon":116.3,"lat":37.45}`)
	var obs []string
	base := time.Now().Add(-time.Hour)
	for i := 0; i < 20; i++ {
		obs = append(obs, fmt.Sprintf(`{"device":"flood","time":%q,"metric":"flow_m3h","value":%d}`, rfc(base.Add(time.Duration(i)*time.Second)), i))
	}
	r := s.ingest(t, d.Key, "["+strings.Join(obs, ",")+"]")
	if r.Accepted != 5 || len(r.Rejected) != 15 || r.Rejected[0].Reason != "rate_limited" {
		t.Fatalf("flood: %+v", r)
	}
	_, b := apptest.Do(t, "GET", s.URL()+"/metrics", "", nil)
	if !strings.Contains(string(b), `citytwin_observations_rejected_total{reason="rate_limited"} 15`) {
		t.Errorf("metrics lack the flood")
	}
}

func TestMQTTIngest(t *testing.T) {
	s := mustServer(t)
	ev := watch(t, s.Bus)
	addr := s.Twin.MQTTAddr()
	if addr == "" || strings.HasSuffix(addr, ":0") {
		t.Fatalf("broker address %q", addr)
	}
	d1 := s.createDevice(t, `{"id":"p-1","kind":"pressure","lon":116.3,"lat":37.45}`)
	d2 := s.createDevice(t, `{"id":"p-2","kind":"pressure","lon":116.31,"lat":37.45}`)

	c := mustMQTT(t, addr, "p-1", d1.Key)
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := publish(t, c, "citytwin/devices/p-1/telemetry", fmt.Sprintf(`{"time":%q,"values":{"pressure_mpa":0.31}}`, rfc(now))); err != nil {
		t.Fatal(err)
	}
	// PUBACK came after the commit: the row is there now.
	if n := s.count(t, `SELECT count(*) FROM observations WHERE device_id = 'p-1'`); n != 1 {
		t.Fatalf("after PUBACK: %d rows", n)
	}
	ev.wait(t, "device state over MQTT", func(e feed.Event) bool {
		return e.Entity == "device:p-1" && strings.Contains(string(e.Data), `"pressure_mpa":{"value":0.31`)
	})
	// Same message again: stored once.
	if err := publish(t, c, "citytwin/devices/p-1/telemetry", fmt.Sprintf(`{"time":%q,"values":{"pressure_mpa":0.31}}`, rfc(now))); err != nil {
		t.Fatal(err)
	}
	if n := s.count(t, `SELECT count(*) FROM observations WHERE device_id = 'p-1'`); n != 1 {
		t.Fatalf("duplicate stored: %d rows", n)
	}
	// Heartbeat.
	if err := publish(t, c, "citytwin/devices/p-1/heartbeat", ``); err != nil {
		t.Fatal(err)
	}
	// Malformed payloads and out of range values are acknowledged but not stored.
	for _, p := range []string{`not json`, `{"values":{"pressure_mpa":"high"}}`, `{"values":{"pressure_mpa":99}}`, `{"values":{}}`} {
		if err := publish(t, c, "citytwin/devices/p-1/telemetry", p); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.count(t, `SELECT count(*) FROM observations WHERE device_id = 'p-1'`); n != 1 {
		t.Fatalf("bad payload stored: %d rows", n)
	}

	// A device writing another device's topic is refused (MQTT 3.1.1: disconnected).
	publish(t, c, "citytwin/devices/p-2/telemetry", `{"values":{"pressure_mpa":0.2}}`)
	time.Sleep(200 * time.Millisecond)
	if n := s.count(t, `SELECT count(*) FROM observations WHERE device_id = 'p-2'`); n != 0 {
		t.Fatalf("p-1 wrote p-2's telemetry")
	}
	// Wrong credentials.
	if _, err := mqttClient(t, addr, "p-2", d1.Key); err == nil {
		t.Fatal("p-2 connected with p-1's key")
	}
	if _, err := mqttClient(t, addr, "p-2", "ct_nope"); err == nil {
		t.Fatal("connected with a bad key")
	}
	if _, err := mqttClient(t, addr, "gateway", s.viewer); err == nil {
		t.Fatal("gateway connected with a viewer key")
	}
	// A gateway publishes for any device.
	g := mustMQTT(t, addr, "gateway", s.operator)
	if err := publish(t, g, "citytwin/devices/p-2/telemetry", `{"values":{"pressure_mpa":0.25}}`); err != nil {
		t.Fatal(err)
	}
	if n := s.count(t, `SELECT count(*) FROM observations WHERE device_id = 'p-2'`); n != 1 {
		t.Fatalf("gateway: %d rows", n)
	}
	if got := s.device(t, "p-2"); got.Values["pressure_mpa"].Value != 0.25 || got.Status != "online" {
		t.Fatalf("p-2 state: %+v", got)
	}
	_ = d2
}

// TestIngestUpdatesStayHOT: every batch rewrites the reporting devices' row
// and their latest values. Those updates must find room on their own page
// (HOT: no new index entries, no growth) even while an older snapshot keeps
// the previous versions from being pruned, as a concurrent batch's or an
// ANALYZE's does. At the earlier fillfactor of 70 the devices table and its
// five indexes grew by a page per few devices every time that happened.
func TestIngestUpdatesStayHOT(t *testing.T) {
	s := mustServer(t)
	ctx := context.Background()
	const n = 120
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("hot-%03d", i)
		s.createDevice(t, fmt.Sprintf(`{"id":%q,"kind":"env","name":"device %d","lon":%g,"lat":37.45}`, ids[i], i, 116.3+float64(i)*1e-4))
	}
	batch := func(at time.Time, v int) string {
		var b strings.Builder
		b.WriteString("[")
		for i, id := range ids {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"device":%q,"time":%q,"metric":"pm25","value":%d}`, id, rfc(at), v)
		}
		b.WriteString("]")
		return b.String()
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	// The first batch inserts the latest values; later ones update them.
	if r := s.ingest(t, s.admin, batch(now, 1)); r.Accepted != n {
		t.Fatalf("first batch: %+v", r)
	}
	pages := func(rel string) int64 {
		var p int64
		if err := s.Pool.QueryRow(ctx, `SELECT pg_relation_size($1::regclass) / current_setting('block_size')::int`, rel).Scan(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	devPages, statePages := pages("devices"), pages("device_state")
	devIdx := pages("devices_geom")

	// An older snapshot: nothing updated after it began can be pruned.
	old, err := s.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Rollback(ctx)
	if _, err := old.Exec(ctx, `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ`); err != nil {
		t.Fatal(err)
	}
	var c int
	if err := old.QueryRow(ctx, `SELECT count(*) FROM devices`).Scan(&c); err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= 2; k++ {
		if r := s.ingest(t, s.admin, batch(now.Add(time.Duration(k)*time.Second), k+1)); r.Accepted != n {
			t.Fatalf("batch %d: %+v", k+1, r)
		}
	}
	if got := pages("devices"); got != devPages {
		t.Errorf("devices grew from %d to %d pages: updates were not HOT", devPages, got)
	}
	if got := pages("devices_geom"); got != devIdx {
		t.Errorf("devices_geom grew from %d to %d pages: updates were not HOT", devIdx, got)
	}
	if got := pages("device_state"); got != statePages {
		t.Errorf("device_state grew from %d to %d pages: updates were not HOT", statePages, got)
	}
}
