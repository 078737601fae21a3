package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/internal/app"
	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/config"
	"github.com/citytwin/citytwin/spatial"
	"github.com/citytwin/citytwin/twin/feed"
)

func wsURL(a *app.App, key string) string {
	u := "ws" + strings.TrimPrefix(a.URL(), "http") + "/ws"
	if key != "" {
		u += "?access_token=" + key
	}
	return u
}

type serverMsg struct {
	Type    string          `json:"type"`
	Epoch   string          `json:"epoch"`
	Seq     int64           `json:"seq"`
	Entity  string          `json:"entity"`
	Version int64           `json:"version"`
	Data    json.RawMessage `json:"data"`
	Items   []serverMsg     `json:"items"`
}

// wsReader reads a websocket's server messages one at a time, batches
// unpacked: the items of a batch that the caller has not yet looked at stay
// queued for the next call. (Dropping them made TestNATSTwoInstances flaky:
// when both deltas reached a client in one batch frame, the second was lost
// to the test, not to the client.)
type wsReader struct {
	c      *websocket.Conn
	queue  []serverMsg
	frames int
}

func newReader(c *websocket.Conn) *wsReader { return &wsReader{c: c} }

// next returns the next message.
func (r *wsReader) next(t *testing.T, deadline time.Time) serverMsg {
	t.Helper()
	for len(r.queue) == 0 {
		_ = r.c.SetReadDeadline(deadline)
		_, b, err := r.c.ReadMessage()
		if err != nil {
			t.Fatalf("ws read: %v", err)
		}
		r.frames++
		var m serverMsg
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("not JSON: %s", b)
		}
		if m.Type == "batch" {
			r.queue = append(r.queue, m.Items...)
		} else {
			r.queue = append(r.queue, m)
		}
	}
	m := r.queue[0]
	r.queue = r.queue[1:]
	return m
}

// readUntil reads messages until one satisfies ok, and returns it; the
// messages after it stay queued in r.
func readUntil(t *testing.T, r *wsReader, ok func(serverMsg) bool) serverMsg {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := r.next(t, deadline); ok(m) {
			return m
		}
	}
}

func publishDevice(t *testing.T, a *app.App, id string, p orb.Point, version int64) feed.Event {
	t.Helper()
	ctx := context.Background()
	data, _ := json.Marshal(map[string]any{"id": id, "lon": p[0], "lat": p[1], "values": map[string]any{}})
	evs := []feed.Event{{Stream: feed.StreamState, Kind: "device", Entity: "device:" + id, Layer: "devices",
		Cell: spatial.PointCell(p, spatial.CoverRes), Version: version, Data: data}}
	if err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error { return feed.AppendEvents(ctx, tx, evs) }); err != nil {
		t.Fatal(err)
	}
	if err := a.Bus.Publish(ctx, evs); err != nil {
		t.Fatal(err)
	}
	return evs[0]
}

// TestServeWS runs the whole server: /ws needs a key unless reads are
// public, takes it as access_token or a bearer header, and streams.
func TestServeWS(t *testing.T) {
	a := apptest.MustRun(t)
	viewer := apptest.Key(t, a, auth.Viewer)

	for _, tc := range []struct {
		name, url string
		header    http.Header
		status    int
	}{
		{"no key", wsURL(a, ""), nil, 401},
		{"bad key", wsURL(a, "ct_nope"), nil, 401},
		{"bad header", wsURL(a, ""), http.Header{"Authorization": {"Basic x"}}, 401},
	} {
		_, resp, err := websocket.DefaultDialer.Dial(tc.url, tc.header)
		if err == nil || resp == nil || resp.StatusCode != tc.status {
			t.Fatalf("%s: err %v resp %v, want HTTP %d", tc.name, err, resp, tc.status)
		}
		var body struct {
			Error struct{ Code, Message string }
		}
		if json.NewDecoder(resp.Body).Decode(&body) != nil || body.Error.Code != "unauthorized" {
			t.Errorf("%s: body = %+v", tc.name, body)
		}
		resp.Body.Close()
	}
	resp, b := apptest.Do(t, "GET", a.URL()+"/ws", viewer, nil)
	if resp.StatusCode != 400 {
		t.Fatalf("GET /ws without upgrade: %d %s", resp.StatusCode, b)
	}
	if code, _, where := apptest.ErrorBody(t, b); code != "invalid" || where != "Upgrade" {
		t.Errorf("GET /ws without upgrade: %s", b)
	}

	for _, dial := range []func() (*websocket.Conn, *http.Response, error){
		func() (*websocket.Conn, *http.Response, error) {
			return websocket.DefaultDialer.Dial(wsURL(a, viewer), nil)
		},
		func() (*websocket.Conn, *http.Response, error) {
			return websocket.DefaultDialer.Dial(wsURL(a, ""), http.Header{"Authorization": {"Bearer " + viewer}})
		},
	} {
		c, _, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.WriteJSON(map[string]any{"type": "subscribe", "layers": []string{"devices"}, "bbox": []float64{116.2, 37.4, 116.4, 37.5}}); err != nil {
			t.Fatal(err)
		}
		r := newReader(c)
		snap := readUntil(t, r, func(m serverMsg) bool { return m.Type == "snapshot" })
		ev := publishDevice(t, a, fmt.Sprintf("ws-%d", snap.Seq), orb.Point{116.3, 37.45}, 1)
		m := readUntil(t, r, func(m serverMsg) bool { return m.Type == "delta" })
		if m.Entity != ev.Entity || m.Seq != ev.Seq || m.Epoch != snap.Epoch {
			t.Fatalf("delta = %+v, want %s seq %d", m, ev.Entity, ev.Seq)
		}
	}
}

// TestPublicReads: anonymous websocket clients when reads are public.
func TestPublicReads(t *testing.T) {
	a := apptest.MustRun(t, func(c *config.Config) { c.PublicReads = true })
	c, _, err := websocket.DefaultDialer.Dial(wsURL(a, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteJSON(map[string]any{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	readUntil(t, newReader(c), func(m serverMsg) bool { return m.Type == "pong" })
}

// natsServer starts a real nats-server on a free loopback port for the test.
func natsServer(t *testing.T) string {
	t.Helper()
	bin := "/usr/sbin/nats-server"
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("nats-server"); err != nil {
			t.Fatal("nats-server is not installed (scripts/install-deps.sh installs it)")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not listen on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "nats://" + addr
}

// TestNATSTwoInstances: two servers on one database and one NATS; an event
// ingested by A reaches a websocket client of B, and one of A.
func TestNATSTwoInstances(t *testing.T) {
	url := natsServer(t)
	cfg := apptest.Config(t)
	cfg.NATSURL = url
	cfg.PublicReads = true
	a := apptest.Start(t, cfg)
	cfgB := cfg
	cfgB.DataDir = t.TempDir()
	b := apptest.Start(t, cfgB)
	if _, ok := a.Bus.(*feed.NATSBus); !ok {
		t.Fatalf("bus is %T, want NATS", a.Bus)
	}
	var conns []*wsReader
	for _, srv := range []*app.App{a, b} {
		c, _, err := websocket.DefaultDialer.Dial(wsURL(srv, ""), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.WriteJSON(map[string]any{"type": "subscribe", "entities": []string{"device:n1", "device:n2"}}); err != nil {
			t.Fatal(err)
		}
		r := newReader(c)
		readUntil(t, r, func(m serverMsg) bool { return m.Type == "snapshot" })
		conns = append(conns, r)
	}
	e1 := publishDevice(t, a, "n1", orb.Point{116.3, 37.45}, 1)
	e2 := publishDevice(t, b, "n2", orb.Point{116.3, 37.45}, 1)
	// Each client gets both deltas, in seq order, whether they come in one
	// frame or two (on B, e2 is published locally and waits in the follower
	// for e1, which comes through NATS: both then go out in one batch).
	for i, r := range conns {
		before := r.frames
		for _, e := range []feed.Event{e1, e2} {
			m := readUntil(t, r, func(m serverMsg) bool { return m.Type == "delta" })
			if m.Entity != e.Entity || m.Seq != e.Seq {
				t.Fatalf("instance %d: delta %+v, want %s seq %d", i, m, e.Entity, e.Seq)
			}
		}
		t.Logf("instance %d: 2 deltas in %d frames", i, r.frames-before)
	}
}
