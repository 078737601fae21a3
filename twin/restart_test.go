package twin_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/citytwin/citytwin/internal/app"
	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/config"
	"github.com/citytwin/citytwin/internal/dbtest"
)

func TestRestartKeepsStateAndAlarms(t *testing.T) {
	cfg := apptest.Config(t)
	a1, stop := apptest.Run(t, cfg)
	s1 := &server{App: a1, admin: apptest.Key(t, a1, auth.Admin), operator: apptest.Key(t, a1, auth.Operator), viewer: apptest.Key(t, a1, auth.Viewer)}
	s1.createDevice(t, `{"id":"env-1","kind":"env","lon":116.3,"lat":37.45}`)
	now := time.Now().UTC().Truncate(time.Second)
	s1.ingest(t, s1.operator, "["+obs("env-1", "pm25", now, 88)+","+obs("env-1", "temp_c", now, 19)+"]")
	before := s1.device(t, "env-1")
	alarms := s1.alarms(t, "active=true")
	if len(alarms) != 1 {
		t.Fatalf("alarms before: %+v", alarms)
	}
	stop()

	a2, _ := apptest.Run(t, cfg)
	s2 := &server{App: a2, admin: s1.admin, operator: s1.operator, viewer: s1.viewer}
	after := s2.device(t, "env-1")
	if after.Version != before.Version || after.Status != before.Status || after.Values["pm25"] != before.Values["pm25"] ||
		after.Values["temp_c"] != before.Values["temp_c"] || !after.LastSeen.Equal(*before.LastSeen) {
		t.Fatalf("state changed across restart:\n%+v\n%+v", before, after)
	}
	// The active alarm is known: more high readings do not raise another.
	s2.ingest(t, s2.operator, "["+obs("env-1", "pm25", now.Add(time.Second), 95)+"]")
	if as := s2.alarms(t, "device=env-1"); len(as) != 1 || as[0].ID != alarms[0].ID {
		t.Fatalf("alarms after restart: %+v", as)
	}
	if after2 := s2.device(t, "env-1"); after2.Version != before.Version+1 {
		t.Fatalf("version did not continue: %d after %d", after2.Version, before.Version)
	}
}

// TestDatabaseRestartLosesNothing restarts PostgreSQL while devices publish
// over MQTT (QoS 1) and HTTP; every observation ends up stored once.
func TestDatabaseRestartLosesNothing(t *testing.T) {
	c := dbtest.NewCluster(t)
	cfg := apptest.Config(t)
	cfg.DatabaseURL = c.URL()
	a, _ := apptest.Run(t, cfg)
	s := &server{App: a, admin: apptest.Key(t, a, auth.Admin), operator: apptest.Key(t, a, auth.Operator)}
	const devices, perDevice = 4, 60
	keys := make([]string, devices)
	for i := range keys {
		keys[i] = s.createDevice(t, fmt.Sprintf(`{"id":"f-%d","kind":"flow","lon":116.3,"lat":37.45}`, i)).Key
	}
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	clients := map[int]paho.Client{}
	for i := 0; i < devices; i += 2 {
		clients[i] = mustMQTT(t, s.Twin.MQTTAddr(), fmt.Sprintf("f-%d", i), keys[i])
	}
	var wg sync.WaitGroup
	var failures atomic.Int32
	for i := 0; i < devices; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := fmt.Sprintf("f-%d", i)
			cl := clients[i]
			for k := 0; k < perDevice; k++ {
				tm := base.Add(time.Duration(k) * time.Second)
				if i%2 == 0 {
					// MQTT QoS 1: the PUBACK waits for the database.
					if err := publish(t, cl, "citytwin/devices/"+id+"/telemetry", fmt.Sprintf(`{"time":%q,"values":{"flow_m3h":%d}}`, rfc(tm), k)); err != nil {
						failures.Add(1)
						t.Errorf("%s: %v", id, err)
						return
					}
				} else {
					// HTTP: retry until answered (idempotent).
					for try := 0; ; try++ {
						resp, err := httpPost(s.URL()+"/api/v1/observations", keys[i], "["+obs(id, "flow_m3h", tm, float64(k))+"]")
						if err == nil && resp == 200 {
							break
						}
						if try > 200 {
							failures.Add(1)
							t.Errorf("%s: gave up: %v %d", id, err, resp)
							return
						}
						time.Sleep(100 * time.Millisecond)
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
		}(i)
	}
	time.Sleep(300 * time.Millisecond)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d writers failed", failures.Load())
	}
	if n := s.count(t, `SELECT count(*) FROM observations`); n != devices*perDevice {
		t.Fatalf("stored %d observations, want %d", n, devices*perDevice)
	}
	var retries string
	_, b := apptest.Do(t, "GET", s.URL()+"/metrics", "", nil)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "citytwin_ingest_retries_total") {
			retries = l
		}
	}
	t.Logf("%s", retries)
	if retries == "" || strings.HasSuffix(retries, " 0") {
		t.Errorf("no batch was retried: the database restart missed the load")
	}
}

// TestExternalMosquitto runs ingest and commands through a real Mosquitto.
func TestExternalMosquitto(t *testing.T) {
	bin := "/usr/sbin/mosquitto"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("mosquitto is needed (scripts/install-deps.sh installs it): %v", err)
	}
	port := freePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", port)), 0o644)
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	eventually(t, func() string {
		if _, err := mqttClient(t, addr, "probe", "x"); err != nil {
			return "mosquitto not up: " + err.Error()
		}
		return ""
	})
	a := apptest.MustRun(t, func(c *config.Config) { c.MQTTAddr = "off"; c.MQTTURL = "tcp://" + addr })
	s := &server{App: a, admin: apptest.Key(t, a, auth.Admin), operator: apptest.Key(t, a, auth.Operator), viewer: apptest.Key(t, a, auth.Viewer)}
	if s.Twin.MQTTAddr() != "" {
		t.Fatal("embedded broker runs beside the external one")
	}
	d := s.createDevice(t, `{"id":"lamp-1","kind":"lamp","lon":116.3,"lat":37.45}`)
	dev := mustMQTT(t, addr, "lamp-1", d.Key)
	if err := publish(t, dev, "citytwin/devices/lamp-1/telemetry", `{"values":{"power_w":120,"current_a":0.5}}`); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() string {
		if n := s.count(t, `SELECT count(*) FROM observations WHERE device_id = 'lamp-1'`); n != 2 {
			return fmt.Sprintf("%d rows via mosquitto", n)
		}
		return ""
	})
	if got := s.device(t, "lamp-1"); got.Values["power_w"].Value != 120 || got.Status != "online" {
		t.Fatalf("state: %+v", got)
	}
	var answered atomic.Int32
	lampDevice(t, dev, "lamp-1", &answered)
	resp, b := apptest.DoJSON(t, "POST", s.URL()+"/api/v1/devices/lamp-1/commands?timeout=5s", s.operator, `{"command":"switch","args":{"on":true}}`)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"status":"ok"`) {
		t.Fatalf("command via mosquitto: %d %s", resp.StatusCode, b)
	}
	if got := s.device(t, "lamp-1"); got.Values["on"].Value != 1 {
		t.Fatalf("state after command: %+v", got.Values)
	}
}

func TestMQTTPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := apptest.Config(t)
	cfg.MQTTAddr = l.Addr().String()
	a := app.New(cfg, io.Discard, io.Discard)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = a.Run(ctx)
	a.Close()
	if err == nil || !strings.Contains(err.Error(), cfg.MQTTAddr) || !strings.Contains(err.Error(), "CITYTWIN_MQTT_ADDR") {
		t.Fatalf("error %v does not name %s and CITYTWIN_MQTT_ADDR", err, cfg.MQTTAddr)
	}
}

// TestTwoInstances: a device registered through one instance reports
// through another on the same database.
func TestTwoInstances(t *testing.T) {
	cfg := apptest.Config(t)
	a1 := apptest.Start(t, cfg)
	cfg2 := cfg
	cfg2.DataDir = t.TempDir()
	a2 := apptest.Start(t, cfg2)
	s1 := &server{App: a1, admin: apptest.Key(t, a1, auth.Admin), viewer: apptest.Key(t, a1, auth.Viewer)}
	s2 := &server{App: a2, operator: apptest.Key(t, a2, auth.Operator), viewer: s1.viewer}
	d := s1.createDevice(t, `{"id":"env-9","kind":"env","lon":116.3,"lat":37.45}`)
	if r := s2.ingest(t, d.Key, "["+obs("env-9", "pm25", time.Now(), 9)+"]"); r.Accepted != 1 {
		t.Fatalf("second instance: %+v", r)
	}
	if got := s2.device(t, "env-9"); got.Values["pm25"].Value != 9 {
		t.Fatalf("state on the second instance: %+v", got)
	}
	if r := s2.ingest(t, s2.operator, "["+obs("nope", "pm25", time.Now(), 9)+"]"); len(r.Rejected) != 1 || r.Rejected[0].Reason != "unknown_device" {
		t.Fatalf("unknown device: %+v", r)
	}
}

// TestDurationRuleSurvivesRestart: when a duration rule's condition began is
// rebuilt from the stored observations at start, so a restart neither resets
// nor invents it: a condition that ended and began again counts from its
// second start, a guard (when_metric) that stopped holding ends it, and one
// that held past the whole duration before the restart (its alarm cleared by
// hand) raises again at once, as without a restart.
func TestDurationRuleSurvivesRestart(t *testing.T) {
	cfg := apptest.Config(t)
	a1, stop := apptest.Run(t, cfg)
	s := &server{App: a1, admin: apptest.Key(t, a1, auth.Admin), operator: apptest.Key(t, a1, auth.Operator), viewer: apptest.Key(t, a1, auth.Viewer)}
	resp, b := apptest.DoJSON(t, "POST", s.URL()+"/api/v1/rules", s.admin, `{"name":"lamp dark","device_kind":"lamp","metric":"current_a",
		"kind":"threshold","op":"<=","value":0,"for_s":30,"when_metric":"on","when_op":"==","when_value":1,
		"alarm_type":"lamp_dark","severity":"minor"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create rule: %d %s", resp.StatusCode, b)
	}
	for _, d := range []string{
		`{"id":"p-2","kind":"pressure","lon":116.3,"lat":37.45}`, `{"id":"p-3","kind":"pressure","lon":116.3,"lat":37.45}`,
		`{"id":"l-1","kind":"lamp","lon":116.3,"lat":37.45}`, `{"id":"l-2","kind":"lamp","lon":116.3,"lat":37.45}`,
	} {
		s.createDevice(t, d)
	}
	base := time.Now().UTC().Add(-20 * time.Minute).Truncate(time.Second)
	at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }
	s.ingest(t, s.operator, "["+strings.Join([]string{
		// p-2: low from 0, back up at 20, low again from 40.
		obs("p-2", "pressure_mpa", at(0), 0.1), obs("p-2", "pressure_mpa", at(20), 0.3), obs("p-2", "pressure_mpa", at(40), 0.1),
		// p-3: low from 0 to 100: raised at 100.
		obs("p-3", "pressure_mpa", at(0), 0.1), obs("p-3", "pressure_mpa", at(50), 0.1), obs("p-3", "pressure_mpa", at(100), 0.1),
		// l-1: on, dark from 10.
		obs("l-1", "on", at(0), 1), obs("l-1", "current_a", at(10), 0),
		// l-2: on, dark from 10, switched off at 20 (guard ends), on again at 30.
		obs("l-2", "on", at(0), 1), obs("l-2", "current_a", at(10), 0), obs("l-2", "on", at(20), 0), obs("l-2", "on", at(30), 1),
	}, ",")+"]")
	raised := s.alarms(t, "device=p-3&active=true")
	if len(raised) != 1 || raised[0].Type != "low_pressure" {
		t.Fatalf("p-3: %+v", raised)
	}
	if resp, b := apptest.Do(t, "POST", fmt.Sprintf("%s/api/v1/alarms/%d/clear", s.URL(), raised[0].ID), s.operator, nil); resp.StatusCode != 200 {
		t.Fatalf("clear: %d %s", resp.StatusCode, b)
	}
	if as := s.alarms(t, "active=true&device=p-2"); len(as) != 0 {
		t.Fatalf("p-2 raised early: %+v", as)
	}
	stop()

	a2, _ := apptest.Run(t, cfg)
	s.App = a2
	active := func(dev, typ string) bool {
		for _, a := range s.alarms(t, "active=true&device="+dev) {
			if a.Type == typ {
				return true
			}
		}
		return false
	}
	for _, step := range []struct {
		dev, metric string
		sec         int
		value       float64
		typ         string
		want        bool
	}{
		{"p-2", "pressure_mpa", 70, 0.1, "low_pressure", false}, // 30 s since 40
		{"p-2", "pressure_mpa", 101, 0.1, "low_pressure", true}, // 61 s since 40
		{"p-3", "pressure_mpa", 110, 0.1, "low_pressure", true}, // since 0
		{"l-1", "current_a", 35, 0, "lamp_dark", false},         // 25 s since 10
		{"l-1", "current_a", 41, 0, "lamp_dark", true},          // 31 s since 10
		{"l-2", "current_a", 50, 0, "lamp_dark", false},         // 20 s since 30 (not 10)
		{"l-2", "current_a", 61, 0, "lamp_dark", true},          // 31 s since 30
	} {
		s.ingest(t, s.operator, "["+obs(step.dev, step.metric, at(step.sec), step.value)+"]")
		if got := active(step.dev, step.typ); got != step.want {
			t.Fatalf("%s at %d s after the restart: %s active = %v, want %v", step.dev, step.sec, step.typ, got, step.want)
		}
	}
}

// A device's row and its device_state are not rewritten on every report
// (only on a status change, or once its last_seen has moved on by half its
// interval): after a restart, its version, last_seen and values continue
// from its latest logged event,
// in the twin and in the websocket snapshot alike, so clients never see a
// version go back.
func TestRestartCatchesUpFromTheLog(t *testing.T) {
	cfg := apptest.Config(t)
	a1, stop := apptest.Run(t, cfg)
	s1 := &server{App: a1, admin: apptest.Key(t, a1, auth.Admin), operator: apptest.Key(t, a1, auth.Operator), viewer: apptest.Key(t, a1, auth.Viewer)}
	s1.createDevice(t, `{"id":"env-9","kind":"env","lon":116.3,"lat":37.45}`)
	now := time.Now().UTC().Truncate(time.Second)
	for i := range 4 {
		s1.ingest(t, s1.operator, "["+obs("env-9", "temp_c", now.Add(time.Duration(i)*time.Second), float64(10+i))+"]")
	}
	before := s1.device(t, "env-9")
	if rowVersion := s1.count(t, `SELECT version FROM devices WHERE id = 'env-9'`); int64(rowVersion) >= before.Version {
		t.Fatalf("the row was rewritten on every report: version %d in the row, %d live", rowVersion, before.Version)
	}
	if v := s1.count(t, `SELECT value::int FROM device_state WHERE device_id = 'env-9' AND metric = 'temp_c'`); v == 13 {
		t.Fatal("device_state was rewritten on every report")
	}
	stop()

	a2, _ := apptest.Run(t, cfg)
	s2 := &server{App: a2, admin: s1.admin, operator: s1.operator, viewer: s1.viewer}
	after := s2.device(t, "env-9")
	if after.Version != before.Version || !after.LastSeen.Equal(*before.LastSeen) || after.Values["temp_c"] != before.Values["temp_c"] {
		t.Fatalf("state went back across the restart:\n%+v\n%+v", before, after)
	}
	f := dialFeed(t, s2.URL(), s2.admin)
	f.send(map[string]any{"type": "subscribe", "entities": []string{"device:env-9"}})
	snap := f.expect("snapshot")
	if len(snap.Entities) != 1 || snap.Entities[0].Version != before.Version {
		t.Fatalf("snapshot %+v, want device:env-9 at version %d", snap.Entities, before.Version)
	}
	s2.ingest(t, s2.operator, "["+obs("env-9", "temp_c", now.Add(time.Minute), 20)+"]")
	if d := f.expect("delta"); d.Entity != "device:env-9" || d.Version != before.Version+1 {
		t.Fatalf("delta %+v, want version %d", d, before.Version+1)
	}
}
