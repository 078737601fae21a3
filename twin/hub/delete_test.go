package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/citytwin/citytwin/internal/app"
	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/twin/feed"
	"github.com/citytwin/citytwin/twin/hub"
)

// liveMsg is a server message with what the deletion tests look at.
type liveMsg struct {
	Type     string          `json:"type"`
	Seq      int64           `json:"seq"`
	Entity   string          `json:"entity"`
	Data     json.RawMessage `json:"data"`
	Entities []liveEntity    `json:"entities"`
	Events   []liveEntity    `json:"events"`
	Items    []liveMsg       `json:"items"`
}

type liveEntity struct {
	Entity string          `json:"entity"`
	Data   json.RawMessage `json:"data"`
}

// liveConn is a websocket client that unpacks batches.
type liveConn struct {
	t     *testing.T
	c     *websocket.Conn
	queue []liveMsg
}

func liveDial(t *testing.T, url string) *liveConn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		if resp != nil {
			t.Fatalf("dial: %v (HTTP %d)", err, resp.StatusCode)
		}
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &liveConn{t: t, c: c}
}

func (l *liveConn) subscribe(m map[string]any) {
	l.t.Helper()
	m["type"] = "subscribe"
	if err := l.c.WriteJSON(m); err != nil {
		l.t.Fatal(err)
	}
}

// until reads messages until one satisfies ok.
func (l *liveConn) until(what string, ok func(liveMsg) bool) liveMsg {
	l.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for len(l.queue) > 0 {
			m := l.queue[0]
			l.queue = l.queue[1:]
			if ok(m) {
				return m
			}
		}
		_ = l.c.SetReadDeadline(deadline)
		_, b, err := l.c.ReadMessage()
		if err != nil {
			l.t.Fatalf("waiting for %s: %v", what, err)
		}
		var m liveMsg
		if err := json.Unmarshal(b, &m); err != nil {
			l.t.Fatalf("not JSON: %s", b)
		}
		if m.Type == "batch" {
			l.queue = append(l.queue, m.Items...)
		} else {
			l.queue = append(l.queue, m)
		}
	}
}

func (l *liveConn) snapshot() liveMsg {
	l.t.Helper()
	return l.until("snapshot", func(m liveMsg) bool { return m.Type == "snapshot" })
}

func has(es []liveEntity, entity string) bool {
	for _, e := range es {
		if e.Entity == entity {
			return true
		}
	}
	return false
}

// TestDeleteDeviceLive: deleting a device (with an open alarm) sends a null
// delta for the device and a null event for the alarm to subscribed
// clients; new snapshots, and a hub loaded afresh from the database, no
// longer have either.
func TestDeleteDeviceLive(t *testing.T) {
	a := apptest.MustRun(t)
	admin, viewer := apptest.Key(t, a, auth.Admin), apptest.Key(t, a, auth.Viewer)
	resp, b := apptest.DoJSON(t, "POST", a.URL()+"/api/v1/devices", admin, `{"id":"tmp-1","kind":"env","lon":116.3,"lat":37.45}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create device: %d %s", resp.StatusCode, b)
	}
	var dev struct{ Key string }
	if err := json.Unmarshal(b, &dev); err != nil {
		t.Fatal(err)
	}
	bbox := []float64{116.2, 37.4, 116.4, 37.5}

	byBox := liveDial(t, wsURL(a, viewer))
	byBox.subscribe(map[string]any{"layers": []string{"devices", "alarms"}, "bbox": bbox})
	byBox.snapshot()
	byEntity := liveDial(t, wsURL(a, viewer))
	byEntity.subscribe(map[string]any{"entities": []string{"device:tmp-1"}})
	byEntity.snapshot()

	obs := fmt.Sprintf(`[{"device":"tmp-1","time":%q,"metric":"pm25","value":100}]`, time.Now().UTC().Format(time.RFC3339))
	if resp, b := apptest.DoJSON(t, "POST", a.URL()+"/api/v1/observations", dev.Key, obs); resp.StatusCode != 200 {
		t.Fatalf("ingest: %d %s", resp.StatusCode, b)
	}
	raised := byBox.until("the alarm", func(m liveMsg) bool { return m.Type == "event" && strings.Contains(string(m.Data), `"tmp-1"`) })
	alarm := raised.Entity
	var ad struct{ ID int64 }
	if err := json.Unmarshal(raised.Data, &ad); err != nil || ad.ID == 0 {
		t.Fatalf("alarm event data %s: %v", raised.Data, err)
	}
	byEntity.until("the device's delta", func(m liveMsg) bool { return m.Type == "delta" && string(m.Data) != "null" })
	// An alarm-layer subscriber sees the open alarm before the deletion.
	pre := liveDial(t, wsURL(a, viewer))
	pre.subscribe(map[string]any{"layers": []string{"alarms"}, "bbox": bbox})
	if s := pre.snapshot(); !has(s.Events, alarm) {
		t.Fatalf("snapshot before the deletion lacks %s: %+v", alarm, s.Events)
	}

	if resp, b := apptest.Do(t, "DELETE", a.URL()+"/api/v1/devices/tmp-1", admin, nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d %s", resp.StatusCode, b)
	}
	if resp, _ := apptest.Do(t, "GET", a.URL()+"/api/v1/devices/tmp-1", viewer, nil); resp.StatusCode != 404 {
		t.Fatalf("device after delete: %d", resp.StatusCode)
	}
	if resp, _ := apptest.Do(t, "POST", a.URL()+fmt.Sprintf("/api/v1/alarms/%d/ack", ad.ID), admin, nil); resp.StatusCode != 404 {
		t.Fatalf("ack after delete: %d", resp.StatusCode)
	}

	// Subscribed clients get the deletion: data null.
	gone := func(entity string) func(liveMsg) bool {
		return func(m liveMsg) bool { return m.Entity == entity && string(m.Data) == "null" }
	}
	if m := byBox.until("the device's null delta", gone("device:tmp-1")); m.Type != "delta" {
		t.Fatalf("device deletion came as %+v", m)
	}
	if m := byBox.until("the alarm's null event", gone(alarm)); m.Type != "event" {
		t.Fatalf("alarm deletion came as %+v", m)
	}
	byEntity.until("the device's null delta", gone("device:tmp-1"))

	// New subscribers: neither the device nor the alarm.
	check := func(url, when string) {
		t.Helper()
		c := liveDial(t, url)
		c.subscribe(map[string]any{"entities": []string{"device:tmp-1", alarm}})
		if s := c.snapshot(); len(s.Entities) != 0 || len(s.Events) != 0 {
			t.Fatalf("%s: entity snapshot = %+v %+v", when, s.Entities, s.Events)
		}
		c.subscribe(map[string]any{"layers": []string{"devices", "alarms"}, "bbox": bbox})
		if s := c.snapshot(); has(s.Entities, "device:tmp-1") || has(s.Events, alarm) {
			t.Fatalf("%s: bbox snapshot = %+v %+v", when, s.Entities, s.Events)
		}
	}
	check(wsURL(a, viewer), "after the delete")

	// A hub loaded afresh from the database (as after a restart).
	check(freshHub(t, a), "after a reload")
}

// freshHub loads another hub from a's database and serves it (not running:
// its state is the loaded one); it returns its websocket URL.
func freshHub(t *testing.T, a *app.App) string {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h := hub.New(a.Pool, feed.NewLocalBus(), logger, nil)
	if err := h.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// TestDeviceKeyRefused: a device key may report for its device but not read
// the city's live feed: /ws answers 403, as the API's read routes do.
func TestDeviceKeyRefused(t *testing.T) {
	a := apptest.MustRun(t)
	admin := apptest.Key(t, a, auth.Admin)
	resp, b := apptest.DoJSON(t, "POST", a.URL()+"/api/v1/devices", admin, `{"id":"k-1","kind":"env","lon":116.3,"lat":37.45}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create device: %d %s", resp.StatusCode, b)
	}
	var dev struct{ Key string }
	if err := json.Unmarshal(b, &dev); err != nil || dev.Key == "" {
		t.Fatalf("device key: %s %v", b, err)
	}
	_, resp, err := websocket.DefaultDialer.Dial(wsURL(a, dev.Key), nil)
	if err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("device key: err %v resp %v, want HTTP 403", err, resp)
	}
	defer resp.Body.Close()
	var body struct{ Error struct{ Code string } }
	if json.NewDecoder(resp.Body).Decode(&body) != nil || body.Error.Code != "forbidden" {
		t.Errorf("device key: body = %+v", body)
	}
}
