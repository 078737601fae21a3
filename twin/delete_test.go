package twin_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/twin/feed"
)

// TestDeviceDeleteEvents: deleting a device logs (in its transaction) and
// publishes an event with null data for the device and for each of its open
// alarms, none for its closed ones; the twin forgets its active alarms, so
// a device registered again under the same id raises a new one.
func TestDeviceDeleteEvents(t *testing.T) {
	s := mustServer(t)
	ev := watch(t, s.Bus)
	d := s.createDevice(t, `{"id":"tmp-1","kind":"env","lon":116.3,"lat":37.45}`)
	now := time.Now().UTC().Truncate(time.Second)
	// A closed alarm (cleared and acknowledged), then an open one.
	s.ingest(t, d.Key, "["+obs("tmp-1", "pm25", now.Add(-3*time.Second), 100)+"]")
	closed := s.alarms(t, "device=tmp-1")
	if len(closed) != 1 {
		t.Fatalf("alarms: %+v", closed)
	}
	for _, op := range []string{"clear", "ack"} {
		if resp, b := apptest.Do(t, "POST", fmt.Sprintf("%s/api/v1/alarms/%d/%s", s.URL(), closed[0].ID, op), s.operator, nil); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", op, resp.StatusCode, b)
		}
	}
	s.ingest(t, d.Key, "["+obs("tmp-1", "pm25", now.Add(-2*time.Second), 100)+"]")
	open := s.alarms(t, "device=tmp-1&active=true")
	if len(open) != 1 || open[0].ID == closed[0].ID {
		t.Fatalf("open alarms: %+v", open)
	}
	version := s.device(t, "tmp-1").Version

	if resp, b := apptest.Do(t, "DELETE", s.URL()+"/api/v1/devices/tmp-1", s.admin, nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d %s", resp.StatusCode, b)
	}
	alarm := fmt.Sprintf("alarm:%d", open[0].ID)
	dev := ev.wait(t, "device deleted", func(e feed.Event) bool { return e.Entity == "device:tmp-1" && string(e.Data) == "null" })
	if dev.Stream != feed.StreamState || dev.Kind != "device" || dev.Layer != "devices" || dev.Cell == 0 || dev.Version <= version {
		t.Fatalf("device deletion event = %+v (version was %d)", dev, version)
	}
	al := ev.wait(t, "alarm deleted", func(e feed.Event) bool { return e.Entity == alarm && string(e.Data) == "null" })
	if al.Stream != feed.StreamEvent || al.Kind != "alarm" || al.Layer != "alarms" || al.Cell == 0 || al.Seq != dev.Seq+1 {
		t.Fatalf("alarm deletion event = %+v after %+v", al, dev)
	}
	if n := len(ev.all(func(e feed.Event) bool {
		return e.Entity == fmt.Sprintf("alarm:%d", closed[0].ID) && string(e.Data) == "null"
	})); n != 0 {
		t.Errorf("%d deletion events for the closed alarm", n)
	}
	// Logged, with the data null (not {}).
	if n := s.count(t, `SELECT count(*) FROM event_log WHERE seq IN ($1, $2) AND data::text = 'null'`, dev.Seq, al.Seq); n != 2 {
		t.Fatalf("%d deletion events logged, want 2", n)
	}
	if n := s.count(t, `SELECT count(*) FROM alarms WHERE device_id = 'tmp-1'`); n != 0 {
		t.Fatalf("%d alarms left", n)
	}
	if resp, _ := apptest.Do(t, "DELETE", s.URL()+"/api/v1/devices/tmp-1", s.admin, nil); resp.StatusCode != 404 {
		t.Fatalf("second delete: %d", resp.StatusCode)
	}

	// Registered again: the old active alarm is forgotten, a new one rises.
	d = s.createDevice(t, `{"id":"tmp-1","kind":"env","lon":116.3,"lat":37.45}`)
	s.ingest(t, d.Key, "["+obs("tmp-1", "pm25", now.Add(-time.Second), 100)+"]")
	if as := s.alarms(t, "device=tmp-1&active=true"); len(as) != 1 || as[0].ID == open[0].ID {
		t.Fatalf("alarms after registering again: %+v", as)
	}
}
