package twin

import (
	"context"
	"fmt"
	"time"
)

// A duration rule ("pressure below 0.15 MPa for 60 s") raises its alarm when
// its condition has held, by observation time, for ForS seconds. When the
// condition began is kept in memory (Service.since) and is not stored; after
// a restart it is rebuilt from the stored observations, so that a condition
// that began before the restart still counts from when it began.

// pendingKey names the pending condition of one rule on one device.
type pendingKey struct {
	device string
	rule   int64
}

// pendingStart returns when r's condition began on device id, as staged in
// c or, failing that, as committed. Callers hold commitMu.
func (c *changeSet) pendingStart(id string, r int64) (time.Time, bool) {
	if t, ok := c.since[pendingKey{id, r}]; ok {
		return t, !t.IsZero()
	}
	t, ok := c.s.since[id][r]
	return t, ok
}

// setPending stages the start of r's condition on device id; a zero t ends
// it. install applies it once the batch has committed, so that observations
// that were never stored do not start a condition.
func (c *changeSet) setPending(id string, r int64, t time.Time) {
	if c.since == nil {
		c.since = map[pendingKey]time.Time{}
	}
	c.since[pendingKey{id, r}] = t
}

// installPending applies the staged starts. Callers hold commitMu.
func (c *changeSet) installPending() {
	for k, t := range c.since {
		m := c.s.since[k.device]
		if t.IsZero() {
			if m != nil {
				delete(m, k.rule)
				if len(m) == 0 {
					delete(c.s.since, k.device)
				}
			}
			continue
		}
		if _, ok := c.s.devices[k.device]; !ok {
			continue // deleted meanwhile
		}
		if m == nil {
			m = map[int64]time.Time{}
			c.s.since[k.device] = m
		}
		m[k.rule] = t
	}
}

// rebuildPending finds when the condition of every duration rule began on
// each of devs whose condition holds now: it replays evalRule's bookkeeping
// over the device's stored observations of the rule's metrics (and guard
// metric) from ForS before the latest one, starting from the last value of
// each before that. A condition that held all through that window began at
// or before its start, which is all a rule needs to know.
func (s *Service) rebuildPending(ctx context.Context, devs map[string]*device, rules []Rule) (map[string]map[int64]time.Time, error) {
	since := map[string]map[int64]time.Time{}
	n := 0
	for i := range rules {
		r := &rules[i]
		if r.ForS <= 0 {
			continue
		}
		for _, d := range devs {
			if !r.applies(d) {
				continue
			}
			if _, ok := d.Values[r.Metric]; !ok {
				continue
			}
			// Threshold and range rules: only a condition that holds on the
			// latest values can be pending. (A rate rule needs the value
			// before the latest, which the replay finds.)
			if r.Kind != "rate" && !r.holds(d, Value{}, false) {
				continue
			}
			start, ok, err := s.replayPending(ctx, r, d)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			if since[d.ID] == nil {
				since[d.ID] = map[int64]time.Time{}
			}
			since[d.ID][r.ID] = start
			n++
		}
	}
	if n > 0 {
		s.Logger.Info("twin: pending duration conditions rebuilt from observations", "conditions", n)
	}
	return since, nil
}

// replayPending replays r over d's stored observations and returns when its
// condition began, if it holds at the end.
func (s *Service) replayPending(ctx context.Context, r *Rule, d *device) (time.Time, bool, error) {
	metrics := []string{r.Metric}
	latest := d.Values[r.Metric].Time
	if r.WhenMetric != nil && *r.WhenMetric != r.Metric {
		metrics = append(metrics, *r.WhenMetric)
		if v, ok := d.Values[*r.WhenMetric]; ok && v.Time.After(latest) {
			latest = v.Time
		}
	}
	from := latest.Add(-time.Duration(r.ForS * float64(time.Second)))
	// The last observation of each metric before the window (LIMIT 1 per
	// metric: an index scan backwards, however long the history), then the
	// window, in time order.
	rows, err := s.Pool.Query(ctx, `SELECT time, metric, value FROM (
			SELECT p.time, s.metric, p.value FROM observation_series s,
				LATERAL (SELECT time, value FROM observation_points
					WHERE series = s.id AND time < $3 ORDER BY time DESC LIMIT 1) p
				WHERE s.device_id = $1 AND s.metric = ANY($2)
			UNION ALL
			SELECT p.time, s.metric, p.value FROM observation_series s JOIN observation_points p ON p.series = s.id
				WHERE s.device_id = $1 AND s.metric = ANY($2) AND p.time >= $3 AND p.time <= $4
		) o ORDER BY time, metric`, d.ID, metrics, from, latest)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("twin: rebuild duration rule %d for %s: %w", r.ID, d.ID, err)
	}
	defer rows.Close()
	tmp := &device{ID: d.ID, Kind: d.Kind, Values: map[string]Value{}}
	var start time.Time
	pending := false
	for rows.Next() {
		var o Observation
		if err := rows.Scan(&o.Time, &o.Metric, &o.Value); err != nil {
			return time.Time{}, false, fmt.Errorf("twin: rebuild duration rule %d for %s: %w", r.ID, d.ID, err)
		}
		o.Time = o.Time.UTC()
		prev, hasPrev := tmp.Values[o.Metric]
		if hasPrev && o.Time.Before(prev.Time) {
			continue
		}
		tmp.Values[o.Metric] = Value{Value: o.Value, Time: o.Time}
		if r.holds(tmp, prev, hasPrev && o.Metric == r.Metric) {
			if !pending {
				start, pending = o.Time, true
			}
		} else {
			pending = false
		}
	}
	if err := rows.Err(); err != nil {
		return time.Time{}, false, fmt.Errorf("twin: rebuild duration rule %d for %s: %w", r.ID, d.ID, err)
	}
	return start, pending, nil
}
