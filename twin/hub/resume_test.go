package hub

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/citytwin/citytwin/internal/dbtest"
	"github.com/citytwin/citytwin/twin/feed"
)

// TestResumeAheadOfLog: a since.seq past the database's log head never
// existed: the client gets a reset ("too_far") and a snapshot, not a
// "resumed" followed by silence.
func TestResumeAheadOfLog(t *testing.T) {
	hs := newHarness(t, nil)
	last := hs.emit(t, true, devEvent("x", inA, 1))[0].Seq
	waitSeq(t, hs.hub, last)
	pos := hs.hub.Position()
	c := dial(t, hs.url)
	c.send(map[string]any{"type": "subscribe", "id": 1, "bbox": bboxA, "since": map[string]any{"epoch": pos.Epoch, "seq": pos.Seq + 5000}})
	r := c.expect("reset")
	if r.Reason != "too_far" || r.Seq != pos.Seq || string(r.ID) != "1" {
		t.Fatalf("reset = %+v", r)
	}
	s := c.expect("snapshot")
	if got := entityIDs(s.Entities); got["device:x"] != 1 || s.Seq != pos.Seq {
		t.Fatalf("snapshot after reset = %v at seq %d", got, s.Seq)
	}
	// And the stream goes on.
	hs.emit(t, true, devEvent("x", inA, 2))
	if m := c.expect("delta"); m.Entity != "device:x" || m.Version != 2 {
		t.Fatalf("delta = %+v", m)
	}
}

// TestResumeAheadOfLaggingHub: a since.seq past this hub's position but
// within the database's log (the client came from an instance that is
// ahead) is resumed, and what follows since.seq is delivered as the hub
// catches up, nothing before it.
func TestResumeAheadOfLaggingHub(t *testing.T) {
	pool := dbtest.MustOpenPool(t)
	bus := feed.NewLocalBus()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h := New(pool, bus, logger, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := h.Load(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	// Written by another instance; this hub does not run yet, so it lags.
	var evs []feed.Event
	for _, id := range []string{"a", "b", "c"} {
		ev := []feed.Event{devEvent(id, inA, 1)}
		emit(t, pool, bus, false, ev...)
		evs = append(evs, ev[0])
	}
	pos := h.Position()
	since := evs[1].Seq
	if pos.Seq >= since {
		t.Fatalf("hub at %d, not behind %d", pos.Seq, since)
	}
	c := dial(t, url)
	c.send(map[string]any{"type": "subscribe", "id": "r", "bbox": bboxA, "since": map[string]any{"epoch": pos.Epoch, "seq": since}})
	if r := c.expect("resumed"); r.Seq != since || string(r.ID) != `"r"` {
		t.Fatalf("resumed = %+v", r)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	if m := c.expect("delta"); m.Entity != "device:c" || m.Seq != evs[2].Seq {
		t.Fatalf("after catching up got %+v, want device:c at seq %d", m, evs[2].Seq)
	}
	c.send(map[string]any{"type": "ping"})
	c.expect("pong")
}

// TestDeletedEntityLeaves: an event with null data removes its entity (a
// state entity or an open alarm) from the hub's state; subscribers get a
// delta or event with data null, live and on resume from the ring or the
// log, and later snapshots do not have it.
func TestDeletedEntityLeaves(t *testing.T) {
	for _, tc := range []struct {
		name string
		ring int
	}{{"ring", 1000}, {"log", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			hs := newHarness(t, nil, func(h *Hub) { h.RingSize = tc.ring })
			last := hs.emit(t, true, devEvent("gone", inA, 3), alarmEvent(7, inA, 1, true, false))[1].Seq
			waitSeq(t, hs.hub, last)
			c := dial(t, hs.url)
			c.send(map[string]any{"type": "subscribe", "bbox": bboxA})
			snap := c.expect("snapshot")
			if got := entityIDs(snap.Entities); got["device:gone"] != 3 || len(snap.Events) != 1 {
				t.Fatalf("snapshot = %v %+v", got, snap.Events)
			}
			dev, al := devEvent("gone", inA, 4), alarmEvent(7, inA, 2, true, false)
			dev.Data, al.Data = json.RawMessage("null"), json.RawMessage("null")
			hs.emit(t, true, dev, al)
			want := func(c *wsClient) {
				t.Helper()
				if m := c.expect("delta"); m.Entity != "device:gone" || string(m.Data) != "null" || m.Version != 4 {
					t.Fatalf("delta = %+v", m)
				}
				if m := c.expect("event"); m.Entity != "alarm:7" || string(m.Data) != "null" {
					t.Fatalf("event = %+v", m)
				}
			}
			want(c)
			c.send(map[string]any{"type": "subscribe", "bbox": bboxA})
			if s := c.expect("snapshot"); len(s.Entities) != 0 || len(s.Events) != 0 {
				t.Fatalf("snapshot after the deletion = %+v %+v", s.Entities, s.Events)
			}
			r := dial(t, hs.url)
			r.send(map[string]any{"type": "subscribe", "bbox": bboxA, "since": map[string]any{"epoch": snap.Epoch, "seq": snap.Seq}})
			r.expect("resumed")
			want(r)
		})
	}
}
