package twin

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/spatial"
	"github.com/citytwin/citytwin/twin/feed"
)

// Options tune the service; zero values take the defaults.
type Options struct {
	// OfflineFactor: a device that has not reported for its interval times
	// this factor goes offline (default 3).
	OfflineFactor float64
	// HealthEvery is how often devices are checked for silence (default 1 s).
	HealthEvery time.Duration
	// BatchRows and BatchWait bound a write batch: up to this many rows, or
	// this long after the first one (defaults 8000 and 10 ms). A batch takes
	// what is queued when it starts, so it is small under light load; under
	// a backlog, big batches share the per-device work (latest state, device
	// row, one event) among more observations.
	BatchRows int
	BatchWait time.Duration
	// Writers is the number of batch writers (default 1). More writers
	// overlap one batch's insert with another's state phase, but on a
	// 2-core machine that shares its cores with PostgreSQL they only queue
	// behind the state lock: at 20,000 observations/s with 1,000 websocket
	// clients, 3 writers had a 1.3x higher median ingest-to-client latency
	// than 1 in the same run, and cost PostgreSQL 6-15% more CPU per
	// observation (make bench-live).
	Writers int
	// Rate and Burst limit each device's observations per second (a token
	// bucket; defaults 100/s and a burst of 2000).
	Rate, Burst float64
	// MaxFuture is how far in the future an observation's time may be
	// (default 5 min).
	MaxFuture time.Duration
	// CommandTimeout is how long a command waits for the device's ack when
	// the request does not say (default 10 s).
	CommandTimeout time.Duration
}

func (o *Options) defaults() {
	if o.OfflineFactor <= 0 {
		o.OfflineFactor = 3
	}
	if o.HealthEvery <= 0 {
		o.HealthEvery = time.Second
	}
	if o.BatchRows <= 0 {
		o.BatchRows = 8000
	}
	if o.BatchWait <= 0 {
		o.BatchWait = 10 * time.Millisecond
	}
	if o.Writers <= 0 {
		o.Writers = 1
	}
	if o.Rate <= 0 {
		o.Rate = 100
	}
	if o.Burst <= 0 {
		o.Burst = 2000
	}
	if o.MaxFuture <= 0 {
		o.MaxFuture = 5 * time.Minute
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 10 * time.Second
	}
}

// FeatureRef names a feature of a layer.
type FeatureRef struct {
	Layer string `json:"layer"`
	ID    int64  `json:"id"`
}

// Value is a metric's latest value and its time.
type Value struct {
	Value float64   `json:"value"`
	Time  time.Time `json:"time"`
}

// device is one device with its latest state. Values are never changed in
// place: a state change builds a new *device and swaps it in (under mu), so
// a reader may keep a pointer it got under mu.
type device struct {
	ID       string
	Kind     string
	Name     string
	Lon, Lat float64
	Feature  *FeatureRef
	Custom   map[string]Metric // metric definitions of this device beyond its kind's
	Interval time.Duration
	Created  time.Time

	Status   string
	LastSeen time.Time
	Version  int64
	Values   map[string]Value

	// savedStatus and savedSeen are what the device's row holds: the row
	// is rewritten when the status changes or last_seen has moved on by
	// rowEvery, not on every report (see changeSet.finish).
	savedStatus string
	savedSeen   time.Time

	// h3 is the H3 cell of (h3Lon, h3Lat), kept so that every state event
	// does not cross into cgo for it; see cacheCell.
	h3           uint64
	h3Lon, h3Lat float64
}

func (d *device) clone() *device {
	c := *d
	c.Values = make(map[string]Value, len(d.Values)+1)
	for k, v := range d.Values {
		c.Values[k] = v
	}
	return &c
}

func (d *device) metric(name string) (Metric, bool) {
	if m, ok := d.Custom[name]; ok {
		return m, true
	}
	m, ok := kinds[d.Kind].Metrics[name]
	return m, ok
}

// cell is the device's H3 cell (spatial.CoverRes).
func (d *device) cell() uint64 {
	if d.h3 != 0 && d.h3Lon == d.Lon && d.h3Lat == d.Lat {
		return d.h3
	}
	return spatial.PointCell(orb.Point{d.Lon, d.Lat}, spatial.CoverRes)
}

// cacheCell keeps the cell of d's point in d. Call it only on a device no
// other goroutine sees yet (devices are shared read-only once installed).
func (d *device) cacheCell() {
	if d.h3 == 0 || d.h3Lon != d.Lon || d.h3Lat != d.Lat {
		d.h3, d.h3Lon, d.h3Lat = spatial.PointCell(orb.Point{d.Lon, d.Lat}, spatial.CoverRes), d.Lon, d.Lat
	}
}

// Service is the live twin's ingest side: devices, their latest state,
// observations, rules, alarms and commands.
//
// Lock order: commitMu, then mu, then rateMu / pendingMu. commitMu is held by
// every transaction that changes device state or alarms (so versions and
// in-memory state follow commit order); mu guards the maps for short reads
// and swaps.
type Service struct {
	Pool     *pgxpool.Pool
	Registry *spatial.Registry
	Store    *spatial.Store
	Bus      feed.Bus
	Auth     *auth.Service
	Logger   *slog.Logger
	Options  Options

	commitMu sync.Mutex
	// since holds when a duration rule's condition began, per device and
	// rule (under commitMu); rebuilt from the observations at Load
	// (pending.go).
	since map[string]map[int64]time.Time

	mu      sync.RWMutex
	devices map[string]*device
	rules   []Rule
	active  map[alarmKey]*Alarm

	rateMu  sync.Mutex
	buckets map[string]*bucket

	partMu sync.Mutex
	parts  map[string]bool // month partitions known to exist ("200601")

	seriesMu sync.RWMutex
	series   map[seriesKey]int32 // observation_series ids read or made so far

	pendingMu sync.Mutex
	pending   map[int64]chan CommandAck

	queue   chan *writeReq
	publish func(ctx context.Context, topic string, payload []byte) error
	mqtt    *Broker
	ext     *ExternalClient

	metrics *serviceMetrics
}

type serviceMetrics struct {
	accepted   prometheus.Counter
	duplicates prometheus.Counter
	rejected   *prometheus.CounterVec
	batches    prometheus.Histogram
	retries    prometheus.Counter
	alarms     *prometheus.CounterVec
	commands   *prometheus.CounterVec
	online     prometheus.GaugeFunc
}

// NewService returns a service; Open loads its state and starts its writers.
func NewService(pool *pgxpool.Pool, reg *spatial.Registry, store *spatial.Store, bus feed.Bus, au *auth.Service, logger *slog.Logger, opts Options) *Service {
	opts.defaults()
	return &Service{
		Pool: pool, Registry: reg, Store: store, Bus: bus, Auth: au, Logger: logger, Options: opts,
		since:   map[string]map[int64]time.Time{},
		devices: map[string]*device{},
		active:  map[alarmKey]*Alarm{},
		buckets: map[string]*bucket{},
		parts:   map[string]bool{},
		series:  map[seriesKey]int32{},
		pending: map[int64]chan CommandAck{},
		queue:   make(chan *writeReq, 4096),
	}
}

// RegisterMetrics registers the service's Prometheus metrics on reg.
func (s *Service) RegisterMetrics(reg prometheus.Registerer) error {
	m := &serviceMetrics{
		accepted:   prometheus.NewCounter(prometheus.CounterOpts{Name: "citytwin_observations_accepted_total", Help: "Observations stored."}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "citytwin_observations_duplicate_total", Help: "Observations already stored (idempotent retries)."}),
		rejected:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "citytwin_observations_rejected_total", Help: "Observations refused, by reason."}, []string{"reason"}),
		batches:    prometheus.NewHistogram(prometheus.HistogramOpts{Name: "citytwin_ingest_batch_rows", Help: "Rows per committed ingest batch.", Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
		retries:    prometheus.NewCounter(prometheus.CounterOpts{Name: "citytwin_ingest_retries_total", Help: "Ingest batches retried after a database error."}),
		alarms:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "citytwin_alarms_raised_total", Help: "Alarms raised, by type."}, []string{"type"}),
		commands:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "citytwin_device_commands_total", Help: "Commands sent to devices, by outcome."}, []string{"status"}),
	}
	m.online = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "citytwin_devices_online", Help: "Devices online now."}, func() float64 {
		s.mu.RLock()
		defer s.mu.RUnlock()
		n := 0
		for _, d := range s.devices {
			if d.Status == StatusOnline {
				n++
			}
		}
		return float64(n)
	})
	for _, c := range []prometheus.Collector{m.accepted, m.duplicates, m.rejected, m.batches, m.retries, m.alarms, m.commands, m.online} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	s.metrics = m
	return nil
}

// Device statuses.
const (
	StatusUnknown = "unknown"
	StatusOnline  = "online"
	StatusOffline = "offline"
)

// Load reads devices, their latest values, rules and active alarms from the
// database, so that a restarted server has the same state.
func (s *Service) Load(ctx context.Context) error {
	devs, err := s.loadDevices(ctx, nil)
	if err != nil {
		return err
	}
	rules, err := loadRules(ctx, s.Pool)
	if err != nil {
		return err
	}
	alarms, err := queryAlarms(ctx, s.Pool, AlarmFilter{Active: ptr(true)})
	if err != nil {
		return err
	}
	since, err := s.rebuildPending(ctx, devs, rules)
	if err != nil {
		return err
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.since = since
	s.mu.Lock()
	s.devices = devs
	s.rules = rules
	s.active = map[alarmKey]*Alarm{}
	for _, a := range alarms {
		s.active[alarmKey{a.Device, a.Type}] = a
	}
	s.mu.Unlock()
	s.Logger.Info("twin state loaded", "devices", len(devs), "active_alarms", len(alarms), "rules", len(rules))
	return nil
}

func ptr[T any](v T) *T { return &v }

// rowEvery is how far a device's last_seen may move on before its row is
// rewritten: half its reporting interval, between 1 and 30 s. Rewriting
// every reporting device's row in every ingest batch cost the database
// about a fifth of its time under load (make bench-live); the event log,
// written in the same transactions, holds the rest.
func rowEvery(d *device) time.Duration {
	return min(max(d.Interval/2, time.Second), 30*time.Second)
}

// catchUpDevices brings devs (those with ids, or all when ids is nil) from
// their rows and device_state up to their latest logged events: the
// version, last_seen and values that rows written at most rowEvery ago may
// lack (after a crash, or from another instance). Versions so continue
// where clients saw them, never going back.
func (s *Service) catchUpDevices(ctx context.Context, devs map[string]*device, ids []string) error {
	where, args := "", []any{}
	if ids != nil {
		entities := make([]string, len(ids))
		for i, id := range ids {
			entities[i] = "device:" + id
		}
		where, args = " AND entity = ANY($1)", []any{entities}
	}
	rows, err := s.Pool.Query(ctx, `SELECT DISTINCT ON (entity) substr(entity, 8), version, data
		FROM event_log WHERE kind = 'device' AND at > (SELECT max(at) FROM event_log) - interval '2 minutes'`+where+`
		ORDER BY entity, seq DESC`, args...)
	if err != nil {
		return fmt.Errorf("twin: latest device events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var version int64
		var data []byte
		if err := rows.Scan(&id, &version, &data); err != nil {
			return fmt.Errorf("twin: latest device events: %w", err)
		}
		d := devs[id]
		if d == nil || version <= d.Version {
			continue
		}
		var logged struct {
			LastSeen *time.Time       `json:"last_seen"`
			Values   map[string]Value `json:"values"`
		}
		if err := json.Unmarshal(data, &logged); err != nil {
			return fmt.Errorf("twin: latest event of device %s: %w", id, err)
		}
		d.Version = version
		if logged.LastSeen != nil && logged.LastSeen.After(d.LastSeen) {
			d.LastSeen = logged.LastSeen.UTC()
		}
		for m, v := range logged.Values {
			if cur, ok := d.Values[m]; !ok || v.Time.After(cur.Time) {
				v.Time = v.Time.UTC()
				d.Values[m] = v
			}
		}
	}
	return rows.Err()
}

// loadDevices reads devices with their latest values: those with the given
// ids, or all when ids is nil.
func (s *Service) loadDevices(ctx context.Context, ids []string) (map[string]*device, error) {
	where, args := "", []any{}
	if ids != nil {
		where, args = " WHERE id = ANY($1)", []any{ids}
	}
	rows, err := s.Pool.Query(ctx, `SELECT id, kind, coalesce(name, ''), ST_X(geom), ST_Y(geom), feature_layer, feature_id,
		metrics, interval_s, created_at, status, last_seen, version FROM devices`+where, args...)
	if err != nil {
		return nil, fmt.Errorf("twin: load devices: %w", err)
	}
	devs := map[string]*device{}
	for rows.Next() {
		var d device
		var fl *string
		var fid *int64
		var metrics []byte
		var interval int
		var lastSeen *time.Time
		var lon, lat *float64
		if err := rows.Scan(&d.ID, &d.Kind, &d.Name, &lon, &lat, &fl, &fid, &metrics, &interval, &d.Created, &d.Status, &lastSeen, &d.Version); err != nil {
			rows.Close()
			return nil, fmt.Errorf("twin: load devices: %w", err)
		}
		if lon != nil && lat != nil {
			d.Lon, d.Lat = *lon, *lat
		}
		if fl != nil && fid != nil {
			d.Feature = &FeatureRef{Layer: *fl, ID: *fid}
		}
		if len(metrics) > 2 {
			if err := json.Unmarshal(metrics, &d.Custom); err != nil {
				s.Logger.Warn("twin: device metrics unreadable", "device", d.ID, "err", err)
			}
		}
		d.Interval = time.Duration(interval) * time.Second
		if lastSeen != nil {
			d.LastSeen = *lastSeen
		}
		d.savedStatus, d.savedSeen = d.Status, d.LastSeen
		d.Values = map[string]Value{}
		d.cacheCell()
		devs[d.ID] = &d
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("twin: load devices: %w", err)
	}
	if len(devs) == 0 {
		return devs, nil
	}
	rows, err = s.Pool.Query(ctx, `SELECT device_id, metric, time, value FROM device_state`+strings.Replace(where, "id", "device_id", 1), args...)
	if err != nil {
		return nil, fmt.Errorf("twin: load state: %w", err)
	}
	for rows.Next() {
		var id, metric string
		var v Value
		if err := rows.Scan(&id, &metric, &v.Time, &v.Value); err != nil {
			rows.Close()
			return nil, fmt.Errorf("twin: load state: %w", err)
		}
		if d := devs[id]; d != nil {
			v.Time = v.Time.UTC()
			d.Values[metric] = v
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("twin: load state: %w", err)
	}
	if err := s.catchUpDevices(ctx, devs, ids); err != nil {
		return nil, err
	}
	return devs, nil
}

// fetchUnknown loads devices this process does not know yet (registered
// through another instance on the same database). Errors leave them
// unknown.
func (s *Service) fetchUnknown(ctx context.Context, ids map[string]bool) {
	var missing []string
	s.mu.RLock()
	for id := range ids {
		if _, ok := s.devices[id]; !ok && deviceIDRe.MatchString(id) {
			missing = append(missing, id)
		}
	}
	s.mu.RUnlock()
	if len(missing) == 0 {
		return
	}
	devs, err := s.loadDevices(ctx, missing)
	if err != nil || len(devs) == 0 {
		return
	}
	s.mu.RLock()
	rules := s.rules
	s.mu.RUnlock()
	since, err := s.rebuildPending(ctx, devs, rules)
	if err != nil {
		s.Logger.Warn("twin: rebuilding duration rules of devices registered elsewhere", "err", err)
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, d := range devs {
		if _, ok := s.devices[id]; !ok {
			s.devices[id] = d
			if m := since[id]; m != nil {
				s.since[id] = m
			}
		}
	}
}

// Run starts the batch writers and the health check; they stop when ctx
// ends. It returns at once; wait() waits for them.
func (s *Service) Run(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	for i := 0; i < s.Options.Writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.writer(ctx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.healthLoop(ctx)
	}()
	return wg.Wait
}

// deviceData is the Data of a "device" event: the full latest state.
type deviceData struct {
	ID       string           `json:"id"`
	Kind     string           `json:"kind"`
	Name     string           `json:"name"`
	Lon      float64          `json:"lon"`
	Lat      float64          `json:"lat"`
	Feature  *FeatureRef      `json:"feature"`
	Status   string           `json:"status"`
	LastSeen *time.Time       `json:"last_seen"`
	Values   map[string]Value `json:"values"`
}

func (d *device) data() deviceData {
	dd := deviceData{ID: d.ID, Kind: d.Kind, Name: d.Name, Lon: d.Lon, Lat: d.Lat, Feature: d.Feature, Status: d.Status, Values: d.Values}
	if !d.LastSeen.IsZero() {
		t := d.LastSeen.UTC()
		dd.LastSeen = &t
	}
	if dd.Values == nil {
		dd.Values = map[string]Value{}
	}
	return dd
}

// event is the "device" state event for d.
func (d *device) event() feed.Event {
	return feed.Event{Stream: feed.StreamState, Kind: "device", Entity: "device:" + d.ID, Layer: "devices",
		Cell: d.cell(), Version: d.Version, Data: d.appendData(nil)}
}

// appendData appends d.data() as JSON, as json.Marshal writes it (keys of
// values sorted), without reflection: every batch writes one per device.
func (d *device) appendData(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, d.ID)
	b = append(b, `,"kind":`...)
	b = appendJSONString(b, d.Kind)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, d.Name)
	b = append(b, `,"lon":`...)
	b = appendJSONFloat(b, d.Lon)
	b = append(b, `,"lat":`...)
	b = appendJSONFloat(b, d.Lat)
	b = append(b, `,"feature":`...)
	if d.Feature == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"layer":`...)
		b = appendJSONString(b, d.Feature.Layer)
		b = append(b, `,"id":`...)
		b = strconv.AppendInt(b, d.Feature.ID, 10)
		b = append(b, '}')
	}
	b = append(b, `,"status":`...)
	b = appendJSONString(b, d.Status)
	b = append(b, `,"last_seen":`...)
	if d.LastSeen.IsZero() {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = d.LastSeen.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, `,"values":{`...)
	var keys [16]string
	names := keys[:0]
	for k := range d.Values {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, k := range names {
		if i > 0 {
			b = append(b, ',')
		}
		v := d.Values[k]
		b = appendJSONString(b, k)
		b = append(b, `:{"value":`...)
		b = appendJSONFloat(b, v.Value)
		b = append(b, `,"time":"`...)
		b = v.Time.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `"}`...)
	}
	return append(b, "}}"...)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= 0x7f {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONFloat appends a finite f as encoding/json writes it.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// publish sends committed events on the bus.
func (s *Service) publishEvents(ctx context.Context, evs []feed.Event) {
	if len(evs) == 0 || s.Bus == nil {
		return
	}
	if err := s.Bus.Publish(context.WithoutCancel(ctx), evs); err != nil {
		s.Logger.Warn("twin: publish events", "err", err, "events", len(evs))
	}
}

// lookup returns the device with id, or nil.
func (s *Service) lookup(id string) *device {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.devices[id]
}

// inTx runs fn in a transaction.
func (s *Service) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.Pool, fn)
}
