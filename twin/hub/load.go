package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/spatial"
	"github.com/citytwin/citytwin/twin/feed"
)

// Load reads the live state from the database, all at one instant: the log
// position, every device with its latest values, the open alarms, and the
// latest logged event of every other entity (feature status). The hub's
// state is then exactly that of the position; Run follows from there.
func (h *Hub) Load(ctx context.Context) error {
	start := time.Now()
	var pos feed.Position
	state := map[string]*entry{}
	err := pgx.BeginTxFunc(ctx, h.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if pos, err = feed.PositionIn(ctx, tx); err != nil {
			return err
		}
		// Other entities (feature status, ...) only live in the log.
		others, err := latestEvents(ctx, tx, `entity NOT LIKE 'device:%' AND entity NOT LIKE 'alarm:%'`)
		if err != nil {
			return err
		}
		for _, e := range others {
			state[e.Entity] = &entry{ev: e}
		}
		if err := loadDevices(ctx, tx, state); err != nil {
			return err
		}
		// A device's row is rewritten only now and then (its status, and
		// its last_seen every few seconds): its latest logged event, when
		// newer, is its state at the position.
		recent, err := latestEvents(ctx, tx, `kind = 'device' AND at > (SELECT max(at) FROM event_log) - interval '2 minutes'`)
		if err != nil {
			return err
		}
		for _, e := range recent {
			if cur := state[e.Entity]; cur != nil && e.Version > cur.ev.Version {
				state[e.Entity] = &entry{ev: e}
			}
		}
		return loadAlarms(ctx, tx, state)
	})
	if err != nil {
		return fmt.Errorf("live feed: load state: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.epoch, h.seq = pos.Epoch, pos.Seq
	h.state = map[string]*entry{}
	h.byCell = map[uint64]map[string]*entry{}
	h.ring, h.ringPos, h.ringLen = nil, 0, 0
	for _, e := range state {
		h.apply(e.ev)
	}
	h.loaded = true
	h.Logger.Info("live feed loaded", "epoch", pos.Epoch, "seq", pos.Seq, "entities", len(h.state), "ms", time.Since(start).Milliseconds())
	return nil
}

// latestEvents returns the latest logged event of each entity that where
// (SQL on event_log) selects.
func latestEvents(ctx context.Context, tx pgx.Tx, where string) ([]feed.Event, error) {
	rows, err := tx.Query(ctx, `SELECT DISTINCT ON (entity) seq, at, stream, kind, entity, layer, cell, version, data
		FROM event_log WHERE `+where+` ORDER BY entity, seq DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []feed.Event
	for rows.Next() {
		var e feed.Event
		var cell *int64
		var data []byte
		if err := rows.Scan(&e.Seq, &e.At, &e.Stream, &e.Kind, &e.Entity, &e.Layer, &cell, &e.Version, &data); err != nil {
			return nil, err
		}
		if cell != nil {
			e.Cell = uint64(*cell)
		}
		e.Data = data
		e.At = e.At.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

type metricValue struct {
	Value float64   `json:"value"`
	Time  time.Time `json:"time"`
}

type featureRef struct {
	Layer string `json:"layer"`
	ID    int64  `json:"id"`
}

// deviceData is the Data of a "device" state event (the shape the twin's
// ingest writes).
type deviceData struct {
	ID       string                 `json:"id"`
	Kind     string                 `json:"kind"`
	Name     string                 `json:"name"`
	Lon      float64                `json:"lon"`
	Lat      float64                `json:"lat"`
	Feature  *featureRef            `json:"feature"`
	Status   string                 `json:"status"`
	LastSeen *time.Time             `json:"last_seen"`
	Values   map[string]metricValue `json:"values"`
}

func loadDevices(ctx context.Context, tx pgx.Tx, state map[string]*entry) error {
	values := map[string]map[string]metricValue{}
	rows, err := tx.Query(ctx, `SELECT device_id, metric, time, value FROM device_state`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id, metric string
		var v metricValue
		if err := rows.Scan(&id, &metric, &v.Time, &v.Value); err != nil {
			rows.Close()
			return err
		}
		v.Time = v.Time.UTC()
		if values[id] == nil {
			values[id] = map[string]metricValue{}
		}
		values[id][metric] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = tx.Query(ctx, `SELECT id, kind, coalesce(name, ''), coalesce(ST_X(geom), 0), coalesce(ST_Y(geom), 0),
		feature_layer, feature_id, status, last_seen, coalesce((to_jsonb(d)->>'version')::bigint, 0), updated_at FROM devices d`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var d deviceData
		var fl *string
		var fid *int64
		var version int64
		var at time.Time
		if err := rows.Scan(&d.ID, &d.Kind, &d.Name, &d.Lon, &d.Lat, &fl, &fid, &d.Status, &d.LastSeen, &version, &at); err != nil {
			return err
		}
		if fl != nil && fid != nil {
			d.Feature = &featureRef{Layer: *fl, ID: *fid}
		}
		if d.LastSeen != nil {
			t := d.LastSeen.UTC()
			d.LastSeen = &t
		}
		d.Values = values[d.ID]
		if d.Values == nil {
			d.Values = map[string]metricValue{}
		}
		b, err := json.Marshal(d)
		if err != nil {
			return err
		}
		e := feed.Event{Stream: feed.StreamState, Kind: "device", Entity: "device:" + d.ID, Layer: "devices",
			Version: version, At: at.UTC(), Data: b}
		if d.Lon != 0 || d.Lat != 0 {
			e.Cell = spatial.PointCell(orb.Point{d.Lon, d.Lat}, spatial.CoverRes)
		}
		state[e.Entity] = &entry{ev: e}
	}
	return rows.Err()
}

func utcp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func loadAlarms(ctx context.Context, tx pgx.Tx, state map[string]*entry) error {
	rows, err := tx.Query(ctx, `SELECT a.id, a.device_id, a.type, a.severity, a.message, a.metric, a.value, a.active,
		a.acknowledged, a.raised_at, a.cleared_at, a.acked_at, a.acked_by,
		coalesce(ST_X(a.geom), ST_X(d.geom), 0), coalesce(ST_Y(a.geom), ST_Y(d.geom), 0), coalesce((to_jsonb(a)->>'version')::bigint, 1)
		FROM alarms a JOIN devices d ON d.id = a.device_id
		WHERE a.active OR NOT a.acknowledged`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a feed.AlarmData
		var version int64
		if err := rows.Scan(&a.ID, &a.Device, &a.Type, &a.Severity, &a.Message, &a.Metric, &a.Value, &a.Active,
			&a.Acknowledged, &a.RaisedAt, &a.ClearedAt, &a.AckedAt, &a.AckedBy, &a.Lon, &a.Lat, &version); err != nil {
			return err
		}
		a.RaisedAt = a.RaisedAt.UTC()
		a.ClearedAt, a.AckedAt = utcp(a.ClearedAt), utcp(a.AckedAt)
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		e := feed.Event{Stream: feed.StreamEvent, Kind: "alarm", Entity: fmt.Sprintf("alarm:%d", a.ID), Layer: "alarms",
			Version: version, At: a.RaisedAt, Data: b}
		if a.Lon != 0 || a.Lat != 0 {
			e.Cell = spatial.PointCell(orb.Point{a.Lon, a.Lat}, spatial.CoverRes)
		}
		state[e.Entity] = &entry{ev: e}
	}
	return rows.Err()
}
