package network_test

import (
	"context"
	"math/rand"
	"syscall"
	"testing"
	"time"

	"github.com/citytwin/citytwin/internal/dbtest"
	"github.com/citytwin/citytwin/spatial/network"
)

// gridSide² nodes and 2·side·(side−1) ≈ 100,000 pipes, a line valve on every
// pipe at its from end, a reservoir in one corner.
const gridSide = 224

// BenchmarkIsolation100k times an isolation trace on a generated
// 100,000-pipe water network (goal: under 50 ms), with the graph in memory;
// graph-load-s is the time to load the graph from PostGIS.
func BenchmarkIsolation100k(b *testing.B) {
	pool := dbtest.MustOpenPool(b)
	ctx := context.Background()
	for _, sql := range []string{
		`INSERT INTO network_nodes (source, source_id, network, kind, geom)
		 SELECT 'bench', i || ':' || j, 'water', CASE WHEN i = 0 AND j = 0 THEN 'reservoir' ELSE 'junction' END,
		   ST_SetSRID(ST_MakePoint(116 + i * 0.0005::float8, 37 + j * 0.0005::float8), 4326)
		 FROM generate_series(0, $1::int - 1) i, generate_series(0, $1::int - 1) j`,
		`INSERT INTO pipes (source, source_id, network, kind, from_node, to_node, from_node_id, to_node_id, geom)
		 SELECT 'bench', 'h' || i || ':' || j, 'water', 'main', a.source_id, c.source_id, a.id, c.id, ST_MakeLine(a.geom, c.geom)
		 FROM generate_series(0, $1::int - 2) i CROSS JOIN generate_series(0, $1::int - 1) j
		 JOIN network_nodes a ON a.source = 'bench' AND a.source_id = i || ':' || j
		 JOIN network_nodes c ON c.source = 'bench' AND c.source_id = (i + 1) || ':' || j`,
		`INSERT INTO pipes (source, source_id, network, kind, from_node, to_node, from_node_id, to_node_id, geom)
		 SELECT 'bench', 'v' || i || ':' || j, 'water', 'main', a.source_id, c.source_id, a.id, c.id, ST_MakeLine(a.geom, c.geom)
		 FROM generate_series(0, $1::int - 1) i CROSS JOIN generate_series(0, $1::int - 2) j
		 JOIN network_nodes a ON a.source = 'bench' AND a.source_id = i || ':' || j
		 JOIN network_nodes c ON c.source = 'bench' AND c.source_id = i || ':' || (j + 1)`,
		`INSERT INTO network_nodes (source, source_id, network, kind, valve_state, on_pipe, near_node, geom)
		 SELECT 'bench', 'valve-' || p.source_id, 'water', 'valve', 'open', p.source_id, p.from_node, ST_LineInterpolatePoint(p.geom, 0.1)
		 FROM pipes p WHERE p.source = 'bench' AND $1::int > 0`,
	} {
		if _, err := pool.Exec(ctx, sql, gridSide); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	g, err := network.Load(ctx, pool, "water")
	if err != nil {
		b.Fatal(err)
	}
	loaded := time.Since(start)
	b.Logf("loaded %d nodes, %d pipes in %v", len(g.Nodes), len(g.Pipes), loaded)
	if len(g.Pipes) < 99_000 {
		b.Fatalf("only %d pipes", len(g.Pipes))
	}
	r := rand.New(rand.NewSource(1))
	if _, err := g.Isolate(g.Pipes[0].ID); err != nil { // warm the baseline
		b.Fatal(err)
	}
	b.Run("isolate", func(b *testing.B) {
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for i := 0; i < b.N; i++ {
			iso, err := g.Isolate(g.Pipes[r.Intn(len(g.Pipes))].ID)
			if err != nil || len(iso.Valves) == 0 || !iso.Isolable {
				b.Fatalf("isolation: %v: %d valves, isolable %v, segment of %d pipes", err, len(iso.Valves), iso.Isolable, len(iso.SegmentPipes))
			}
		}
		b.ReportMetric(loaded.Seconds(), "graph-load-s")
	})
	b.Run("trace-downstream", func(b *testing.B) {
		defer cpuPerOp(b)()
		for i := 0; i < b.N; i++ {
			if _, err := g.Trace(g.Nodes[0].ID, 0, network.Downstream); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// cpuPerOp reports the process CPU time per operation, a fairer figure than
// wall time on a machine shared with other work.
func cpuPerOp(b *testing.B) func() {
	var r0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	return func() {
		var r1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
		cpu := time.Duration(r1.Utime.Nano()-r0.Utime.Nano()) + time.Duration(r1.Stime.Nano()-r0.Stime.Nano())
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	}
}
