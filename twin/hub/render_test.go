package hub

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/citytwin/citytwin/twin/feed"
)

// TestRender: the hand-written delta and event messages (and batches of
// them) are the JSON that encoding/json writes for the same message.
func TestRender(t *testing.T) {
	h := &Hub{epoch: "e0f1", MaxQueuedEvents: 10}
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	evs := []feed.Event{
		{Seq: 7, Stream: feed.StreamState, Kind: "device", Entity: "device:lamp-1", Layer: "devices", Cell: 0x8a4b1c2d3e3ffff, Version: 3, At: at,
			Data: json.RawMessage(`{"id": "lamp-1", "values": {"on": {"value": 1, "time": "2026-01-02T03:04:05Z"}}}`)},
		{Seq: 8, Stream: feed.StreamEvent, Kind: "alarm", Entity: "alarm:\"17\"\\\n<é>", Layer: "alarms", Version: 1, At: at,
			Data: json.RawMessage(`{"active":true}`)},
		{Seq: 9, Stream: feed.StreamState, Kind: "device", Entity: "device:gone", Layer: "devices"},
	}
	var items []*item
	for _, ev := range evs {
		got := h.render(ev)
		data := ev.Data
		if len(data) == 0 {
			data = json.RawMessage("null")
		}
		typ := "delta"
		if ev.Stream == feed.StreamEvent {
			typ = "event"
		}
		want, err := json.Marshal(wireMsg{Type: typ, Epoch: h.epoch, Seq: ev.Seq, Entity: ev.Entity, Kind: ev.Kind,
			Layer: ev.Layer, Cell: cellString(ev.Cell), Version: ev.Version, At: ev.At, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, got, want)
		items = append(items, &item{ev: ev, msg: got})
	}
	c := newClient(h)
	c.buf = make([]byte, 0, 1) // grows
	for _, it := range items {
		c.enqueueLocked(it)
	}
	frames, n, _ := c.drain(h.epoch)
	if len(frames) != 1 || n != len(items) {
		t.Fatalf("%d frames, %d items", len(frames), n)
	}
	msgs := make([]json.RawMessage, len(items))
	for i, it := range items {
		msgs[i] = it.msg
	}
	want, _ := json.Marshal(map[string]any{"type": "batch", "epoch": h.epoch, "seq": 9, "items": msgs})
	sameJSON(t, frames[0], want)
}

func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
