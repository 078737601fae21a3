package hub

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/citytwin/citytwin/twin/feed"
)

// Hub keeps the live state of every entity at the position it has applied
// and routes each event to the clients whose subscriptions cover it.
//
// Lock order: Hub.mu, then client.mu. Dispatch holds Hub.mu (write) while it
// queues to clients; a client's writer takes only client.mu.
type Hub struct {
	Pool   *pgxpool.Pool
	Log    *feed.Log
	Bus    feed.Bus
	Logger *slog.Logger
	// Authorize decides whether a request may open a websocket (the API's
	// read check); nil allows everyone.
	Authorize func(ctx context.Context) error

	// MaxQueuedEvents bounds the events (not state) queued for one client;
	// past it the client is closed with 4008.
	MaxQueuedEvents int
	// RingSize is how many recent events are kept in memory for clients
	// that resume; older ones are read from the log.
	RingSize int
	// MaxReplay is the most events a resuming client may have missed; past
	// it the client gets a reset and a fresh snapshot.
	MaxReplay int
	// WriteTimeout bounds one write to a client.
	WriteTimeout time.Duration
	// PingInterval is how often clients are pinged; a client that sends
	// nothing (not even a pong) for 2.4 intervals is closed.
	PingInterval time.Duration
	// Retention and MaxLogRows bound the event log (zero: no bound),
	// trimmed by whole partitions (feed.Log.Trim) every TrimEvery (default
	// 10 s; at 20,000 events/s a partition fills in 13 s).
	Retention  time.Duration
	MaxLogRows int64
	TrimEvery  time.Duration

	metrics *metrics

	mu      sync.RWMutex
	epoch   string
	seq     int64
	state   map[string]*entry
	byCell  map[uint64]map[string]*entry
	ring    []*item
	ringPos int // next slot
	ringLen int
	clients map[*client]struct{}
	// cellSubs[res][cell] holds the clients subscribed to cell.
	cellSubs   [16]map[uint64]map[*client]struct{}
	resCount   [16]int
	entitySubs map[string]map[*client]struct{}
	loaded     bool
	touched    []*client // clients with routed items, during dispatch
}

// entry is the latest state of one entity (or an open alarm).
type entry struct {
	ev feed.Event
}

// item is one event ready to be sent: the event and its message.
type item struct {
	ev  feed.Event
	msg []byte
}

// New returns a hub on pool's event log and bus. Load it, then Run it.
func New(pool *pgxpool.Pool, bus feed.Bus, logger *slog.Logger, reg prometheus.Registerer) *Hub {
	h := &Hub{
		Pool: pool, Log: feed.NewLog(pool), Bus: bus, Logger: logger,
		MaxQueuedEvents: 10000, RingSize: 16384, MaxReplay: 50000,
		WriteTimeout: 10 * time.Second, PingInterval: 25 * time.Second,
		Retention: 24 * time.Hour, MaxLogRows: 2_000_000, TrimEvery: 10 * time.Second,
		clients: map[*client]struct{}{}, entitySubs: map[string]map[*client]struct{}{},
	}
	h.metrics = newMetrics(reg, h)
	return h
}

// Position is the hub's position: the last event it applied.
func (h *Hub) Position() feed.Position {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return feed.Position{Epoch: h.epoch, Seq: h.seq}
}

// Run follows the log from the loaded position and dispatches every event
// until ctx ends; it trims the log every minute. If the log's epoch changes
// it reloads and resets every client.
func (h *Hub) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.trimLoop(ctx)
	}()
	for {
		f := feed.NewFollower(h.Log, h.Bus, h.Logger)
		err := f.Run(ctx, h.Position(), h.dispatch)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, feed.ErrEpochChanged) {
			h.Logger.Warn("live feed: the event log was reset; reloading and resetting clients")
			if err := h.Load(ctx); err != nil {
				h.Logger.Error("live feed: reload", "err", err)
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(time.Second):
				}
			}
			h.resetAll("epoch")
			continue
		}
		if err != nil {
			return err
		}
	}
}

func (h *Hub) trimLoop(ctx context.Context) {
	if h.Retention <= 0 && h.MaxLogRows <= 0 {
		return
	}
	every := h.TrimEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := h.Log.Trim(ctx, h.Retention, h.MaxLogRows)
			if err != nil {
				if ctx.Err() == nil {
					h.Logger.Warn("live feed: trimming the event log", "err", err)
				}
				continue
			}
			if n > 0 {
				h.Logger.Debug("live feed: event log trimmed", "rows", n)
			}
		}
	}
}

// wireMsg is a delta or event message.
type wireMsg struct {
	Type    string          `json:"type"`
	Epoch   string          `json:"epoch"`
	Seq     int64           `json:"seq"`
	Entity  string          `json:"entity"`
	Kind    string          `json:"kind"`
	Layer   string          `json:"layer"`
	Cell    string          `json:"cell,omitempty"`
	Version int64           `json:"version"`
	At      time.Time       `json:"at"`
	Data    json.RawMessage `json:"data"`
}

// snapEntity is one entity of a snapshot.
type snapEntity struct {
	Entity  string          `json:"entity"`
	Kind    string          `json:"kind"`
	Layer   string          `json:"layer"`
	Cell    string          `json:"cell,omitempty"`
	Version int64           `json:"version"`
	Data    json.RawMessage `json:"data"`
}

func cellString(c uint64) string {
	if c == 0 {
		return ""
	}
	return strconv.FormatUint(c, 16)
}

// render writes ev's delta or event message once; every client it is routed
// to gets the same bytes. It appends by hand what json.Marshal of wireMsg
// would write (ev.Data is JSON already: the log's, or the writer's), without
// reflection or re-validating the data.
func (h *Hub) render(ev feed.Event) []byte {
	t := "delta"
	if ev.Stream == feed.StreamEvent {
		t = "event"
	}
	data := ev.Data
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	b := make([]byte, 0, len(data)+len(ev.Entity)+len(ev.Kind)+len(ev.Layer)+len(h.epoch)+150)
	b = append(b, `{"type":"`...)
	b = append(b, t...)
	b = append(b, `","epoch":`...)
	b = appendJSONString(b, h.epoch)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, ev.Seq, 10)
	b = append(b, `,"entity":`...)
	b = appendJSONString(b, ev.Entity)
	b = append(b, `,"kind":`...)
	b = appendJSONString(b, ev.Kind)
	b = append(b, `,"layer":`...)
	b = appendJSONString(b, ev.Layer)
	if ev.Cell != 0 {
		b = append(b, `,"cell":"`...)
		b = strconv.AppendUint(b, ev.Cell, 16)
		b = append(b, '"')
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, ev.Version, 10)
	b = append(b, `,"at":"`...)
	b = ev.At.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","data":`...)
	b = append(b, data...)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// dispatch applies a batch of in-order events and queues them to clients.
func (h *Hub) dispatch(evs []feed.Event) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	// Items per client gather in the client's own slice (no map look-up per
	// item), then are queued with one lock and one wake-up per client.
	touched := h.touched[:0]
	defer func() {
		for _, c := range touched {
			c.enqueueAll(c.routed)
			clear(c.routed)
			c.routed = c.routed[:0]
		}
		clear(touched)
		h.touched = touched[:0]
	}()
	for _, ev := range evs {
		if ev.Seq <= h.seq {
			continue
		}
		h.apply(ev)
		h.seq = ev.Seq
		it := &item{ev: ev, msg: h.render(ev)}
		h.pushRing(it)
		touched = h.route(it, touched)
		if !ev.At.IsZero() {
			h.metrics.lag.Observe(now.Sub(ev.At).Seconds())
		}
	}
	h.metrics.events.Add(float64(len(evs)))
}

// route adds it to the routed items of every client whose subscription
// covers it, and returns touched with the clients it added to first.
// h.mu must be held for writing.
func (h *Hub) route(it *item, touched []*client) []*client {
	ev := &it.ev
	add := func(c *client) {
		if !c.sub.wantsLayer(ev.Layer) {
			return
		}
		if len(c.routed) == 0 {
			touched = append(touched, c)
		}
		c.routed = append(c.routed, it)
	}
	for c := range h.entitySubs[ev.Entity] {
		add(c)
	}
	if ev.Cell == 0 {
		return touched
	}
	for res := 0; res < len(h.resCount); res++ {
		if h.resCount[res] == 0 {
			continue
		}
		for c := range h.cellSubs[res][parent(ev.Cell, res)] {
			add(c)
		}
	}
	return touched
}

func (h *Hub) pushRing(it *item) {
	if h.RingSize <= 0 {
		return
	}
	if h.ring == nil {
		h.ring = make([]*item, h.RingSize)
	}
	h.ring[h.ringPos] = it
	h.ringPos = (h.ringPos + 1) % len(h.ring)
	if h.ringLen < len(h.ring) {
		h.ringLen++
	}
}

// ringFrom returns the ring's items with seq > after, or ok=false when the
// ring does not reach back to after+1.
func (h *Hub) ringFrom(after int64) (items []*item, ok bool) {
	if after >= h.seq {
		return nil, true
	}
	if h.ringLen == 0 {
		return nil, false
	}
	oldest := h.ring[(h.ringPos-h.ringLen+len(h.ring))%len(h.ring)]
	if oldest.ev.Seq > after+1 {
		return nil, false
	}
	for i := 0; i < h.ringLen; i++ {
		it := h.ring[(h.ringPos-h.ringLen+i+len(h.ring))%len(h.ring)]
		if it.ev.Seq > after {
			items = append(items, it)
		}
	}
	return items, true
}

// apply updates the in-memory state with ev.
func (h *Hub) apply(ev feed.Event) {
	keep := ev.Stream == feed.StreamState
	if string(ev.Data) == "null" || len(ev.Data) == 0 {
		keep = false
	} else if ev.Stream == feed.StreamEvent {
		keep = isOpen(ev)
	}
	old := h.state[ev.Entity]
	if old != nil {
		if set := h.byCell[old.ev.Cell]; set != nil {
			delete(set, ev.Entity)
			if len(set) == 0 {
				delete(h.byCell, old.ev.Cell)
			}
		}
		delete(h.state, ev.Entity)
	}
	if !keep {
		return
	}
	e := &entry{ev: ev}
	h.state[ev.Entity] = e
	if ev.Cell != 0 {
		set := h.byCell[ev.Cell]
		if set == nil {
			set = map[string]*entry{}
			h.byCell[ev.Cell] = set
		}
		set[ev.Entity] = e
	}
}

// isOpen reports whether an event-stream entity belongs in snapshots: an
// alarm that is active or not yet acknowledged, an incident not closed.
func isOpen(ev feed.Event) bool {
	var d struct {
		Active       *bool   `json:"active"`
		Acknowledged *bool   `json:"acknowledged"`
		State        *string `json:"state"`
	}
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		return false
	}
	if d.State != nil {
		return *d.State != "closed"
	}
	if d.Active != nil && !*d.Active && d.Acknowledged != nil && *d.Acknowledged {
		return false
	}
	return d.Active != nil || d.Acknowledged != nil
}

// register makes sub c's subscription and sets the position it has seen.
// h.mu must be held for writing.
func (h *Hub) register(c *client, sub *subscription, after int64) {
	h.unregister(c)
	c.mu.Lock()
	c.sub = sub
	c.after = after
	c.clearLocked()
	c.mu.Unlock()
	if sub == nil {
		return
	}
	h.clients[c] = struct{}{}
	if sub.entities != nil {
		for e := range sub.entities {
			set := h.entitySubs[e]
			if set == nil {
				set = map[*client]struct{}{}
				h.entitySubs[e] = set
			}
			set[c] = struct{}{}
		}
		return
	}
	if h.cellSubs[sub.res] == nil {
		h.cellSubs[sub.res] = map[uint64]map[*client]struct{}{}
	}
	for cell := range sub.cells {
		set := h.cellSubs[sub.res][cell]
		if set == nil {
			set = map[*client]struct{}{}
			h.cellSubs[sub.res][cell] = set
		}
		set[c] = struct{}{}
	}
	h.resCount[sub.res]++
}

// unregister removes c's subscription. h.mu must be held for writing.
func (h *Hub) unregister(c *client) {
	sub := c.sub
	delete(h.clients, c)
	if sub == nil {
		return
	}
	if sub.entities != nil {
		for e := range sub.entities {
			if set := h.entitySubs[e]; set != nil {
				delete(set, c)
				if len(set) == 0 {
					delete(h.entitySubs, e)
				}
			}
		}
	} else {
		for cell := range sub.cells {
			if set := h.cellSubs[sub.res][cell]; set != nil {
				delete(set, c)
				if len(set) == 0 {
					delete(h.cellSubs[sub.res], cell)
				}
			}
		}
		h.resCount[sub.res]--
	}
	c.mu.Lock()
	c.sub = nil
	c.mu.Unlock()
}

// snapshot renders the snapshot of sub at the hub's position. h.mu must be
// held.
func (h *Hub) snapshot(sub *subscription, id json.RawMessage) []byte {
	var ents, evs []snapEntity
	add := func(e *entry) {
		if !sub.wantsLayer(e.ev.Layer) {
			return
		}
		s := snapEntity{Entity: e.ev.Entity, Kind: e.ev.Kind, Layer: e.ev.Layer, Cell: cellString(e.ev.Cell), Version: e.ev.Version, Data: e.ev.Data}
		if e.ev.Stream == feed.StreamEvent {
			evs = append(evs, s)
		} else {
			ents = append(ents, s)
		}
	}
	switch {
	case sub.entities != nil:
		for id := range sub.entities {
			if e := h.state[id]; e != nil {
				add(e)
			}
		}
	case sub.res == 10:
		for cell := range sub.cells {
			for _, e := range h.byCell[cell] {
				add(e)
			}
		}
	default:
		for cell, set := range h.byCell {
			if sub.cells[parent(cell, sub.res)] {
				for _, e := range set {
					add(e)
				}
			}
		}
	}
	if ents == nil {
		ents = []snapEntity{}
	}
	if evs == nil {
		evs = []snapEntity{}
	}
	b, _ := json.Marshal(struct {
		Type     string          `json:"type"`
		ID       json.RawMessage `json:"id,omitempty"`
		Epoch    string          `json:"epoch"`
		Seq      int64           `json:"seq"`
		Entities []snapEntity    `json:"entities"`
		Events   []snapEntity    `json:"events"`
	}{"snapshot", id, h.epoch, h.seq, ents, evs})
	return b
}

// control renders a small server message (pong, resumed, reset, error,
// unsubscribed) at the hub's position.
func (h *Hub) control(typ string, id json.RawMessage, extra map[string]any) []byte {
	h.mu.RLock()
	m := map[string]any{"type": typ, "epoch": h.epoch, "seq": h.seq}
	h.mu.RUnlock()
	if len(id) > 0 {
		m["id"] = id
	}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

// subscribe handles a subscribe message for c and returns the frames to
// write first (a snapshot, or resumed, or reset then snapshot).
func (h *Hub) subscribe(ctx context.Context, c *client, m ClientMessage, sub *subscription) [][]byte {
	if m.Since == nil {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.register(c, sub, h.seq)
		return [][]byte{h.snapshot(sub, m.ID)}
	}
	reset := func(reason string) [][]byte {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.register(c, sub, h.seq)
		r, _ := json.Marshal(map[string]any{"type": "reset", "id": m.ID, "epoch": h.epoch, "seq": h.seq, "reason": reason})
		h.metrics.resets.WithLabelValues(reason).Inc()
		return [][]byte{r, h.snapshot(sub, m.ID)}
	}
	since := *m.Since
	resumed := func() []byte {
		b, _ := json.Marshal(map[string]any{"type": "resumed", "id": m.ID, "epoch": h.epoch, "seq": since.Seq})
		return b
	}
	h.mu.Lock()
	if since.Epoch != h.epoch {
		h.mu.Unlock()
		return reset("epoch")
	}
	if since.Seq > h.seq {
		// The client claims more than this instance has applied: either it
		// was on another instance that is ahead (this one lags: deliver
		// what follows its position as it comes), or the position never
		// existed in this log, and waiting would leave it blind until the
		// log gets there. The database's head tells which.
		h.mu.Unlock()
		head, err := h.Log.Position(ctx)
		switch {
		case err != nil:
			h.Logger.Warn("live feed: a resume ahead of the hub: reading the log position", "err", err)
			return reset("too_far")
		case head.Epoch != since.Epoch:
			return reset("epoch")
		case head.Seq < since.Seq:
			return reset("too_far")
		}
		h.mu.Lock()
		if since.Epoch != h.epoch {
			h.mu.Unlock()
			return reset("epoch")
		}
		if since.Seq > h.seq {
			h.register(c, sub, since.Seq)
			h.mu.Unlock()
			return [][]byte{resumed()}
		}
		// The hub caught up meanwhile: resume from its ring, as below.
	}
	if items, ok := h.ringFrom(since.Seq); ok {
		h.register(c, sub, since.Seq)
		c.replay(items)
		out := resumed()
		h.mu.Unlock()
		return [][]byte{out}
	}
	cur := h.seq
	h.mu.Unlock()
	if cur-since.Seq > int64(h.MaxReplay) {
		return reset("too_far")
	}
	oldest, err := h.Log.Oldest(ctx)
	if err != nil || oldest == 0 || oldest > since.Seq+1 {
		return reset("too_old")
	}
	evs, err := h.Log.Read(ctx, since.Seq, cur, h.MaxReplay+1)
	if err != nil || len(evs) == 0 || evs[0].Seq != since.Seq+1 || evs[len(evs)-1].Seq != cur {
		return reset("too_old")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	rest, ok := h.ringFrom(cur)
	if !ok {
		h.register(c, sub, h.seq)
		r, _ := json.Marshal(map[string]any{"type": "reset", "id": m.ID, "epoch": h.epoch, "seq": h.seq, "reason": "too_far"})
		h.metrics.resets.WithLabelValues("too_far").Inc()
		return [][]byte{r, h.snapshot(sub, m.ID)}
	}
	h.register(c, sub, since.Seq)
	items := make([]*item, 0, len(evs)+len(rest))
	for _, ev := range evs {
		items = append(items, &item{ev: ev, msg: h.render(ev)})
	}
	c.replay(append(items, rest...))
	return [][]byte{resumed()}
}

// resetAll sends every client a reset and a fresh snapshot.
func (h *Hub) resetAll(reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		sub := c.sub
		h.register(c, sub, h.seq)
		r, _ := json.Marshal(map[string]any{"type": "reset", "epoch": h.epoch, "seq": h.seq, "reason": reason})
		c.push(r, h.snapshot(sub, nil))
	}
}

// metrics of the hub.
type metrics struct {
	events   prometheus.Counter
	lag      prometheus.Histogram
	resets   *prometheus.CounterVec
	tooSlow  prometheus.Counter
	frames   prometheus.Counter
	messages prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, h *Hub) *metrics {
	m := &metrics{
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "citytwin_hub_events_total", Help: "Events applied and routed by the websocket hub."}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "citytwin_hub_event_lag_seconds", Help: "Time from an event's commit to its dispatch in the hub.",
			Buckets: []float64{.001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 5}}),
		resets:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "citytwin_hub_resets_total", Help: "Resets sent to resuming clients, by reason."}, []string{"reason"}),
		tooSlow:  prometheus.NewCounter(prometheus.CounterOpts{Name: "citytwin_hub_too_slow_total", Help: "Clients closed with 4008 because their event queue overflowed."}),
		frames:   prometheus.NewCounter(prometheus.CounterOpts{Name: "citytwin_hub_frames_total", Help: "Websocket frames written."}),
		messages: prometheus.NewCounter(prometheus.CounterOpts{Name: "citytwin_hub_messages_total", Help: "Delta and event messages written (batched into frames)."}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.lag, m.resets, m.tooSlow, m.frames, m.messages,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "citytwin_hub_clients", Help: "Websocket clients with a subscription."}, func() float64 {
				h.mu.RLock()
				defer h.mu.RUnlock()
				return float64(len(h.clients))
			}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "citytwin_hub_seq", Help: "Last event log seq applied by the hub."}, func() float64 {
				return float64(h.Position().Seq)
			}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "citytwin_hub_entities", Help: "Live entities held in memory."}, func() float64 {
				h.mu.RLock()
				defer h.mu.RUnlock()
				return float64(len(h.state))
			}))
	}
	return m
}
