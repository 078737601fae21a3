package hub

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/internal/httpapi"
	"github.com/citytwin/citytwin/twin/feed"
)

// CloseTooSlow is the close code of a client whose event queue overflowed.
const CloseTooSlow = 4008

// maxItemsPerFrame bounds the messages batched in one frame.
const maxItemsPerFrame = 500

// client is one websocket connection's queue. The hub queues to it under
// Hub.mu; the connection's handler loop is its only writer.
type client struct {
	hub *Hub
	sub *subscription // guarded by Hub.mu (and c.mu for writes)

	mu    sync.Mutex
	after int64 // items with seq <= after are not queued
	// state coalesces: the latest item per entity, in first-queued order.
	state      map[string]*item
	stateOrder []string
	events     []*item
	control    [][]byte // frames queued by the hub itself (resets)
	overflow   bool
	notify     chan struct{}
	// buf holds the batch frames of the last drain; items and states are
	// its scratch (all the writer's own).
	buf           []byte
	items, states []*item
	// routed gathers the items of one dispatch for this client (under
	// Hub.mu, written only by dispatch).
	routed []*item
}

func newClient(h *Hub) *client {
	return &client{hub: h, state: map[string]*item{}, notify: make(chan struct{}, 1)}
}

func (c *client) signal() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// clearLocked drops everything queued. c.mu must be held.
func (c *client) clearLocked() {
	clear(c.state)
	c.stateOrder = c.stateOrder[:0]
	c.events = nil
}

// enqueueAll queues items, in seq order (called by the hub under Hub.mu).
func (c *client) enqueueAll(items []*item) {
	c.mu.Lock()
	for _, it := range items {
		c.enqueueLocked(it)
	}
	c.mu.Unlock()
	c.signal()
}

func (c *client) enqueueLocked(it *item) {
	if it.ev.Seq <= c.after || c.overflow {
		return
	}
	c.after = it.ev.Seq
	if it.ev.Stream == feed.StreamState {
		if _, ok := c.state[it.ev.Entity]; !ok {
			c.stateOrder = append(c.stateOrder, it.ev.Entity)
		}
		c.state[it.ev.Entity] = it
		return
	}
	if len(c.events) >= c.hub.MaxQueuedEvents {
		c.overflow = true
		c.clearLocked()
		return
	}
	c.events = append(c.events, it)
}

// replay queues the items of a resume that match the subscription (under
// Hub.mu, after register).
func (c *client) replay(items []*item) {
	c.mu.Lock()
	for _, it := range items {
		if c.sub != nil && c.sub.covers(it.ev.Entity, it.ev.Layer, it.ev.Cell) {
			c.enqueueLocked(it)
		} else if it.ev.Seq > c.after {
			c.after = it.ev.Seq
		}
	}
	c.mu.Unlock()
	c.signal()
}

// push queues whole frames (a reset and its snapshot).
func (c *client) push(frames ...[]byte) {
	c.mu.Lock()
	c.control = append(c.control, frames...)
	c.mu.Unlock()
	c.signal()
}

// drain takes what is queued and renders it as frames, in seq order.
func (c *client) drain(epoch string) (frames [][]byte, n int, overflow bool) {
	c.mu.Lock()
	control := c.control
	c.control = nil
	overflow = c.overflow
	var items []*item
	if !overflow {
		// The merge goes into the writer's own scratch slices, reused
		// from drain to drain.
		items = c.items[:0]
		// Merge state (in queue order, which is seq order of first
		// appearance) and events by seq.
		st := c.states[:0]
		for _, e := range c.stateOrder {
			st = append(st, c.state[e])
		}
		c.states = st
		i, j := 0, 0
		for i < len(st) || j < len(c.events) {
			if j >= len(c.events) || (i < len(st) && st[i].ev.Seq < c.events[j].ev.Seq) {
				items = append(items, st[i])
				i++
			} else {
				items = append(items, c.events[j])
				j++
			}
		}
		c.clearLocked()
	}
	c.mu.Unlock()
	frames = control
	if len(items) == 0 {
		return frames, 0, overflow
	}
	c.items = items
	defer func() {
		// Let the items go (the ring keeps what resumes need).
		clear(c.items)
		clear(c.states)
	}()
	// One buffer for every batch frame of this drain, sized exactly and
	// reused by the next drain (the writer has written these frames by
	// then): no growing, no garbage per frame.
	size := 0
	for i, it := range items {
		size += len(it.msg) + 1
		if i%maxItemsPerFrame == 0 {
			size += len(epoch) + 64
		}
	}
	if cap(c.buf) < size {
		c.buf = make([]byte, 0, size)
	}
	buf := c.buf[:0]
	for len(items) > 0 {
		k := min(len(items), maxItemsPerFrame)
		if k == 1 {
			frames = append(frames, items[0].msg)
		} else {
			start := len(buf)
			buf = appendBatch(buf, epoch, items[:k])
			frames = append(frames, buf[start:len(buf):len(buf)])
		}
		n += k
		items = items[k:]
	}
	c.buf = buf[:0]
	return frames, n, overflow
}

// appendBatch appends the batch message of items (two or more) to b.
func appendBatch(b []byte, epoch string, items []*item) []byte {
	b = append(b, `{"type":"batch","epoch":`...)
	b = appendJSONString(b, epoch)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, items[len(items)-1].ev.Seq, 10)
	b = append(b, `,"items":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it.msg...)
	}
	return append(b, "]}"...)
}

var upgrader = websocket.Upgrader{
	ReadBufferSize:  4096,
	WriteBufferSize: 16384,
	// The feed is read-only and authenticated by key, not by cookie, so any
	// origin (the web app, a dashboard elsewhere) may connect.
	CheckOrigin:       func(*http.Request) bool { return true },
	EnableCompression: false,
}

// ServeHTTP handles the "GET /ws" route: it authorizes the request, upgrades
// it to a websocket and serves the client until it goes away.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.Authorize != nil {
		if err := h.Authorize(r.Context()); err != nil {
			httpapi.Error(w, r, err)
			return
		}
	}
	if !websocket.IsWebSocketUpgrade(r) {
		httpapi.Error(w, r, errs.Invalid("Upgrade", "GET /ws is a websocket: send Connection: Upgrade and Upgrade: websocket"))
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		// Upgrade has answered with an HTTP error.
		return
	}
	h.serve(r.Context(), conn)
}

// serve runs one connection: a reader goroutine passes client messages in;
// this loop is the only writer.
func (h *Hub) serve(ctx context.Context, conn *websocket.Conn) {
	c := newClient(h)
	log := httpapi.LoggerFrom(ctx)
	defer func() {
		h.mu.Lock()
		h.unregister(c)
		h.mu.Unlock()
		conn.Close()
	}()
	readTimeout := h.PingInterval * 12 / 5
	conn.SetReadLimit(MaxMessageBytes)
	_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(readTimeout)) })

	in := make(chan []byte, 8)
	readErr := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			typ, b, err := conn.ReadMessage()
			if err != nil {
				readErr <- err
				return
			}
			_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
			if typ != websocket.TextMessage {
				readErr <- errBinary
				return
			}
			select {
			case in <- b:
			case <-rctx.Done():
				return
			}
		}
	}()

	write := func(b []byte) error {
		_ = conn.SetWriteDeadline(time.Now().Add(h.WriteTimeout))
		h.metrics.frames.Inc()
		return conn.WriteMessage(websocket.TextMessage, b)
	}
	closeWith := func(code int, text string) {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	}
	ping := time.NewTicker(h.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			closeWith(websocket.CloseGoingAway, "server shutting down")
			return
		case err := <-readErr:
			switch {
			case errors.Is(err, websocket.ErrReadLimit):
				closeWith(websocket.CloseMessageTooBig, "message over 64 KiB")
			case errors.Is(err, errBinary):
				closeWith(websocket.ClosePolicyViolation, "text JSON messages only")
			}
			return
		case b := <-in:
			for _, f := range h.handle(ctx, c, b) {
				if err := write(f); err != nil {
					log.Debug("ws write", "err", err)
					return
				}
			}
		case <-c.notify:
			frames, n, overflow := c.drain(h.Position().Epoch)
			if overflow {
				h.metrics.tooSlow.Inc()
				log.Info("ws client too slow; closing", "code", CloseTooSlow)
				closeWith(CloseTooSlow, "too slow")
				return
			}
			for _, f := range frames {
				if err := write(f); err != nil {
					log.Debug("ws write", "err", err)
					return
				}
			}
			h.metrics.messages.Add(float64(n))
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(h.WriteTimeout)); err != nil {
				return
			}
		}
	}
}

var errBinary = errors.New("binary message")

// handle answers one client message with the frames to write.
func (h *Hub) handle(ctx context.Context, c *client, b []byte) [][]byte {
	m, err := ParseClientMessage(b)
	if err != nil {
		return [][]byte{h.errorFrame(m.ID, err)}
	}
	switch m.Type {
	case "ping":
		return [][]byte{h.control("pong", m.ID, nil)}
	case "unsubscribe":
		h.mu.Lock()
		h.register(c, nil, h.seq)
		h.mu.Unlock()
		return [][]byte{h.control("unsubscribed", m.ID, nil)}
	}
	sub, err := newSubscription(m)
	if err != nil {
		return [][]byte{h.errorFrame(m.ID, err)}
	}
	return h.subscribe(ctx, c, m, sub)
}

func (h *Hub) errorFrame(id []byte, err error) []byte {
	extra := map[string]any{"code": errs.Code(err), "message": errs.Message(err)}
	if w := errs.Where(err); w != "" {
		extra["where"] = w
	}
	return h.control("error", id, extra)
}
