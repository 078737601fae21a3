package twin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/errs"
)

// IngestResult is the answer to an ingest: how many observations were
// stored, how many were already stored (idempotent retries), and which were
// refused and why.
type IngestResult struct {
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   []Rejection `json:"rejected"`
}

type bucket struct {
	tokens float64
	at     time.Time
}

// allow takes n tokens from device id's bucket.
func (s *Service) allow(id string, now time.Time) bool {
	s.rateMu.Lock()
	defer s.rateMu.Unlock()
	b := s.buckets[id]
	if b == nil {
		b = &bucket{tokens: s.Options.Burst, at: now}
		s.buckets[id] = b
	}
	b.tokens = math.Min(s.Options.Burst, b.tokens+now.Sub(b.at).Seconds()*s.Options.Rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// check validates one parsed observation for principal p.
func (s *Service) check(p *auth.Principal, o parsed, i int, now time.Time) *Rejection {
	if o.reject != nil {
		return o.reject
	}
	rej := func(reason string) *Rejection {
		return &Rejection{Index: i, Device: o.Device, Metric: o.Metric, Reason: reason}
	}
	d := s.lookup(o.Device)
	if d == nil {
		return rej(RejectUnknownDev)
	}
	if p == nil || (p.Role == auth.Device && p.DeviceID != o.Device) || (p.Role != auth.Device && !p.Can(auth.Operator)) {
		return rej(RejectForbidden + ": a device key writes only its own device's telemetry")
	}
	m, ok := d.metric(o.Metric)
	if !ok {
		return rej(RejectUnknownMet)
	}
	if !m.Valid(o.Value) {
		return rej(fmt.Sprintf("%s: %s must be in %g..%g %s", RejectOutOfRange, o.Metric, m.Min, m.Max, m.Unit))
	}
	if o.Time.After(now.Add(s.Options.MaxFuture)) {
		return rej(fmt.Sprintf("%s: more than %s in the future", RejectFuture, s.Options.MaxFuture))
	}
	if o.Time.Year() < 2000 {
		return rej(RejectBadTime + ": before the year 2000")
	}
	if !s.allow(o.Device, now) {
		return rej(RejectRateLimited)
	}
	return nil
}

func (s *Service) countReject(r *Rejection) {
	if s.metrics == nil {
		return
	}
	reason := r.Reason
	for i := 0; i < len(reason); i++ {
		if reason[i] == ':' {
			reason = reason[:i]
			break
		}
	}
	s.metrics.rejected.WithLabelValues(reason).Inc()
}

// Ingest checks and stores observations for p and returns once they are
// committed (or ctx ends). Observations already stored count as duplicates.
func (s *Service) Ingest(ctx context.Context, p *auth.Principal, obs []parsed) (IngestResult, error) {
	res, rows, seen := s.prepare(ctx, p, obs)
	if len(rows) == 0 {
		return res, nil
	}
	n, err := s.write(ctx, rows, seen)
	if err != nil {
		return res, err
	}
	res.Accepted = n
	res.Duplicates = len(rows) - n
	return res, nil
}

// prepare checks observations for p: the rows to store, the devices heard
// from, and the rejections.
func (s *Service) prepare(ctx context.Context, p *auth.Principal, obs []parsed) (IngestResult, []Observation, map[string]time.Time) {
	ids := map[string]bool{}
	for _, o := range obs {
		if o.reject == nil {
			ids[o.Device] = true
		}
	}
	s.fetchUnknown(ctx, ids)
	now := time.Now().UTC().Truncate(time.Microsecond)
	res := IngestResult{Rejected: []Rejection{}}
	rows := make([]Observation, 0, len(obs))
	seen := map[string]time.Time{}
	for i, o := range obs {
		if r := s.check(p, o, i, now); r != nil {
			s.countReject(r)
			res.Rejected = append(res.Rejected, *r)
			continue
		}
		rows = append(rows, o.Observation)
		seen[o.Device] = now
	}
	return res, rows, seen
}

// writeReq is a request to the batch writers: rows to store, and devices
// that were heard from (last_seen).
type writeReq struct {
	rows []Observation
	seen map[string]time.Time
	done chan writeRes
	// settled asks for the rows of these readings' devices to be written
	// at once (a command's confirmed state), not lazily.
	settled bool
}

type writeRes struct {
	inserted int
	err      error
}

// write queues rows for the batch writers and waits until they are durable.
// It returns the number of rows newly stored.
func (s *Service) write(ctx context.Context, rows []Observation, seen map[string]time.Time) (int, error) {
	req, err := s.submit(ctx, rows, seen)
	if err != nil {
		return 0, err
	}
	return s.wait(ctx, req)
}

// submit queues rows for the batch writers (blocking while the queue is
// full, which pushes back on the producers).
func (s *Service) submit(ctx context.Context, rows []Observation, seen map[string]time.Time) (*writeReq, error) {
	req := &writeReq{rows: rows, seen: seen, done: make(chan writeRes, 1)}
	return req, s.enqueue(ctx, req)
}

// enqueue hands req to the batch writers.
func (s *Service) enqueue(ctx context.Context, req *writeReq) error {
	select {
	case s.queue <- req:
		return nil
	case <-ctx.Done():
		return errs.Wrap(errs.EUNAVAILABLE, ctx.Err(), "ingest cancelled before it was queued")
	}
}

// wait waits until req is committed.
func (s *Service) wait(ctx context.Context, req *writeReq) (int, error) {
	select {
	case r := <-req.done:
		return r.inserted, r.err
	case <-ctx.Done():
		// The batch may still commit; the client retries and gets duplicates.
		return 0, errs.Wrap(errs.EUNAVAILABLE, ctx.Err(), "ingest cancelled before commit")
	}
}

// writer gathers requests into batches (BatchRows rows or BatchWait) and
// commits them, retrying while the database is unavailable.
func (s *Service) writer(ctx context.Context) {
	for {
		var first *writeReq
		select {
		case first = <-s.queue:
		case <-ctx.Done():
			return
		}
		batch := []*writeReq{first}
		n := len(first.rows)
		timer := time.NewTimer(s.Options.BatchWait)
	gather:
		for n < s.Options.BatchRows {
			select {
			case r := <-s.queue:
				batch = append(batch, r)
				n += len(r.rows)
			case <-timer.C:
				break gather
			case <-ctx.Done():
				break gather
			}
		}
		timer.Stop()
		s.commitWithRetry(ctx, batch)
	}
}

// retryable reports whether err is the database being unavailable (a
// connection lost, a server shutting down or starting), worth retrying.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case len(pe.Code) >= 2 && pe.Code[:2] == "08", // connection exception
			len(pe.Code) >= 2 && pe.Code[:2] == "57", // operator intervention: admin shutdown, cannot connect now
			len(pe.Code) >= 2 && pe.Code[:2] == "53", // insufficient resources
			pe.Code == "40001", pe.Code == "40P01":
			return true
		}
		return false
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ne) || errors.As(err, &ce) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.SafeToRetry(err) || pgconn.Timeout(err) || isClosedConn(err)
}

func isClosedConn(err error) bool {
	msg := err.Error()
	for _, s := range []string{"conn closed", "connection reset", "broken pipe", "connection refused", "unexpected EOF", "failed to connect", "server closed the connection", "the database system is"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func (s *Service) commitWithRetry(ctx context.Context, batch []*writeReq) {
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		counts, err := s.commitBatch(ctx, batch)
		if err == nil {
			for i, r := range batch {
				r.done <- writeRes{inserted: counts[i]}
			}
			return
		}
		if ctx.Err() != nil {
			for _, r := range batch {
				r.done <- writeRes{err: errs.Wrap(errs.EUNAVAILABLE, err, "server shutting down; observations not stored")}
			}
			return
		}
		if !retryable(err) {
			if len(batch) > 1 {
				// Do not let one bad request sink the others.
				for _, r := range batch {
					s.commitWithRetry(ctx, []*writeReq{r})
				}
				return
			}
			s.Logger.Error("twin: ingest batch failed", "err", err, "rows", len(batch[0].rows))
			batch[0].done <- writeRes{err: err}
			return
		}
		if s.metrics != nil {
			s.metrics.retries.Inc()
		}
		if attempt%10 == 0 {
			s.Logger.Warn("twin: database unavailable, retrying ingest batch", "err", err, "attempt", attempt+1, "backoff", backoff)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

func monthKey(t time.Time) string { return t.UTC().Format("200601") }

// commitBatch stores a batch in one transaction: observations
// (insertObservations), then the latest state,
// rules and alarms, and the events. It returns the rows newly stored per
// request.
func (s *Service) commitBatch(ctx context.Context, batch []*writeReq) ([]int, error) {
	var all []Observation
	months := map[string]time.Time{}
	for _, r := range batch {
		all = append(all, r.rows...)
		for _, o := range r.rows {
			months[monthKey(o.Time)] = o.Time
		}
	}
	t0 := time.Now()
	ids, err := s.seriesIDs(ctx, all)
	if err != nil {
		return nil, err
	}
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var newParts []string
	s.partMu.Lock()
	for k, t := range months {
		if s.parts[k] {
			continue
		}
		if _, err := tx.Exec(ctx, `SELECT ct_observation_partition($1)`, t); err != nil {
			s.partMu.Unlock()
			return nil, fmt.Errorf("partition %s: %w", k, err)
		}
		newParts = append(newParts, k)
	}
	s.partMu.Unlock()
	inserted, err := insertObservations(ctx, tx, all, ids)
	if err != nil {
		return nil, err
	}
	tInsert := time.Now()
	seen := map[string]time.Time{}
	for _, r := range batch {
		for id, t := range r.seen {
			if t.After(seen[id]) {
				seen[id] = t
			}
		}
	}
	// The state part is serialised (commitMu) so that versions and the
	// in-memory state follow commit order; the observation insert above is
	// not, so the next batch's insert overlaps this one's state and commit.
	// (No state transaction touches observations, so holding commitMu while
	// another batch's insert waits on this one's rows cannot deadlock.)
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	tLocked := time.Now()
	c := s.newChangeSet()
	c.lazy = true
	for _, r := range batch {
		if r.settled {
			for id := range r.seen {
				if c.settled == nil {
					c.settled = map[string]bool{}
				}
				c.settled[id] = true
			}
		}
	}
	if err := s.applyObservations(ctx, tx, c, inserted, seen); err != nil {
		return nil, err
	}
	tApplied := time.Now()
	if err := c.finish(ctx, tx); err != nil {
		return nil, err
	}
	tState := time.Now()
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	tCommit := time.Now()
	c.install(ctx)
	s.Logger.Debug("twin: batch committed", "rows", len(all), "new", len(inserted), "requests", len(batch), "devices", len(c.order),
		"insert", tInsert.Sub(t0), "lock_wait", tLocked.Sub(tInsert), "apply", tApplied.Sub(tLocked), "state", tState.Sub(tApplied),
		"commit", tCommit.Sub(tState), "total", time.Since(t0))
	s.partMu.Lock()
	for _, k := range newParts {
		s.parts[k] = true
	}
	s.partMu.Unlock()
	// Credit each new row to the first request that carried it.
	type key struct {
		d, m string
		t    int64
	}
	fresh := make(map[key]bool, len(inserted))
	for _, o := range inserted {
		fresh[key{o.Device, o.Metric, o.Time.UnixNano()}] = true
	}
	counts := make([]int, len(batch))
	for i, r := range batch {
		for _, o := range r.rows {
			k := key{o.Device, o.Metric, o.Time.UnixNano()}
			if fresh[k] {
				counts[i]++
				delete(fresh, k)
			}
		}
	}
	if s.metrics != nil {
		s.metrics.accepted.Add(float64(len(inserted)))
		s.metrics.duplicates.Add(float64(len(all) - len(inserted)))
		s.metrics.batches.Observe(float64(len(all)))
	}
	return counts, nil
}

// insertObservations stores all (ids[i] is the series of all[i]) in tx
// and returns those that were not stored before. It first copies them all
// (COPY, binary: no statement to plan, no rows sent back), which is what an
// ingest of fresh readings needs; when a row is already stored (a device's
// retry, a QoS 1 redelivery) the COPY fails on the primary key, is rolled
// back to its savepoint, and the rows go again by INSERT … ON CONFLICT DO
// NOTHING RETURNING, which tells the new ones apart.
func insertObservations(ctx context.Context, tx pgx.Tx, all []Observation, ids []int32) ([]Observation, error) {
	if len(all) == 0 {
		return nil, nil
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return nil, err
	}
	i := 0
	_, err = sp.CopyFrom(ctx, pgx.Identifier{"observation_points"}, []string{"series", "time", "value"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == len(all) {
				return nil, nil
			}
			o := &all[i]
			id := ids[i]
			i++
			return []any{id, o.Time, o.Value}, nil
		}))
	if err == nil {
		if err := sp.Commit(ctx); err != nil {
			return nil, fmt.Errorf("insert observations: %w", err)
		}
		return all, nil
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		return nil, fmt.Errorf("insert observations: %w", err)
	}
	if err := sp.Rollback(ctx); err != nil {
		return nil, fmt.Errorf("insert observations: %w", err)
	}
	n := len(all)
	times, values := make([]time.Time, n), make([]float64, n)
	named := make(map[int32]seriesKey, n)
	for i, o := range all {
		times[i], values[i] = o.Time, o.Value
		named[ids[i]] = seriesKey{o.Device, o.Metric}
	}
	rows, err := tx.Query(ctx, `INSERT INTO observation_points (series, time, value)
		SELECT * FROM unnest($1::int4[], $2::timestamptz[], $3::float8[]) ON CONFLICT DO NOTHING
		RETURNING series, time, value`, ids, times, values)
	if err != nil {
		return nil, fmt.Errorf("insert observations: %w", err)
	}
	inserted, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Observation, error) {
		var o Observation
		var id int32
		err := r.Scan(&id, &o.Time, &o.Value)
		k := named[id]
		o.Device, o.Metric, o.Time = k.device, k.metric, o.Time.UTC()
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("insert observations: %w", err)
	}
	return inserted, nil
}

// seriesKey names a series of observations: one metric of one device.
type seriesKey struct{ device, metric string }

// seriesIDs returns the observation_series id of each row's device and
// metric, numbering the series not seen before (in a statement of its own,
// committed at once, so that an id in the cache is never one a rolled-back
// batch made).
func (s *Service) seriesIDs(ctx context.Context, rows []Observation) ([]int32, error) {
	ids := make([]int32, len(rows))
	var miss []seriesKey
	s.seriesMu.RLock()
	for i, o := range rows {
		k := seriesKey{o.Device, o.Metric}
		if ids[i] = s.series[k]; ids[i] == 0 {
			miss = append(miss, k)
		}
	}
	s.seriesMu.RUnlock()
	if len(miss) == 0 {
		return ids, nil
	}
	if err := s.loadSeries(ctx, miss); err != nil {
		return nil, err
	}
	s.seriesMu.RLock()
	defer s.seriesMu.RUnlock()
	for i, o := range rows {
		if ids[i] == 0 {
			ids[i] = s.series[seriesKey{o.Device, o.Metric}]
		}
	}
	return ids, nil
}

// loadSeries reads the ids of keys into the cache, numbering those the
// table lacks. A series another instance numbers at the same moment is not
// in the statement's snapshot; the next try finds it.
func (s *Service) loadSeries(ctx context.Context, keys []seriesKey) error {
	slices.SortFunc(keys, func(a, b seriesKey) int {
		return cmp.Or(strings.Compare(a.device, b.device), strings.Compare(a.metric, b.metric))
	})
	keys = slices.Compact(keys)
	for try := 0; len(keys) > 0; try++ {
		if try == 3 {
			return fmt.Errorf("observation series: %d not found after %d tries", len(keys), try)
		}
		devs, metrics := make([]string, len(keys)), make([]string, len(keys))
		for i, k := range keys {
			devs[i], metrics[i] = k.device, k.metric
		}
		rows, err := s.Pool.Query(ctx, `WITH k AS (SELECT * FROM unnest($1::text[], $2::text[]) AS k(device_id, metric)),
			ins AS (INSERT INTO observation_series (device_id, metric) SELECT device_id, metric FROM k
				ON CONFLICT DO NOTHING RETURNING id, device_id, metric)
			SELECT id, device_id, metric FROM ins
			UNION ALL
			SELECT s.id, s.device_id, s.metric FROM observation_series s JOIN k USING (device_id, metric)`, devs, metrics)
		if err != nil {
			return fmt.Errorf("observation series: %w", err)
		}
		found := map[seriesKey]int32{}
		var id int32
		var k seriesKey
		_, err = pgx.ForEachRow(rows, []any{&id, &k.device, &k.metric}, func() error {
			found[k] = id
			return nil
		})
		if err != nil {
			return fmt.Errorf("observation series: %w", err)
		}
		s.seriesMu.Lock()
		maps.Copy(s.series, found)
		s.seriesMu.Unlock()
		keys = slices.DeleteFunc(keys, func(k seriesKey) bool { return found[k] != 0 })
	}
	return nil
}

// applyObservations updates the staged state of the devices that reported:
// latest values, last seen, online status, and evaluates their rules.
func (s *Service) applyObservations(ctx context.Context, tx pgx.Tx, c *changeSet, obs []Observation, seen map[string]time.Time) error {
	sort.SliceStable(obs, func(i, j int) bool {
		if obs[i].Device != obs[j].Device {
			return obs[i].Device < obs[j].Device
		}
		return obs[i].Time.Before(obs[j].Time)
	})
	s.mu.RLock()
	rules := s.rules
	s.mu.RUnlock()
	for _, o := range obs {
		d := c.dev(o.Device)
		if d == nil {
			continue // deleted meanwhile
		}
		prev, hasPrev := d.Values[o.Metric]
		if hasPrev && o.Time.Before(prev.Time) {
			continue // late data: stored, but not the latest
		}
		d.Values[o.Metric] = Value{Value: o.Value, Time: o.Time}
		for i := range rules {
			r := &rules[i]
			if !r.applies(d) || (r.Metric != o.Metric && (r.WhenMetric == nil || *r.WhenMetric != o.Metric)) {
				continue
			}
			if err := s.evalRule(ctx, tx, c, r, d, o, prev, hasPrev && r.Metric == o.Metric); err != nil {
				return err
			}
		}
	}
	for id, t := range seen {
		d := c.dev(id)
		if d == nil {
			continue
		}
		if t.After(d.LastSeen) {
			d.LastSeen = t
		}
		if d.Status != StatusOnline {
			d.Status = StatusOnline
			if a := c.activeAlarm(alarmKey{id, "offline"}); a != nil {
				if err := c.clear(ctx, tx, a, t); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// evalRule evaluates r on d after observation o.
func (s *Service) evalRule(ctx context.Context, tx pgx.Tx, c *changeSet, r *Rule, d *device, o Observation, prev Value, hasPrev bool) error {
	holds := r.holds(d, prev, hasPrev)
	k := alarmKey{d.ID, r.AlarmType}
	if !holds {
		if r.ForS > 0 {
			if _, ok := c.pendingStart(d.ID, r.ID); ok {
				c.setPending(d.ID, r.ID, time.Time{})
			}
		}
		if a := c.activeAlarm(k); a != nil && r.AutoClear && a.RuleID != nil && *a.RuleID == r.ID {
			return c.clear(ctx, tx, a, o.Time)
		}
		return nil
	}
	if r.ForS > 0 {
		start, ok := c.pendingStart(d.ID, r.ID)
		if !ok {
			c.setPending(d.ID, r.ID, o.Time)
			return nil
		}
		if o.Time.Sub(start).Seconds() < r.ForS {
			return nil
		}
	}
	cur := d.Values[r.Metric]
	metric, value := r.Metric, cur.Value
	id := r.ID
	return c.raise(ctx, tx, d, r.AlarmType, r.Severity, r.Message, &metric, &value, &id, o.Time)
}
