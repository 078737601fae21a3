package twin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial"
	"github.com/citytwin/citytwin/twin/feed"
)

var (
	deviceIDRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	metricNameRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

// DeviceInput is the body of POST /api/v1/devices (one object, or an array).
type DeviceInput struct {
	ID        string            `json:"id"`
	Kind      string            `json:"kind"`
	Lon       *float64          `json:"lon"`
	Lat       *float64          `json:"lat"`
	Name      string            `json:"name"`
	Metrics   map[string]Metric `json:"metrics"`
	IntervalS *float64          `json:"interval_s"`
	Feature   *FeatureRef       `json:"feature"`
}

// DeviceView is a device as the API shows it: its live state, its metrics
// (kind defaults and its own), its interval, and its key right after creation.
type DeviceView struct {
	deviceData
	IntervalS float64           `json:"interval_s"`
	Metrics   map[string]Metric `json:"metrics"`
	Version   int64             `json:"version"`
	Key       string            `json:"key,omitempty"`
}

func (d *device) view() DeviceView {
	ms := map[string]Metric{}
	for k, m := range kinds[d.Kind].Metrics {
		ms[k] = m
	}
	for k, m := range d.Custom {
		ms[k] = m
	}
	return DeviceView{deviceData: d.data(), IntervalS: d.Interval.Seconds(), Metrics: ms, Version: d.Version}
}

func checkMetrics(where string, ms map[string]Metric) error {
	for name, m := range ms {
		if !metricNameRe.MatchString(name) {
			return errs.Invalid(where+".metrics", "metric name %q must be lower case letters, digits and _", name)
		}
		if math.IsNaN(m.Min) || math.IsNaN(m.Max) || m.Min > m.Max {
			return errs.Invalid(where+".metrics."+name, "min must not exceed max")
		}
	}
	return nil
}

func checkInterval(where string, s *float64) (time.Duration, error) {
	if s == nil {
		return 0, nil
	}
	if *s < 1 || *s > 7*86400 || *s != math.Trunc(*s) {
		return 0, errs.Invalid(where+".interval_s", "interval_s must be a whole number of seconds from 1 to 604800")
	}
	return time.Duration(*s) * time.Second, nil
}

// featurePoint returns the representative point of a stored feature.
func (s *Service) featurePoint(ctx context.Context, q pgx.Tx, where string, f *FeatureRef) (orb.Point, error) {
	l, err := s.Registry.Layer(f.Layer)
	if err != nil {
		return orb.Point{}, errs.Invalid(where+".feature.layer", "unknown layer %q", f.Layer)
	}
	cond, args := l.Where(2)
	var lon, lat float64
	err = q.QueryRow(ctx, `SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM `+l.TableIdent()+
		` WHERE id = $1 AND `+cond+`) q`, append([]any{f.ID}, args...)...).Scan(&lon, &lat)
	if errors.Is(err, pgx.ErrNoRows) {
		return orb.Point{}, errs.Invalid(where+".feature", "no feature %d in layer %q", f.ID, f.Layer)
	}
	if err != nil {
		return orb.Point{}, fmt.Errorf("feature point: %w", err)
	}
	return orb.Point{lon, lat}, nil
}

// CreateDevices registers devices, each with its own key, all or nothing.
// Returns EINVALID naming the record and field of bad input, ECONFLICT for
// an id already registered.
func (s *Service) CreateDevices(ctx context.Context, in []DeviceInput) ([]DeviceView, error) {
	if len(in) == 0 {
		return nil, errs.Invalid("body", "no devices given")
	}
	seen := map[string]bool{}
	devs := make([]*device, len(in))
	for i, d := range in {
		where := fmt.Sprintf("[%d]", i)
		if len(in) == 1 {
			where = "device"
		}
		if !deviceIDRe.MatchString(d.ID) {
			return nil, errs.Invalid(where+".id", "id %q must be 1-128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit", d.ID)
		}
		if seen[d.ID] {
			return nil, errs.Invalid(where+".id", "id %q appears twice", d.ID)
		}
		seen[d.ID] = true
		k, ok := kinds[d.Kind]
		if !ok {
			names := make([]string, 0, len(kinds))
			for n := range kinds {
				names = append(names, n)
			}
			sort.Strings(names)
			return nil, errs.Invalid(where+".kind", "unknown kind %q (one of %s)", d.Kind, strings.Join(names, ", "))
		}
		if (d.Lon == nil) != (d.Lat == nil) {
			return nil, errs.Invalid(where+".lon", "give both lon and lat")
		}
		if (d.Lon == nil) == (d.Feature == nil) {
			return nil, errs.Invalid(where, "give either lon and lat or a feature reference {\"layer\",\"id\"}")
		}
		if d.Lon != nil && (math.IsNaN(*d.Lon) || *d.Lon < -180 || *d.Lon > 180 || math.IsNaN(*d.Lat) || *d.Lat < -90 || *d.Lat > 90) {
			return nil, errs.Invalid(where+".lon", "lon must be in -180..180 and lat in -90..90 (EPSG:4326)")
		}
		if err := checkMetrics(where, d.Metrics); err != nil {
			return nil, err
		}
		iv, err := checkInterval(where, d.IntervalS)
		if err != nil {
			return nil, err
		}
		if iv == 0 {
			iv = k.Interval
		}
		dev := &device{ID: d.ID, Kind: d.Kind, Name: d.Name, Custom: d.Metrics, Interval: iv, Status: StatusUnknown,
			Version: 1, Values: map[string]Value{}, Feature: d.Feature, savedStatus: StatusUnknown}
		if d.Lon != nil {
			dev.Lon, dev.Lat = *d.Lon, *d.Lat
		}
		devs[i] = dev
	}
	out := make([]DeviceView, len(devs))
	var evs []feed.Event
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		evs = evs[:0]
		for i, d := range devs {
			where := fmt.Sprintf("[%d]", i)
			if len(devs) == 1 {
				where = "device"
			}
			if d.Feature != nil {
				p, err := s.featurePoint(ctx, tx, where, d.Feature)
				if err != nil {
					return err
				}
				d.Lon, d.Lat = p[0], p[1]
			}
			var fl any
			var fid any
			if d.Feature != nil {
				fl, fid = d.Feature.Layer, d.Feature.ID
			}
			custom, _ := json.Marshal(nonNil(d.Custom))
			var created time.Time
			err := tx.QueryRow(ctx, `INSERT INTO devices (id, kind, name, feature_layer, feature_id, metrics, interval_s, h3, version, geom)
				VALUES ($1, $2, nullif($3, ''), $4, $5, $6, $7, $8, 1, ST_SetSRID(ST_MakePoint($9, $10), 4326)) RETURNING created_at`,
				d.ID, d.Kind, d.Name, fl, fid, custom, int(d.Interval/time.Second),
				int64(spatial.PointCell(orb.Point{d.Lon, d.Lat}, spatial.PointRes)), d.Lon, d.Lat).Scan(&created)
			if err != nil {
				var pe *pgconn.PgError
				if errors.As(err, &pe) && pe.Code == "23505" {
					return &errs.Error{Code: errs.ECONFLICT, Where: where + ".id", Message: fmt.Sprintf("device %q already exists", d.ID)}
				}
				return fmt.Errorf("insert device: %w", err)
			}
			d.Created = created
			key, err := auth.CreateKey(ctx, tx, "device "+d.ID, auth.Device, d.ID)
			if err != nil {
				return err
			}
			out[i] = d.view()
			out[i].Key = key
			evs = append(evs, d.event())
		}
		return feed.AppendEvents(ctx, tx, evs)
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	for _, d := range devs {
		s.devices[d.ID] = d
	}
	s.mu.Unlock()
	s.publishEvents(ctx, evs)
	return out, nil
}

func nonNil(m map[string]Metric) map[string]Metric {
	if m == nil {
		return map[string]Metric{}
	}
	return m
}

// Device returns the device with id. Returns ENOTFOUND when unknown.
func (s *Service) Device(id string) (DeviceView, error) {
	d := s.lookup(id)
	if d == nil {
		return DeviceView{}, errs.NotFound("no device %q", id)
	}
	return d.view(), nil
}

// DeviceFilter selects devices to list.
type DeviceFilter struct {
	Kind    string
	Status  string
	Bbox    *orb.Bound
	Feature *FeatureRef
	Limit   int
}

// Devices lists devices by id.
func (s *Service) Devices(f DeviceFilter) []DeviceView {
	s.mu.RLock()
	var ds []*device
	for _, d := range s.devices {
		if f.Kind != "" && d.Kind != f.Kind {
			continue
		}
		if f.Status != "" && d.Status != f.Status {
			continue
		}
		if f.Bbox != nil && !f.Bbox.Contains(orb.Point{d.Lon, d.Lat}) {
			continue
		}
		if f.Feature != nil && (d.Feature == nil || *d.Feature != *f.Feature) {
			continue
		}
		ds = append(ds, d)
	}
	s.mu.RUnlock()
	sort.Slice(ds, func(i, j int) bool { return ds[i].ID < ds[j].ID })
	if f.Limit > 0 && len(ds) > f.Limit {
		ds = ds[:f.Limit]
	}
	out := make([]DeviceView, len(ds))
	for i, d := range ds {
		out[i] = d.view()
	}
	return out
}

// DevicePatch is the body of PATCH /api/v1/devices/{id}; absent fields stay.
type DevicePatch struct {
	Name      *string           `json:"name"`
	Lon       *float64          `json:"lon"`
	Lat       *float64          `json:"lat"`
	Metrics   map[string]Metric `json:"metrics"`
	IntervalS *float64          `json:"interval_s"`
	Feature   *FeatureRef       `json:"feature"`
}

// UpdateDevice changes a device. Returns ENOTFOUND, EINVALID.
func (s *Service) UpdateDevice(ctx context.Context, id string, p DevicePatch) (DeviceView, error) {
	if (p.Lon == nil) != (p.Lat == nil) {
		return DeviceView{}, errs.Invalid("lon", "give both lon and lat")
	}
	if p.Lon != nil && p.Feature != nil {
		return DeviceView{}, errs.Invalid("feature", "give either lon and lat or a feature, not both")
	}
	if p.Lon != nil && (math.IsNaN(*p.Lon) || *p.Lon < -180 || *p.Lon > 180 || math.IsNaN(*p.Lat) || *p.Lat < -90 || *p.Lat > 90) {
		return DeviceView{}, errs.Invalid("lon", "lon must be in -180..180 and lat in -90..90 (EPSG:4326)")
	}
	if err := checkMetrics("device", p.Metrics); err != nil {
		return DeviceView{}, err
	}
	iv, err := checkInterval("device", p.IntervalS)
	if err != nil {
		return DeviceView{}, err
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	old := s.lookup(id)
	if old == nil {
		return DeviceView{}, errs.NotFound("no device %q", id)
	}
	d := old.clone()
	d.Version++
	if p.Name != nil {
		d.Name = *p.Name
	}
	if p.Lon != nil {
		d.Lon, d.Lat, d.Feature = *p.Lon, *p.Lat, nil
	}
	if p.Metrics != nil {
		d.Custom = p.Metrics
	}
	if iv > 0 {
		d.Interval = iv
	}
	var ev feed.Event
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if p.Feature != nil {
			pt, err := s.featurePoint(ctx, tx, "device", p.Feature)
			if err != nil {
				return err
			}
			d.Lon, d.Lat, d.Feature = pt[0], pt[1], p.Feature
		}
		var fl, fid any
		if d.Feature != nil {
			fl, fid = d.Feature.Layer, d.Feature.ID
		}
		custom, _ := json.Marshal(nonNil(d.Custom))
		_, err := tx.Exec(ctx, `UPDATE devices SET name = nullif($2, ''), feature_layer = $3, feature_id = $4, metrics = $5,
			interval_s = $6, h3 = $7, version = $8, geom = ST_SetSRID(ST_MakePoint($9, $10), 4326), updated_at = now() WHERE id = $1`,
			id, d.Name, fl, fid, custom, int(d.Interval/time.Second), int64(spatial.PointCell(orb.Point{d.Lon, d.Lat}, spatial.PointRes)),
			d.Version, d.Lon, d.Lat)
		if err != nil {
			return fmt.Errorf("update device: %w", err)
		}
		ev = d.event()
		return feed.AppendEvents(ctx, tx, []feed.Event{ev})
	})
	if err != nil {
		return DeviceView{}, err
	}
	s.mu.Lock()
	s.devices[id] = d
	s.mu.Unlock()
	s.publishEvents(ctx, []feed.Event{ev})
	return d.view(), nil
}

// DeleteDevice removes a device, its key, state and alarms (its stored
// observations stay). In the same transaction it appends an event with null
// data for every entity of the live feed that goes away: the device's state
// entity and each of its open alarms (those the hub holds; the others are
// deleted by the cascade without an event), so that the hub drops them and
// its clients get the deletion. Returns ENOTFOUND.
func (s *Service) DeleteDevice(ctx context.Context, id string) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	var evs []feed.Event
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		evs = evs[:0]
		// Lock the row first: an alarm raised meanwhile (by another
		// instance) either committed before, and is read below, or waits
		// on the lock and then fails its foreign key.
		var version int64
		var lon, lat float64
		err := tx.QueryRow(ctx, `SELECT version, coalesce(ST_X(geom), 0), coalesce(ST_Y(geom), 0) FROM devices WHERE id = $1 FOR UPDATE`,
			id).Scan(&version, &lon, &lat)
		if errors.Is(err, pgx.ErrNoRows) {
			return errs.NotFound("no device %q", id)
		}
		if err != nil {
			return fmt.Errorf("delete device: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT id, version, coalesce(ST_X(geom), $2), coalesce(ST_Y(geom), $3) FROM alarms
			WHERE device_id = $1 AND (active OR NOT acknowledged) ORDER BY id FOR UPDATE`, id, lon, lat)
		if err != nil {
			return fmt.Errorf("delete device: alarms: %w", err)
		}
		var alarmEvs []feed.Event
		for rows.Next() {
			var aid, av int64
			var alon, alat float64
			if err := rows.Scan(&aid, &av, &alon, &alat); err != nil {
				rows.Close()
				return fmt.Errorf("delete device: alarms: %w", err)
			}
			alarmEvs = append(alarmEvs, feed.Event{Stream: feed.StreamEvent, Kind: "alarm", Entity: fmt.Sprintf("alarm:%d", aid),
				Layer: "alarms", Cell: spatial.PointCell(orb.Point{alon, alat}, spatial.CoverRes), Version: av + 1, Data: deletedData})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("delete device: alarms: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM devices WHERE id = $1`, id); err != nil {
			return fmt.Errorf("delete device: %w", err)
		}
		// The device's state: its row is rewritten only now and then, so
		// the version in memory may be ahead of it.
		cell := spatial.PointCell(orb.Point{lon, lat}, spatial.CoverRes)
		if d := s.lookup(id); d != nil {
			version = max(version, d.Version)
			cell = d.cell()
		}
		evs = append(evs, feed.Event{Stream: feed.StreamState, Kind: "device", Entity: "device:" + id, Layer: "devices",
			Cell: cell, Version: version + 1, Data: deletedData})
		evs = append(evs, alarmEvs...)
		return feed.AppendEvents(ctx, tx, evs)
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.devices, id)
	for k := range s.active {
		if k.device == id {
			delete(s.active, k)
		}
	}
	s.mu.Unlock()
	delete(s.since, id)
	s.publishEvents(ctx, evs)
	return nil
}

// deletedData is the Data of the event of an entity that is gone: the hub
// drops it from its state and sends a delta or event with data null.
var deletedData = json.RawMessage("null")

// ParseBbox parses "minlon,minlat,maxlon,maxlat".
func ParseBbox(v string) (*orb.Bound, error) {
	if v == "" {
		return nil, nil
	}
	parts := strings.Split(v, ",")
	if len(parts) != 4 {
		return nil, errs.Invalid("bbox", "bbox must be minlon,minlat,maxlon,maxlat")
	}
	var f [4]float64
	for i, p := range parts {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, errs.Invalid("bbox", "bbox value %d (%q) is not a number", i+1, p)
		}
		f[i] = x
	}
	if f[0] > f[2] || f[1] > f[3] {
		return nil, errs.Invalid("bbox", "bbox min must not exceed max")
	}
	return &orb.Bound{Min: orb.Point{f[0], f[1]}, Max: orb.Point{f[2], f[3]}}, nil
}
