package twin

import (
	"context"
	"fmt"
	"time"

	"github.com/citytwin/citytwin/internal/errs"
)

// Point is one time bucket of a metric's history.
type Point struct {
	Time  time.Time `json:"time"`
	Min   float64   `json:"min"`
	Mean  float64   `json:"mean"`
	Max   float64   `json:"max"`
	Count int64     `json:"count"`
}

// History is a device's downsampled observations per metric.
type History struct {
	Device  string             `json:"device"`
	From    time.Time          `json:"from"`
	To      time.Time          `json:"to"`
	Bucket  float64            `json:"bucket_s"`
	Metrics map[string][]Point `json:"metrics"`
}

// MaxPoints bounds the points per metric of a history request.
const MaxPoints = 10000

// History returns at most points buckets per metric of device id's
// observations in [from, to), each with min, mean and max. An empty metric
// means all metrics. The query reads the primary key (device, metric, time)
// of only the partitions in range.
func (s *Service) History(ctx context.Context, id, metric string, from, to time.Time, points int) (History, error) {
	d := s.lookup(id)
	if d == nil {
		return History{}, errs.NotFound("no device %q", id)
	}
	if !to.After(from) {
		return History{}, errs.Invalid("from", "from must be before to")
	}
	if points < 1 || points > MaxPoints {
		return History{}, errs.Invalid("points", "points must be 1 to %d", MaxPoints)
	}
	var metrics []string
	if metric != "" {
		if _, ok := d.metric(metric); !ok {
			return History{}, errs.Invalid("metric", "device %q has no metric %q", id, metric)
		}
		metrics = []string{metric}
	} else {
		for m := range d.view().Metrics {
			metrics = append(metrics, m)
		}
	}
	bucket := to.Sub(from).Seconds() / float64(points)
	// A range scan of (series, time) per metric.
	rows, err := s.Pool.Query(ctx, `SELECT s.metric, least(floor(extract(epoch FROM p.time - $3) / $5)::int, $6 - 1) AS b,
			min(p.value), avg(p.value), max(p.value), count(*)
		FROM observation_series s JOIN observation_points p ON p.series = s.id
		WHERE s.device_id = $1 AND s.metric = ANY($2) AND p.time >= $3 AND p.time < $4
		GROUP BY s.metric, b ORDER BY s.metric, b`, id, metrics, from, to, bucket, points)
	if err != nil {
		return History{}, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	h := History{Device: id, From: from.UTC(), To: to.UTC(), Bucket: bucket, Metrics: map[string][]Point{}}
	for _, m := range metrics {
		h.Metrics[m] = []Point{}
	}
	for rows.Next() {
		var m string
		var b int
		var p Point
		if err := rows.Scan(&m, &b, &p.Min, &p.Mean, &p.Max, &p.Count); err != nil {
			return History{}, fmt.Errorf("history: %w", err)
		}
		p.Time = from.Add(time.Duration(float64(b) * bucket * float64(time.Second))).UTC()
		h.Metrics[m] = append(h.Metrics[m], p)
	}
	if err := rows.Err(); err != nil {
		return History{}, fmt.Errorf("history: %w", err)
	}
	return h, nil
}
