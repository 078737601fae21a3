package twin_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/config"
	"github.com/citytwin/citytwin/internal/dbtest"
)

// benchDevices registers n env devices through the service and returns the
// server and an operator key.
func benchServer(b *testing.B, n int) (*server, []string) {
	b.Helper()
	b.Setenv("CITYTWIN_DEVICE_BURST", "1000000000")
	b.Setenv("CITYTWIN_DEVICE_RATE", "1000000000")
	a := apptest.MustRun(b, func(c *config.Config) {
		if v := os.Getenv("CITYTWIN_BENCH_LOG_LEVEL"); v != "" {
			c.LogLevel = v
		}
	})
	s := &server{App: a, admin: apptest.Key(b, a, auth.Admin), operator: apptest.Key(b, a, auth.Operator)}
	var body []string
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("env-%05d", i)
		body = append(body, fmt.Sprintf(`{"id":%q,"kind":"env","lon":116.3,"lat":37.45}`, ids[i]))
	}
	resp, out := apptest.DoJSON(b, "POST", s.URL()+"/api/v1/devices", s.admin, "["+strings.Join(body, ",")+"]")
	if resp.StatusCode != 201 {
		b.Fatalf("devices: %d %.300s", resp.StatusCode, out)
	}
	return s, ids
}

// cpuMeter measures the CPU time this process and the database's backends
// (of this test's database) use, which a shared, loaded machine disturbs far
// less than the wall-clock rate: the figures to compare between versions.
type cpuMeter struct {
	pool     *pgxpool.Pool
	self, pg float64
	selfPID  int
	pids     map[int]float64
}

// procCPU returns the user and system CPU seconds of process pid.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100 // USER_HZ
}

func startCPU(b *testing.B, pool *pgxpool.Pool) *cpuMeter {
	m := &cpuMeter{pool: pool, selfPID: os.Getpid(), pids: map[int]float64{}}
	m.self = procCPU(m.selfPID)
	for _, pid := range m.backends(b) {
		m.pids[pid] = procCPU(pid)
	}
	return m
}

func (m *cpuMeter) backends(b *testing.B) []int {
	rows, err := m.pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		b.Fatal(err)
	}
	return pids
}

// report adds the CPU µs per observation of the process and the database.
func (m *cpuMeter) report(b *testing.B, obs int64) {
	if obs <= 0 {
		return
	}
	self := procCPU(m.selfPID) - m.self
	var pg float64
	for _, pid := range m.backends(b) {
		pg += procCPU(pid) - m.pids[pid] // 0 for backends started during the run
	}
	b.ReportMetric(self*1e6/float64(obs), "proc-cpu-µs/obs")
	b.ReportMetric(pg*1e6/float64(obs), "pg-cpu-µs/obs")
}

// BenchmarkIngestHTTP posts batches of 1,000 observations (100 devices × 10
// readings) from 4 concurrent gateways; reports observations/s.
func BenchmarkIngestHTTP(b *testing.B) {
	s, ids := benchServer(b, 100)
	var seq atomic.Int64
	base := time.Now().UTC().Add(-24 * time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b, s.Pool)
	start := time.Now()
	b.SetParallelism(4)
	var total atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := seq.Add(1)
			var sb strings.Builder
			sb.WriteByte('[')
			for i := 0; i < 1000; i++ {
				if i > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, `{"device":%q,"time":%q,"metric":"pm25","value":%d}`, ids[i%len(ids)], rfc(base.Add(time.Duration(k*10+int64(i/len(ids)))*time.Millisecond)), i%70)
			}
			sb.WriteByte(']')
			code, err := httpPost(s.URL()+"/api/v1/observations", s.operator, sb.String())
			if err != nil || code != 200 {
				b.Errorf("ingest: %d %v", code, err)
				return
			}
			total.Add(1000)
		}
	})
	b.ReportMetric(float64(total.Load())/time.Since(start).Seconds(), "obs/s")
	cpu.report(b, total.Load())
}

// BenchmarkIngestMQTT publishes QoS 1 telemetry (4 values a message) from 50
// device connections at once, up to 32 messages in flight each; a message
// counts when its PUBACK (sent after the commit) arrives. Reports
// observations/s.
func BenchmarkIngestMQTT(b *testing.B) {
	const conns = 50
	s, ids := benchServer(b, conns)
	keys := map[string]string{}
	var list []struct{ ID, Key string }
	// Device keys are shown once: make new ones for the benchmark.
	for _, id := range ids[:conns] {
		err := pgx.BeginFunc(context.Background(), s.Pool, func(tx pgx.Tx) error {
			k, err := auth.CreateKey(context.Background(), tx, "bench "+id, auth.Device, id)
			keys[id] = k
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		list = append(list, struct{ ID, Key string }{id, keys[id]})
	}
	clients := make([]paho.Client, conns)
	for i, d := range list {
		c, err := mqttClient(&testing.T{}, s.Twin.MQTTAddr(), d.ID, d.Key)
		if err != nil {
			b.Fatal(err)
		}
		clients[i] = c
	}
	b.Cleanup(func() {
		for _, c := range clients {
			c.Disconnect(0)
		}
	})
	base := time.Now().UTC().Add(-24 * time.Hour)
	var next atomic.Int64
	var sent atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b, s.Pool)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Up to 32 messages in flight per connection, as a gateway does.
			var window []paho.Token
			flush := func(keep int) bool {
				for len(window) > keep {
					tok := window[0]
					window = window[1:]
					if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
						b.Errorf("publish: %v", tok.Error())
						return false
					}
					sent.Add(4)
				}
				return true
			}
			for {
				k := next.Add(1)
				if k > int64(b.N) {
					flush(0)
					return
				}
				p := fmt.Sprintf(`{"time":%q,"values":{"pm25":%d,"pm10":%d,"no2":1,"o3":2}}`, rfc(base.Add(time.Duration(k)*time.Millisecond)), k%70, k%700)
				window = append(window, clients[i].Publish("citytwin/devices/"+list[i].ID+"/telemetry", 1, false, p))
				if !flush(31) {
					return
				}
			}
		}(i)
	}
	wg.Wait()
	b.ReportMetric(float64(sent.Load())/time.Since(start).Seconds(), "obs/s")
	cpu.report(b, sent.Load())
}

// BenchmarkCopyReference is the reference: the same rows written by plain
// pgx CopyFrom into observation_points (no checks, state, rules or events;
// the series numbered beforehand, as the server caches them).
func BenchmarkCopyReference(b *testing.B) {
	pool := dbtest.MustOpenPool(b)
	base := time.Now().UTC().Add(-24 * time.Hour)
	// The series numbers, as the server reads them once.
	series := make([]int32, 100)
	for i := range series {
		if err := pool.QueryRow(context.Background(), `INSERT INTO observation_series (device_id, metric) VALUES ($1, 'pm25')
			ON CONFLICT (device_id, metric) DO UPDATE SET metric = EXCLUDED.metric RETURNING id`, fmt.Sprintf("env-%05d", i)).Scan(&series[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b, pool)
	start := time.Now()
	rows := 0
	for k := 0; k < b.N; k++ {
		batch := make([][]any, 1000)
		for i := range batch {
			batch[i] = []any{series[i%100], base.Add(time.Duration(k*10+i/100) * time.Millisecond), float64(i)}
		}
		if _, err := pool.CopyFrom(context.Background(), pgx.Identifier{"observation_points"}, []string{"series", "time", "value"}, pgx.CopyFromRows(batch)); err != nil {
			b.Fatal(err)
		}
		rows += len(batch)
	}
	b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "obs/s")
	cpu.report(b, int64(rows))
}
