package twin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial"
	"github.com/citytwin/citytwin/twin/feed"
)

// Alarm is a condition of a device that needs attention. Active and
// Acknowledged change independently: active-unacked, active-acked,
// cleared-unacked, cleared-acked.
type Alarm struct {
	feed.AlarmData        // what an "alarm" event carries
	Version        int64  `json:"version"`
	RuleID         *int64 `json:"rule_id"`
}

type alarmKey struct{ device, typ string }

func (a *Alarm) event() feed.Event {
	b, _ := json.Marshal(a.AlarmData)
	return feed.Event{Stream: feed.StreamEvent, Kind: "alarm", Entity: fmt.Sprintf("alarm:%d", a.ID), Layer: "alarms",
		Cell: spatial.PointCell(orb.Point{a.Lon, a.Lat}, spatial.CoverRes), Version: a.Version, Data: b}
}

const alarmCols = `id, device_id, type, severity, message, metric, value, active, acknowledged, raised_at, cleared_at,
	acked_at, acked_by, coalesce(ST_X(geom), 0), coalesce(ST_Y(geom), 0), version, rule_id`

func scanAlarm(row pgx.CollectableRow) (*Alarm, error) {
	var a Alarm
	err := row.Scan(&a.ID, &a.Device, &a.Type, &a.Severity, &a.Message, &a.Metric, &a.Value, &a.Active, &a.Acknowledged,
		&a.RaisedAt, &a.ClearedAt, &a.AckedAt, &a.AckedBy, &a.Lon, &a.Lat, &a.Version, &a.RuleID)
	a.RaisedAt = a.RaisedAt.UTC()
	return &a, err
}

// AlarmFilter selects alarms to list.
type AlarmFilter struct {
	Active       *bool
	Acknowledged *bool
	Device       string
	Bbox         *orb.Bound
	Limit        int
}

func queryAlarms(ctx context.Context, pool *pgxpool.Pool, f AlarmFilter) ([]*Alarm, error) {
	var conds []string
	var args []any
	add := func(c string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(c, len(args)))
	}
	if f.Active != nil {
		add("active = $%d", *f.Active)
	}
	if f.Acknowledged != nil {
		add("acknowledged = $%d", *f.Acknowledged)
	}
	if f.Device != "" {
		add("device_id = $%d", f.Device)
	}
	if f.Bbox != nil {
		args = append(args, f.Bbox.Min[0], f.Bbox.Min[1], f.Bbox.Max[0], f.Bbox.Max[1])
		n := len(args)
		conds = append(conds, fmt.Sprintf("geom && ST_MakeEnvelope($%d, $%d, $%d, $%d, 4326)", n-3, n-2, n-1, n))
	}
	q := `SELECT ` + alarmCols + ` FROM alarms`
	if len(conds) > 0 {
		q += ` WHERE ` + strings.Join(conds, " AND ")
	}
	q += ` ORDER BY raised_at DESC, id DESC`
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("alarms: %w", err)
	}
	as, err := pgx.CollectRows(rows, scanAlarm)
	if err != nil {
		return nil, fmt.Errorf("alarms: %w", err)
	}
	return as, nil
}

// Alarms lists alarms, newest first.
func (s *Service) Alarms(ctx context.Context, f AlarmFilter) ([]*Alarm, error) {
	if f.Limit <= 0 || f.Limit > 10000 {
		f.Limit = 1000
	}
	return queryAlarms(ctx, s.Pool, f)
}

// changeSet collects the changes of one state transaction: new versions of
// devices, raised, cleared and acknowledged alarms, feature statuses, and
// their events. Nothing is visible until install, after commit. Callers hold
// commitMu.
type changeSet struct {
	s       *Service
	devs    map[string]*device
	order   []string
	active  map[alarmKey]*Alarm
	acked   []*Alarm
	events  []feed.Event
	changes []spatial.Change
	since   map[pendingKey]time.Time // duration rules' conditions begun (zero: ended)
	// lazy lets finish skip the rows of devices that only reported (the
	// ingest batches), except those settled (a command's confirmed state);
	// other changes (a patch, health) write the rows of every device they
	// touch.
	lazy    bool
	settled map[string]bool
}

func (s *Service) newChangeSet() *changeSet {
	return &changeSet{s: s, devs: map[string]*device{}, active: map[alarmKey]*Alarm{}}
}

// dev returns the staged copy of device id (with its version bumped), or
// nil for an unknown device.
func (c *changeSet) dev(id string) *device {
	if d, ok := c.devs[id]; ok {
		return d
	}
	old := c.s.lookup(id)
	if old == nil {
		return nil
	}
	d := old.clone()
	d.Version++
	d.cacheCell()
	c.devs[id] = d
	c.order = append(c.order, id)
	return d
}

func (c *changeSet) activeAlarm(k alarmKey) *Alarm {
	if a, ok := c.active[k]; ok {
		return a
	}
	c.s.mu.RLock()
	defer c.s.mu.RUnlock()
	return c.s.active[k]
}

// raise inserts an alarm unless one of the same device and type is active.
func (c *changeSet) raise(ctx context.Context, tx pgx.Tx, d *device, typ, severity, msg string, metric *string, value *float64, ruleID *int64, at time.Time) error {
	k := alarmKey{d.ID, typ}
	if c.activeAlarm(k) != nil {
		return nil
	}
	a := &Alarm{AlarmData: feed.AlarmData{Device: d.ID, Type: typ, Severity: severity, Message: msg, Metric: metric, Value: value,
		Active: true, RaisedAt: at.UTC(), Lon: d.Lon, Lat: d.Lat}, Version: 1, RuleID: ruleID}
	err := tx.QueryRow(ctx, `INSERT INTO alarms (device_id, type, severity, message, metric, value, raised_at, h3, geom, version, rule_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, ST_SetSRID(ST_MakePoint($9, $10), 4326), 1, $11)
		ON CONFLICT (device_id, type) WHERE active DO NOTHING RETURNING id`,
		a.Device, a.Type, a.Severity, a.Message, a.Metric, a.Value, a.RaisedAt,
		int64(spatial.PointCell(orb.Point{d.Lon, d.Lat}, spatial.PointRes)), d.Lon, d.Lat, ruleID).Scan(&a.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // raised meanwhile by another instance
	}
	if err != nil {
		return fmt.Errorf("raise alarm: %w", err)
	}
	c.active[k] = a
	c.events = append(c.events, a.event())
	if c.s.metrics != nil {
		c.s.metrics.alarms.WithLabelValues(typ).Inc()
	}
	if ruleID != nil {
		if r, ok := c.s.rule(*ruleID); ok && r.FeatureStatus != nil {
			return c.featureStatus(ctx, tx, d, *r.FeatureStatus)
		}
	}
	return nil
}

// clear ends an active alarm.
func (c *changeSet) clear(ctx context.Context, tx pgx.Tx, a *Alarm, at time.Time) error {
	n := *a
	n.Active = false
	t := at.UTC()
	n.ClearedAt = &t
	n.Version++
	tag, err := tx.Exec(ctx, `UPDATE alarms SET active = false, cleared_at = $2, version = $3 WHERE id = $1 AND active`, a.ID, t, n.Version)
	if err != nil {
		return fmt.Errorf("clear alarm: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	c.active[alarmKey{a.Device, a.Type}] = nil
	c.events = append(c.events, n.event())
	if a.RuleID != nil {
		if r, ok := c.s.rule(*a.RuleID); ok && r.FeatureStatus != nil {
			if d := c.s.lookup(a.Device); d != nil {
				return c.featureStatus(ctx, tx, d, "ok")
			}
		}
	}
	return nil
}

// featureStatus sets the status of d's feature, if it has one with a status.
func (c *changeSet) featureStatus(ctx context.Context, tx pgx.Tx, d *device, status string) error {
	if d.Feature == nil {
		return nil
	}
	l, err := c.s.Registry.Layer(d.Feature.Layer)
	if err != nil {
		return nil
	}
	if _, ok := l.Attr("status"); !ok || l.User {
		return nil
	}
	tag, err := tx.Exec(ctx, `UPDATE `+l.TableIdent()+` SET status = $2, updated_at = now() WHERE id = $1 AND status IS DISTINCT FROM $2`, d.Feature.ID, status)
	if err != nil {
		return fmt.Errorf("feature status: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	b, _ := json.Marshal(map[string]any{"layer": d.Feature.Layer, "id": d.Feature.ID, "status": status})
	c.events = append(c.events, feed.Event{Stream: feed.StreamState, Kind: "feature_status",
		Entity: fmt.Sprintf("%s:%d", d.Feature.Layer, d.Feature.ID), Layer: d.Feature.Layer, Cell: d.cell(),
		Version: time.Now().UnixMicro(), Data: b})
	p := orb.Point{d.Lon, d.Lat}
	c.changes = append(c.changes, spatial.Change{Layer: d.Feature.Layer, IDs: []int64{d.Feature.ID}, Bound: p.Bound()})
	return nil
}

// finish writes the staged devices and appends every event, in tx. Every
// changed device gets an event (its whole state). In an ingest batch (lazy)
// its row and its values in device_state are rewritten only when its status
// changed or its last_seen has moved on by rowEvery: the log holds the
// states in between, and a load catches up from it (catchUpDevices, and the
// hub's Load).
func (c *changeSet) finish(ctx context.Context, tx pgx.Tx) error {
	if len(c.order) > 0 {
		var ids, statuses []string
		var seen []*time.Time
		var versions []int64
		var sIDs, sMetrics []string
		var sTimes []time.Time
		var sValues []float64
		devEvents := make([]feed.Event, 0, len(c.order))
		for _, id := range c.order {
			d := c.devs[id]
			devEvents = append(devEvents, d.event())
			if c.lazy && !c.settled[id] && d.Status == d.savedStatus && d.LastSeen.Sub(d.savedSeen) < rowEvery(d) {
				continue
			}
			ids, statuses, versions = append(ids, d.ID), append(statuses, d.Status), append(versions, d.Version)
			var t *time.Time
			if !d.LastSeen.IsZero() {
				t = &d.LastSeen
			}
			seen = append(seen, t)
			d.savedStatus, d.savedSeen = d.Status, d.LastSeen
			for m, v := range d.Values {
				sIDs, sMetrics, sTimes, sValues = append(sIDs, d.ID), append(sMetrics, m), append(sTimes, v.Time), append(sValues, v.Value)
			}
		}
		if len(sIDs) > 0 {
			_, err := tx.Exec(ctx, `INSERT INTO device_state (device_id, metric, time, value)
				SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[])
				ON CONFLICT (device_id, metric) DO UPDATE SET time = EXCLUDED.time, value = EXCLUDED.value,
					version = device_state.version + 1
				WHERE EXCLUDED.time > device_state.time`, sIDs, sMetrics, sTimes, sValues)
			if err != nil {
				return fmt.Errorf("device state: %w", err)
			}
		}
		if len(ids) > 0 {
			_, err := tx.Exec(ctx, `UPDATE devices d SET status = u.status, last_seen = u.last_seen, version = u.version
				FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[]) AS u(id, status, last_seen, version)
				WHERE d.id = u.id`, ids, statuses, seen, versions)
			if err != nil {
				return fmt.Errorf("device status: %w", err)
			}
		}
		c.events = append(devEvents, c.events...)
	}
	return feed.AppendEvents(ctx, tx, c.events)
}

// install makes the committed changes visible and publishes their events.
func (c *changeSet) install(ctx context.Context) {
	c.s.mu.Lock()
	c.installPending()
	for id, d := range c.devs {
		if _, ok := c.s.devices[id]; ok {
			c.s.devices[id] = d
		}
	}
	for k, a := range c.active {
		if a == nil {
			delete(c.s.active, k)
		} else {
			c.s.active[k] = a
		}
	}
	for _, a := range c.acked {
		k := alarmKey{a.Device, a.Type}
		if cur, ok := c.s.active[k]; ok && cur.ID == a.ID {
			c.s.active[k] = a
		}
	}
	c.s.mu.Unlock()
	c.s.publishEvents(ctx, c.events)
	if len(c.changes) > 0 && c.s.Store != nil {
		c.s.Store.Changed(ctx, c.changes...)
	}
}

// commitChanges runs fn and the change set's writes in one transaction,
// then installs them. Callers hold commitMu.
func (s *Service) commitChanges(ctx context.Context, fn func(tx pgx.Tx, c *changeSet) error) (*changeSet, error) {
	var c *changeSet
	var t1, t2 time.Time
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		c = s.newChangeSet()
		if err := fn(tx, c); err != nil {
			return err
		}
		t1 = time.Now()
		err := c.finish(ctx, tx)
		t2 = time.Now()
		return err
	})
	if err != nil {
		return nil, err
	}
	s.Logger.Debug("twin: state committed", "finish", t2.Sub(t1), "commit", time.Since(t2), "events", len(c.events))
	c.install(ctx)
	return c, nil
}

// AckAlarm acknowledges an alarm (active or not). Returns ENOTFOUND.
// Acknowledging twice is harmless.
func (s *Service) AckAlarm(ctx context.Context, id int64, actor string) (*Alarm, error) {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	var out *Alarm
	_, err := s.commitChanges(ctx, func(tx pgx.Tx, c *changeSet) error {
		rows, err := tx.Query(ctx, `UPDATE alarms SET acknowledged = true, acked_at = now(), acked_by = $2, version = version + 1
			WHERE id = $1 AND NOT acknowledged RETURNING `+alarmCols, id, actor)
		if err != nil {
			return fmt.Errorf("ack alarm: %w", err)
		}
		as, err := pgx.CollectRows(rows, scanAlarm)
		if err != nil {
			return fmt.Errorf("ack alarm: %w", err)
		}
		if len(as) == 0 {
			a, err := s.alarm(ctx, tx, id)
			out = a
			return err
		}
		out = as[0]
		c.acked = append(c.acked, out)
		c.events = append(c.events, out.event())
		return nil
	})
	return out, err
}

// ClearAlarm clears an active alarm by hand. Returns ENOTFOUND; clearing a
// cleared alarm is harmless.
func (s *Service) ClearAlarm(ctx context.Context, id int64) (*Alarm, error) {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	var out *Alarm
	_, err := s.commitChanges(ctx, func(tx pgx.Tx, c *changeSet) error {
		a, err := s.alarm(ctx, tx, id)
		if err != nil {
			return err
		}
		if !a.Active {
			out = a
			return nil
		}
		if err := c.clear(ctx, tx, a, time.Now()); err != nil {
			return err
		}
		out, err = s.alarm(ctx, tx, id)
		return err
	})
	return out, err
}

func (s *Service) alarm(ctx context.Context, tx pgx.Tx, id int64) (*Alarm, error) {
	rows, err := tx.Query(ctx, `SELECT `+alarmCols+` FROM alarms WHERE id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("alarm: %w", err)
	}
	as, err := pgx.CollectRows(rows, scanAlarm)
	if err != nil {
		return nil, fmt.Errorf("alarm: %w", err)
	}
	if len(as) == 0 {
		return nil, errs.NotFound("no alarm %d", id)
	}
	return as[0], nil
}
