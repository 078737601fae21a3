package query_test

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"testing"

	h3 "github.com/uber/h3-go/v4"

	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/config"
	"github.com/citytwin/citytwin/spatial"
	"github.com/citytwin/citytwin/spatial/query"
)

// BenchmarkNearestPoles compares GET /api/v1/layers/smart_poles/nearest?k=10
// over 20,000 poles with the bare kNN SQL through pgx; and
// BenchmarkAggregateDistrict compares GET /api/v1/h3/aggregate over a
// district of 40,000 buildings (res 9, sum of floors) with its bare SQL.
func BenchmarkNearestPoles(b *testing.B) {
	a := apptest.MustRun(b, func(c *config.Config) { c.PublicReads = true; c.LogLevel = "error" })
	ctx := context.Background()
	if _, err := a.Pool.Exec(ctx, `INSERT INTO smart_poles (source, source_id, name, geom)
		SELECT 'bench', i::text, 'P' || i, ST_SetSRID(ST_MakePoint(116.2 + random() * 0.2, 37.3 + random() * 0.2), 4326) FROM generate_series(1, 20000) i;
		ANALYZE smart_poles`); err != nil {
		b.Fatal(err)
	}
	l, _ := a.Registry.Layer("smart_poles")
	r := rand.New(rand.NewSource(1))
	pt := func() (float64, float64) { return 116.2 + r.Float64()*0.2, 37.3 + r.Float64()*0.2 }
	b.Run("citytwin", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			x, y := pt()
			resp, err := http.Get(fmt.Sprintf("%s/api/v1/layers/smart_poles/nearest?lon=%f&lat=%f&k=10", a.URL(), x, y))
			if err != nil || resp.StatusCode != 200 {
				b.Fatal(err, resp.StatusCode)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.Run("sql", func(b *testing.B) {
		sql := query.NearestSQL(l)
		for i := 0; i < b.N; i++ {
			x, y := pt()
			rows, err := a.Pool.Query(ctx, sql, x, y, 10)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
				_ = rows.RawValues()
			}
			rows.Close()
		}
	})
}

func BenchmarkAggregateDistrict(b *testing.B) {
	a := apptest.MustRun(b, func(c *config.Config) { c.PublicReads = true; c.LogLevel = "error" })
	ctx := context.Background()
	const n = 200
	var xs, ys []float64
	var cells []int64
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			x, y := 116.2+float64(i)*0.0005, 37.3+float64(j)*0.0005
			xs, ys = append(xs, x), append(ys, y)
			cells = append(cells, int64(h3.LatLngToCell(h3.LatLng{Lat: y + 0.00009, Lng: x + 0.0001}, spatial.PointRes)))
		}
	}
	if _, err := a.Pool.Exec(ctx, `INSERT INTO buildings (source, source_id, floors, h3, geom)
		SELECT 'bench', k::text, 1 + k % 20, c, ST_Multi(ST_MakeEnvelope(x, y, x + 0.0002, y + 0.00018, 4326))
		FROM unnest($1::float8[], $2::float8[], $3::bigint[]) WITH ORDINALITY AS u(x, y, c, k)`, xs, ys, cells); err != nil {
		b.Fatal(err)
	}
	a.Pool.Exec(ctx, `ANALYZE buildings`)
	bbox := "116.2,37.3,116.3,37.4"
	b.Run("citytwin", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			resp, err := http.Get(a.URL() + "/api/v1/h3/aggregate?layer=buildings&res=9&op=sum&attr=floors&bbox=" + bbox)
			if err != nil || resp.StatusCode != 200 {
				b.Fatal(err, resp.StatusCode)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.Run("sql", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			rows, err := a.Pool.Query(ctx, `SELECT ct_h3_parent(h3, 9), count(*), sum(floors::float8), avg(floors::float8) FROM buildings
				WHERE geom && ST_MakeEnvelope(116.2, 37.3, 116.3, 37.4, 4326) AND h3 IS NOT NULL GROUP BY 1 ORDER BY 1`)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
				_ = rows.RawValues()
			}
			rows.Close()
		}
	})
}
