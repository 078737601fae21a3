package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/internal/dbtest"
	"github.com/citytwin/citytwin/spatial"
	"github.com/citytwin/citytwin/twin/feed"
)

// Places used by the tests: inside and outside the viewport bboxA.
var (
	bboxA  = []float64{116.25, 37.40, 116.35, 37.50}
	bboxB  = []float64{117.25, 37.40, 117.35, 37.50}
	inA    = orb.Point{116.30, 37.45}
	inA2   = orb.Point{116.31, 37.46}
	inB    = orb.Point{117.30, 37.45}
	nowher = orb.Point{100, 20}
)

// harness is a hub on a fresh database with an in-process bus, served by an
// httptest server.
type harness struct {
	pool *pgxpool.Pool
	bus  *feed.LocalBus
	hub  *Hub
	url  string
}

func newHarness(t *testing.T, setup func(ctx context.Context, pool *pgxpool.Pool), opts ...func(*Hub)) *harness {
	t.Helper()
	pool := dbtest.MustOpenPool(t)
	if setup != nil {
		setup(context.Background(), pool)
	}
	bus := feed.NewLocalBus()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h := New(pool, bus, logger, nil)
	h.PingInterval = 2 * time.Second
	for _, o := range opts {
		o(h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := h.Load(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.Run(ctx); err != nil {
			t.Errorf("hub run: %v", err)
		}
	}()
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	return &harness{pool: pool, bus: bus, hub: h, url: "ws" + strings.TrimPrefix(srv.URL, "http")}
}

// emit appends evs to the log in one transaction and, when publish is true,
// publishes them on the bus, as a writer of the twin does.
func (hs *harness) emit(t *testing.T, publish bool, evs ...feed.Event) []feed.Event {
	t.Helper()
	emit(t, hs.pool, hs.bus, publish, evs...)
	return evs
}

func emit(t *testing.T, pool *pgxpool.Pool, bus feed.Bus, publish bool, evs ...feed.Event) {
	t.Helper()
	ctx := context.Background()
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return feed.AppendEvents(ctx, tx, evs) }); err != nil {
		t.Fatal(err)
	}
	if publish {
		if err := bus.Publish(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
}

func devEvent(id string, p orb.Point, version int64) feed.Event {
	data, _ := json.Marshal(map[string]any{"id": id, "kind": "env", "lon": p[0], "lat": p[1], "status": "online",
		"values": map[string]any{"pm25": map[string]any{"value": version, "time": time.Now().UTC()}}})
	return feed.Event{Stream: feed.StreamState, Kind: "device", Entity: "device:" + id, Layer: "devices",
		Cell: spatial.PointCell(p, spatial.CoverRes), Version: version, Data: data}
}

func alarmEvent(id int64, p orb.Point, version int64, active, acked bool) feed.Event {
	data, _ := json.Marshal(map[string]any{"id": id, "device": "d", "type": "pm25_high", "severity": "major",
		"active": active, "acknowledged": acked, "lon": p[0], "lat": p[1]})
	return feed.Event{Stream: feed.StreamEvent, Kind: "alarm", Entity: fmt.Sprintf("alarm:%d", id), Layer: "alarms",
		Cell: spatial.PointCell(p, spatial.CoverRes), Version: version, Data: data}
}

// msg is any server message.
type msg struct {
	Type     string          `json:"type"`
	ID       json.RawMessage `json:"id"`
	Epoch    string          `json:"epoch"`
	Seq      int64           `json:"seq"`
	Entity   string          `json:"entity"`
	Kind     string          `json:"kind"`
	Layer    string          `json:"layer"`
	Cell     string          `json:"cell"`
	Version  int64           `json:"version"`
	Data     json.RawMessage `json:"data"`
	Entities []snapEntity    `json:"entities"`
	Events   []snapEntity    `json:"events"`
	Items    []msg           `json:"items"`
	Reason   string          `json:"reason"`
	Code     string          `json:"code"`
	Message  string          `json:"message"`
	Where    string          `json:"where"`
}

type wsClient struct {
	t      *testing.T
	conn   *websocket.Conn
	queue  []msg
	frames int
}

func dial(t *testing.T, url string) *wsClient {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		if resp != nil {
			t.Fatalf("dial %s: %v (HTTP %d)", url, err, resp.StatusCode)
		}
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &wsClient{t: t, conn: conn}
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Fatalf("ws send: %v", err)
	}
}

// next returns the next message, batches unpacked.
func (c *wsClient) next() msg {
	c.t.Helper()
	for len(c.queue) == 0 {
		_ = c.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		_, b, err := c.conn.ReadMessage()
		if err != nil {
			c.t.Fatalf("ws read: %v", err)
		}
		c.frames++
		var m msg
		if err := json.Unmarshal(b, &m); err != nil {
			c.t.Fatalf("ws read: not JSON: %s", b)
		}
		if m.Epoch == "" {
			c.t.Fatalf("message without epoch: %s", b)
		}
		if m.Type == "batch" {
			for _, it := range m.Items {
				if it.Epoch == "" {
					c.t.Fatalf("batch item without epoch: %s", b)
				}
			}
			c.queue = append(c.queue, m.Items...)
		} else {
			c.queue = append(c.queue, m)
		}
	}
	m := c.queue[0]
	c.queue = c.queue[1:]
	return m
}

// expect returns the next message and fails unless it has type typ.
func (c *wsClient) expect(typ string) msg {
	c.t.Helper()
	m := c.next()
	if m.Type != typ {
		c.t.Fatalf("got a %q message (%+v), want %q", m.Type, m, typ)
	}
	return m
}

func entityIDs(es []snapEntity) map[string]int64 {
	out := map[string]int64{}
	for _, e := range es {
		out[e.Entity] = e.Version
	}
	return out
}

// TestSnapshotThenDeltas loads devices and alarms from the tables, answers a
// bbox subscription with a snapshot of exactly what is inside, then sends
// deltas and events for that viewport only.
func TestSnapshotThenDeltas(t *testing.T) {
	hs := newHarness(t, func(ctx context.Context, pool *pgxpool.Pool) {
		_, err := pool.Exec(ctx, `
			INSERT INTO devices (id, kind, name, status, last_seen, geom) VALUES
			  ('env-1', 'env', 'PM sensor 1', 'online', now(), ST_SetSRID(ST_MakePoint(116.30, 37.45), 4326)),
			  ('env-2', 'env', 'PM sensor 2', 'online', now(), ST_SetSRID(ST_MakePoint(117.30, 37.45), 4326));
			INSERT INTO device_state (device_id, metric, time, value) VALUES ('env-1', 'pm25', now(), 80), ('env-2', 'pm25', now(), 12);
			INSERT INTO alarms (device_id, type, severity, message, metric, value, geom) VALUES
			  ('env-1', 'pm25_high', 'major', 'PM2.5 over 75', 'pm25', 80, ST_SetSRID(ST_MakePoint(116.30, 37.45), 4326)),
			  ('env-2', 'pm25_high', 'major', 'PM2.5 over 75', 'pm25', 80, ST_SetSRID(ST_MakePoint(117.30, 37.45), 4326));
			INSERT INTO alarms (device_id, type, severity, message, active, acknowledged, geom) VALUES
			  ('env-1', 'old', 'minor', 'over and done', false, true, ST_SetSRID(ST_MakePoint(116.30, 37.45), 4326))`)
		if err != nil {
			t.Fatal(err)
		}
	})
	c := dial(t, hs.url)
	c.send(map[string]any{"type": "subscribe", "id": "s1", "layers": []string{"devices", "alarms"}, "bbox": bboxA})
	snap := c.expect("snapshot")
	if string(snap.ID) != `"s1"` {
		t.Errorf("snapshot id = %s, want \"s1\"", snap.ID)
	}
	if got := entityIDs(snap.Entities); len(got) != 1 || got["device:env-1"] == 0 && len(got) != 1 {
		t.Fatalf("snapshot entities = %v, want device:env-1 only", got)
	}
	var d struct {
		ID     string
		Name   string
		Status string
		Lon    float64
		Values map[string]struct{ Value float64 }
	}
	if err := json.Unmarshal(snap.Entities[0].Data, &d); err != nil {
		t.Fatal(err)
	}
	if d.ID != "env-1" || d.Name != "PM sensor 1" || d.Status != "online" || d.Lon != 116.30 || d.Values["pm25"].Value != 80 {
		t.Errorf("device data = %+v", d)
	}
	if len(snap.Events) != 1 || snap.Events[0].Kind != "alarm" || !strings.Contains(string(snap.Events[0].Data), `"pm25_high"`) {
		t.Fatalf("snapshot events = %+v, want the open alarm of env-1", snap.Events)
	}

	// A change inside, one outside, then one inside again: only the inside
	// ones arrive, in order, after the snapshot's seq.
	evs := hs.emit(t, true, devEvent("env-1", inA, 5))
	hs.emit(t, true, devEvent("env-2", inB, 5))
	hs.emit(t, true, alarmEvent(99, inA, 1, true, false), devEvent("env-3", inA2, 1))
	m := c.expect("delta")
	if m.Entity != "device:env-1" || m.Version != 5 || m.Seq != evs[0].Seq || m.Seq <= snap.Seq || m.Layer != "devices" || m.Cell == "" {
		t.Fatalf("delta = %+v", m)
	}
	if m = c.expect("event"); m.Entity != "alarm:99" || m.Kind != "alarm" {
		t.Fatalf("event = %+v", m)
	}
	if m = c.expect("delta"); m.Entity != "device:env-3" {
		t.Fatalf("delta = %+v", m)
	}
	c.send(map[string]any{"type": "ping", "id": 7})
	if m = c.expect("pong"); string(m.ID) != "7" || m.Seq < evs[0].Seq {
		t.Fatalf("pong = %+v", m)
	}
}

// TestSubscriptionChange moves the viewport on the same connection.
func TestSubscriptionChange(t *testing.T) {
	hs := newHarness(t, nil)
	hs.emit(t, true, devEvent("a", inA, 1), devEvent("b", inB, 1))
	c := dial(t, hs.url)
	c.send(map[string]any{"type": "subscribe", "bbox": bboxA})
	// The hub may not have applied the events yet when it answers: wait for
	// a snapshot that has them.
	snap := c.expect("snapshot")
	for snap.Seq < 2 {
		time.Sleep(20 * time.Millisecond)
		c.send(map[string]any{"type": "subscribe", "bbox": bboxA})
		snap = c.expect("snapshot")
	}
	if got := entityIDs(snap.Entities); len(got) != 1 || got["device:a"] != 1 {
		t.Fatalf("snapshot A = %v", got)
	}
	c.send(map[string]any{"type": "subscribe", "bbox": bboxB})
	snap = c.expect("snapshot")
	if got := entityIDs(snap.Entities); len(got) != 1 || got["device:b"] != 1 {
		t.Fatalf("snapshot B = %v", got)
	}
	hs.emit(t, true, devEvent("a", inA, 2))
	hs.emit(t, true, devEvent("b", inB, 2))
	if m := c.expect("delta"); m.Entity != "device:b" || m.Version != 2 {
		t.Fatalf("after moving to B got %+v", m)
	}
	c.send(map[string]any{"type": "unsubscribe", "id": 3})
	c.expect("unsubscribed")
	hs.emit(t, true, devEvent("b", inB, 3))
	c.send(map[string]any{"type": "ping"})
	c.expect("pong")
}

// TestRouting checks cells at a coarse resolution, entity subscriptions and
// the layers filter: each client gets exactly what its subscription covers.
func TestRouting(t *testing.T) {
	hs := newHarness(t, nil)
	coarse := fmt.Sprintf("%x", parent(spatial.PointCell(inA, spatial.CoverRes), 6))
	byCell := dial(t, hs.url)
	byCell.send(map[string]any{"type": "subscribe", "cells": []string{coarse}})
	byCell.expect("snapshot")
	byEntity := dial(t, hs.url)
	byEntity.send(map[string]any{"type": "subscribe", "entities": []string{"device:far"}})
	byEntity.expect("snapshot")
	onlyAlarms := dial(t, hs.url)
	onlyAlarms.send(map[string]any{"type": "subscribe", "layers": []string{"alarms"}, "bbox": bboxA})
	onlyAlarms.expect("snapshot")

	hs.emit(t, true, devEvent("near", inA, 1), devEvent("far", nowher, 1), alarmEvent(1, inA, 1, true, false),
		devEvent("none", orb.Point{0, 0}, 1))
	if m := byCell.expect("delta"); m.Entity != "device:near" {
		t.Fatalf("cell client got %+v", m)
	}
	if m := byCell.expect("event"); m.Entity != "alarm:1" {
		t.Fatalf("cell client got %+v", m)
	}
	if m := byEntity.expect("delta"); m.Entity != "device:far" {
		t.Fatalf("entity client got %+v", m)
	}
	if m := onlyAlarms.expect("event"); m.Entity != "alarm:1" {
		t.Fatalf("alarms client got %+v", m)
	}
	// Nothing else is queued for any of them.
	for _, c := range []*wsClient{byCell, byEntity, onlyAlarms} {
		c.send(map[string]any{"type": "ping"})
		c.expect("pong")
	}
}

// TestResume reconnects with since and gets exactly what was missed, in
// order, from the in-memory ring and from the log; a position the log no
// longer holds gets a reset and a fresh snapshot.
func TestResume(t *testing.T) {
	for _, tc := range []struct {
		name string
		ring int
	}{{"ring", 1000}, {"log", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			hs := newHarness(t, nil, func(h *Hub) { h.RingSize = tc.ring })
			c := dial(t, hs.url)
			c.send(map[string]any{"type": "subscribe", "bbox": bboxA})
			snap := c.expect("snapshot")
			c.conn.Close()

			hs.emit(t, true, devEvent("x", inA, 1))
			hs.emit(t, true, devEvent("y", inB, 1))
			hs.emit(t, true, alarmEvent(5, inA, 1, true, false))
			last := hs.emit(t, true, devEvent("x", inA, 2))[0].Seq
			waitSeq(t, hs.hub, last)

			c = dial(t, hs.url)
			c.send(map[string]any{"type": "subscribe", "id": 1, "bbox": bboxA, "since": map[string]any{"epoch": snap.Epoch, "seq": snap.Seq}})
			r := c.expect("resumed")
			if r.Seq != snap.Seq || string(r.ID) != "1" {
				t.Fatalf("resumed = %+v", r)
			}
			var got []string
			for len(got) < 2 {
				m := c.next()
				got = append(got, fmt.Sprintf("%s %s v%d", m.Type, m.Entity, m.Version))
			}
			// x v1 is superseded by x v2 (state coalesces), the alarm comes
			// in its place; y is outside.
			want := []string{"event alarm:5 v1", "delta device:x v2"}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				// Delivered one by one, x v1 may come first.
				want2 := []string{"delta device:x v1", "event alarm:5 v1"}
				if strings.Join(got, ",") != strings.Join(want2, ",") {
					t.Fatalf("replay = %v, want %v", got, want)
				}
			}
			// Live events follow.
			hs.emit(t, true, devEvent("x", inA, 3))
			for {
				m := c.next()
				if m.Entity == "device:x" && m.Version == 3 {
					break
				}
				if m.Entity == "device:y" {
					t.Fatalf("replay leaked %+v", m)
				}
			}

			// The log is trimmed: an old position gets a reset.
			if _, err := hs.pool.Exec(context.Background(), `DELETE FROM event_log WHERE seq <= $1`, last); err != nil {
				t.Fatal(err)
			}
			c2 := dial(t, hs.url)
			c2.send(map[string]any{"type": "subscribe", "bbox": bboxA, "since": map[string]any{"epoch": snap.Epoch, "seq": snap.Seq}})
			if tc.ring == 1 {
				if m := c2.expect("reset"); m.Reason != "too_old" {
					t.Fatalf("reset = %+v", m)
				}
				s := c2.expect("snapshot")
				if got := entityIDs(s.Entities); got["device:x"] != 3 {
					t.Fatalf("snapshot after reset = %v", got)
				}
				if len(s.Events) != 1 {
					t.Fatalf("snapshot after reset events = %+v", s.Events)
				}
			} else {
				// Still held in memory: resumed.
				c2.expect("resumed")
			}
			// Another epoch: reset.
			c3 := dial(t, hs.url)
			c3.send(map[string]any{"type": "subscribe", "bbox": bboxA, "since": map[string]any{"epoch": "other", "seq": 1}})
			if m := c3.expect("reset"); m.Reason != "epoch" {
				t.Fatalf("reset = %+v", m)
			}
			c3.expect("snapshot")
		})
	}
}

// waitSeq waits until the hub has applied seq.
func waitSeq(t *testing.T, h *Hub, seq int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.Position().Seq < seq {
		if time.Now().After(deadline) {
			t.Fatalf("hub at seq %d, want %d", h.Position().Seq, seq)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSlowClient: a client that does not read gets the latest state per
// entity, not every change; one whose event queue overflows is closed with
// 4008.
func TestSlowClient(t *testing.T) {
	hs := newHarness(t, nil, func(h *Hub) { h.MaxQueuedEvents = 20 })
	slow := dial(t, hs.url)
	slow.send(map[string]any{"type": "subscribe", "bbox": bboxA})
	slow.expect("snapshot")

	// 3 entities × 200 versions in one commit, not read until all applied.
	var evs []feed.Event
	for v := int64(1); v <= 200; v++ {
		for _, id := range []string{"p", "q", "r"} {
			evs = append(evs, devEvent(id, inA, v))
		}
	}
	last := hs.emit(t, true, evs...)[len(evs)-1].Seq
	waitSeq(t, hs.hub, last)
	latest := map[string]int64{}
	n := 0
	for latest["device:p"] < 200 || latest["device:q"] < 200 || latest["device:r"] < 200 {
		m := slow.expect("delta")
		if m.Version <= latest[m.Entity] {
			t.Fatalf("version went back: %+v after v%d", m, latest[m.Entity])
		}
		latest[m.Entity] = m.Version
		n++
	}
	if n >= len(evs) {
		t.Fatalf("%d deltas for %d changes: state did not coalesce", n, len(evs))
	}
	t.Logf("%d changes coalesced into %d deltas in %d frames", len(evs), n, slow.frames)

	// Events do not coalesce: past the bound the client is closed.
	evs = nil
	for i := int64(1); i <= 50; i++ {
		evs = append(evs, alarmEvent(i, inA, 1, true, false))
	}
	hs.emit(t, true, evs...)
	_ = slow.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		_, _, err := slow.conn.ReadMessage()
		if err == nil {
			t.Fatal("a client over its event bound got messages")
		}
		var ce *websocket.CloseError
		if !errorsAs(err, &ce) || ce.Code != CloseTooSlow || ce.Text != "too slow" {
			t.Fatalf("close = %v, want 4008 too slow", err)
		}
		break
	}
}

// TestUnpublished: an event committed but never published (its writer died
// before Publish) still reaches clients, from the log.
func TestUnpublished(t *testing.T) {
	hs := newHarness(t, nil)
	c := dial(t, hs.url)
	c.send(map[string]any{"type": "subscribe", "bbox": bboxA})
	c.expect("snapshot")
	hs.emit(t, false, devEvent("lost", inA, 1))
	if m := c.expect("delta"); m.Entity != "device:lost" {
		t.Fatalf("got %+v", m)
	}
	// And a gap: seq n+1 published, n not: both arrive, in order.
	a := devEvent("g1", inA, 1)
	b := devEvent("g2", inA, 1)
	hs.emit(t, false, a)
	evb := hs.emit(t, false, b)
	if err := hs.bus.Publish(context.Background(), evb); err != nil {
		t.Fatal(err)
	}
	if m := c.expect("delta"); m.Entity != "device:g1" {
		t.Fatalf("got %+v, want g1 first", m)
	}
	if m := c.expect("delta"); m.Entity != "device:g2" {
		t.Fatalf("got %+v", m)
	}
}

// TestBadMessages: each bad client message gets an error saying where, and
// the connection stays usable.
func TestBadMessages(t *testing.T) {
	hs := newHarness(t, nil)
	c := dial(t, hs.url)
	for _, tc := range []struct {
		msg   string
		where string
	}{
		{`{"type":"subscribe","bbox":[1,2,3]}`, "bbox"},
		{`{"type":"subscribe","bbox":[10,2,3,4]}`, "bbox"},
		{`{"type":"subscribe","bbox":[-200,2,3,4]}`, "bbox"},
		{`{"type":"subscribe","cells":["zz"]}`, "cells[0]"},
		{`{"type":"subscribe","cells":["8f4b0c8a2a5b4c1"]}`, "cells[0]"},
		{`{"type":"subscribe"}`, "subscribe"},
		{`{"type":"subscribe","bbox":[1,2,3,4],"entities":["device:x"]}`, "subscribe"},
		{`{"type":"subscribe","entities":["nocolon"]}`, "entities[0]"},
		{`{"type":"dance"}`, "type"},
		{`{"type":"ping","bbox":[1,2,3,4]}`, "type"},
		{`{"type":"subscribe","bbox":[1,2,3,4],"colour":"red"}`, "message"},
		{`not json`, "message"},
	} {
		if err := c.conn.WriteMessage(websocket.TextMessage, []byte(tc.msg)); err != nil {
			t.Fatal(err)
		}
		m := c.expect("error")
		if m.Code != "invalid" || m.Where != tc.where || m.Message == "" {
			t.Errorf("%s: error = %+v, want where %q", tc.msg, m, tc.where)
		}
	}
	c.send(map[string]any{"type": "subscribe", "bbox": bboxA})
	c.expect("snapshot")
	// A frame over the read limit closes with 1009.
	big := `{"type":"subscribe","entities":["` + strings.Repeat("x", MaxMessageBytes) + `"]}`
	_ = c.conn.WriteMessage(websocket.TextMessage, []byte(big))
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := c.conn.ReadMessage()
	var ce *websocket.CloseError
	if !errorsAs(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("oversized message: %v, want close 1009", err)
	}
}

// TestBigViewport covers a big bbox at a coarser resolution within MaxCells.
func TestBigViewport(t *testing.T) {
	for _, bb := range [][]float64{{116, 37, 117, 38}, {100, 20, 120, 40}, {-180, -90, 180, 90}, {116.3, 37.45, 116.3001, 37.4501}} {
		cells, res, err := bboxCells(bb)
		if err != nil {
			t.Fatal(err)
		}
		if len(cells) == 0 || len(cells) > MaxCells {
			t.Errorf("bbox %v: %d cells at res %d", bb, len(cells), res)
		}
		t.Logf("bbox %v: %d cells at res %d", bb, len(cells), res)
	}
}

// TestConcurrentWriters: events committed by many writers concurrently and
// published in whatever order reach a client each exactly once, in seq order.
func TestConcurrentWriters(t *testing.T) {
	hs := newHarness(t, nil)
	c := dial(t, hs.url)
	c.send(map[string]any{"type": "subscribe", "layers": []string{"alarms"}, "bbox": bboxA})
	c.expect("snapshot")
	const writers, per = 8, 25
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				emit(t, hs.pool, hs.bus, i%5 != 0, alarmEvent(int64(w*1000+i), inA, 1, true, false))
			}
		}(w)
	}
	wg.Wait()
	seen := map[string]bool{}
	var last int64
	for len(seen) < writers*per {
		m := c.expect("event")
		if seen[m.Entity] || m.Seq <= last {
			t.Fatalf("duplicate or out of order: %+v after seq %d", m, last)
		}
		seen[m.Entity] = true
		last = m.Seq
	}
}
