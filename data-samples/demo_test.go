package samples_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	samples "github.com/citytwin/citytwin/data-samples"
	"github.com/citytwin/citytwin/data-samples/dezhou"
	"github.com/citytwin/citytwin/internal/app"
	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/dbtest"
)

// syncBuffer is a bytes.Buffer safe for the demo's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var demoLine = regexp.MustCompile(`citytwin demo: http://localhost(:\d+)  \(.*admin key for writes: (\S+)\)`)

// demo runs `citytwin demo ARGS` on a fresh database until the test ends
// and returns its base URL, admin key, data dir and database.
func runDemo(t *testing.T, args ...string) (base, key, dataDir string, pool *pgxpool.Pool) {
	t.Helper()
	dbURL := dbtest.NewDatabase(t)
	dataDir = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	all := append([]string{"demo", "--addr", "127.0.0.1:0", "--mqtt-addr", "127.0.0.1:0", "--data-dir", dataDir, "--database-url", dbURL, "--log-level", "warn"}, args...)
	go func() { done <- app.Main(ctx, all, &stdout, &stderr) }()
	t.Cleanup(func() {
		cancel()
		t0 := time.Now()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("demo: %v", err)
		}
		t.Logf("demo stopped in %v", time.Since(t0))
	})
	deadline := time.Now().Add(150 * time.Second)
	for {
		if m := demoLine.FindStringSubmatch(stdout.String()); m != nil {
			base, key = "http://127.0.0.1"+m[1], m[2]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("demo exited: %v\n%s", err, stderr.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo did not start\n%s", stderr.String())
		}
	}
	return base, key, dataDir, dbtest.MustOpenPoolURL(t, dbURL)
}

func count(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestDemoSmallDistrict runs the demo on the small district: everything
// generated is in PostGIS (through the importers), the networks' graph is
// resolved, the devices are registered, the simulator's telemetry arrives
// over MQTT, and a street light answers a switch command.
func TestDemoSmallDistrict(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	base, key, dataDir, pool := runDemo(t, "--scale", "small", "--seed", "3")
	t.Logf("demo serving after %v", time.Since(t0))
	m, err := dezhou.ReadManifest(filepath.Join(dataDir, "samples", "dezhou-small-3"))
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM buildings WHERE source = $1`, dezhou.Source); n == 0 {
		t.Fatal("no buildings when the demo starts serving")
	}
	// the networks, poles and devices follow in the background
	deadline := time.Now().Add(90 * time.Second)
	for count(t, pool, `SELECT count(*) FROM devices`) < m.DeviceCount {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d devices registered after 90 s", count(t, pool, `SELECT count(*) FROM devices`), m.DeviceCount)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, l := range m.Layers {
		table := l.Layer
		if n := count(t, pool, `SELECT count(*) FROM `+table+` WHERE source = $1`, dezhou.Source); n != l.Count {
			t.Errorf("%s: %d rows, generated %d", l.Layer, n, l.Count)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM pipes WHERE source = $1 AND (from_node_id IS NULL OR to_node_id IS NULL)`, dezhou.Source); n != 0 {
		t.Errorf("%d pipes with an unresolved end node", n)
	}
	// every building has a service connection in the database too
	if n := count(t, pool, `SELECT count(*) FROM buildings b WHERE b.source = $1 AND NOT EXISTS (
		SELECT 1 FROM pipes p JOIN network_nodes c ON c.id = p.to_node_id
		WHERE p.kind = 'service' AND c.kind = 'connection' AND c.source_id = 'W-C' || b.source_id)`, dezhou.Source); n != 0 {
		t.Errorf("%d buildings without a service connection", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM feature_cells WHERE layer = 'buildings'`); n == 0 {
		t.Error("no H3 cells for the buildings")
	}
	if n := count(t, pool, `SELECT count(*) FROM devices`); n != m.DeviceCount {
		t.Errorf("%d devices registered, generated %d", n, m.DeviceCount)
	}
	if n := count(t, pool, `SELECT count(*) FROM devices WHERE kind = 'lamp' AND feature_layer = 'smart_poles' AND feature_id IS NOT NULL`); n == 0 {
		t.Error("no lamp bound to its pole")
	}
	// telemetry from the simulator (first reports within 20 s)
	deadline = time.Now().Add(60 * time.Second)
	for count(t, pool, `SELECT count(DISTINCT device_id) FROM device_state`) < m.DeviceCount*9/10 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d devices reported", count(t, pool, `SELECT count(DISTINCT device_id) FROM device_state`), m.DeviceCount)
		}
		time.Sleep(time.Second)
	}
	t.Logf("devices reporting after %v", time.Since(t0))
	// the web app's light switch: a command answered by the simulator
	var lamp string
	if err := pool.QueryRow(context.Background(), `SELECT id FROM devices WHERE kind = 'lamp' ORDER BY id LIMIT 1`).Scan(&lamp); err != nil {
		t.Fatal(err)
	}
	for _, on := range []bool{true, false} {
		req, _ := http.NewRequest("POST", base+"/api/v1/devices/"+lamp+"/commands?timeout=10s", strings.NewReader(fmt.Sprintf(`{"command":"switch","args":{"on":%v}}`, on)))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 200 || body["status"] != "ok" {
			t.Fatalf("switch on=%v: %d %v", on, resp.StatusCode, body)
		}
		want := 0.0
		if on {
			want = 1
		}
		var v float64
		if err := pool.QueryRow(context.Background(), `SELECT value FROM device_state WHERE device_id = $1 AND metric = 'on'`, lamp).Scan(&v); err != nil || v != want {
			t.Fatalf("lamp state on = %v (%v), want %v", v, err, want)
		}
	}
}

func sharedData(t *testing.T, rel string) string {
	t.Helper()
	root, err := dbtest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "..", "shared", "data", rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test data %s: %v", rel, err)
	}
	return p
}

// TestDemoOSMMonaco builds the twin on the Monaco extract.
func TestDemoOSMMonaco(t *testing.T) {
	t.Parallel()
	_, _, dataDir, pool := runDemo(t, "--osm", sharedData(t, "osm/monaco-latest.osm.pbf"), "--simulate=false")
	src := samples.OSMSource("monaco-latest.osm.pbf")
	if n := count(t, pool, `SELECT count(*) FROM buildings WHERE source = $1`, src); n != 1207 {
		t.Errorf("%d buildings, want the extract's 1,207", n)
	}
	checkOSMTwin(t, pool, src, dataDir)
}

// TestDemoOSMPaulmach builds the twin on the Andorra extract that ships
// with the github.com/paulmach/osm module.
func TestDemoOSMPaulmach(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/paulmach/osm").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	file := filepath.Join(strings.TrimSpace(string(out)), "testdata", "andorra-latest.osm.bz2")
	_, _, dataDir, pool := runDemo(t, "--osm", file, "--simulate=false")
	src := samples.OSMSource(file)
	if n := count(t, pool, `SELECT count(*) FROM buildings WHERE source = $1`, src); n < 1000 {
		t.Errorf("%d buildings", n)
	}
	checkOSMTwin(t, pool, src, dataDir)
}

func checkOSMTwin(t *testing.T, pool *pgxpool.Pool, src, dataDir string) {
	t.Helper()
	tw := src + "-twin"
	m, err := dezhou.ReadManifest(filepath.Join(dataDir, "samples", tw))
	if err != nil {
		t.Fatal(err)
	}
	// the devices are registered in the background once the demo serves
	deadline := time.Now().Add(90 * time.Second)
	for count(t, pool, `SELECT count(*) FROM devices`) < m.DeviceCount {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d devices registered after 90 s", count(t, pool, `SELECT count(*) FROM devices`), m.DeviceCount)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if n := count(t, pool, `SELECT count(*) FROM pipes WHERE source = $1 AND network = 'water'`, tw); n < 100 {
		t.Errorf("%d water pipes along the streets", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM pipes WHERE source = $1 AND (from_node_id IS NULL OR to_node_id IS NULL)`, tw); n != 0 {
		t.Errorf("%d pipes with unresolved ends", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM network_nodes WHERE source = $1 AND network = 'water' AND kind = 'source'`, tw); n != 1 {
		t.Errorf("%d treatment plants", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM pipes WHERE source = $1 AND kind = 'service'`, tw); n < count(t, pool, `SELECT count(*) FROM buildings WHERE source = $1`, src)/2 {
		t.Errorf("only %d service connections", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM smart_poles WHERE source = $1`, tw); n < 100 {
		t.Errorf("%d poles", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM devices WHERE kind = 'lamp'`); n < 100 {
		t.Errorf("%d lamp controllers", n)
	}
	// the networks of the Dezhou district, along the extract's streets
	for _, nk := range [][2]string{{"gas", "main"}, {"heat", "supply"}, {"heat", "return"}, {"drainage", "pipe"}, {"power", "cable"}, {"telecom", "cable"}} {
		if n := count(t, pool, `SELECT count(*) FROM pipes WHERE source = $1 AND network = $2 AND kind = $3`, tw, nk[0], nk[1]); n == 0 {
			t.Errorf("no %s %s pipes", nk[0], nk[1])
		}
	}
	if n := count(t, pool, `SELECT count(DISTINCT network) FROM pipes WHERE source = $1 AND tunnel IS NOT NULL AND tunnel <> ''`, tw); n < 4 || count(t, pool, `SELECT count(*) FROM pipes WHERE source = $1 AND network = 'power'`, tw) < 2 {
		t.Errorf("the utility tunnel carries %d networks", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM pipes WHERE source = $1 AND network = 'drainage' AND NOT (from_invert_m > to_invert_m)`, tw); n != 0 {
		t.Errorf("%d drainage pipes do not fall", n)
	}
	for _, kind := range []string{"gas_leak", "tunnel_water", "tunnel_gas", "tunnel_temp", "pressure", "energy_meter"} {
		if n := count(t, pool, `SELECT count(*) FROM devices WHERE kind = $1`, kind); n == 0 {
			t.Errorf("no %s devices", kind)
		}
	}
	checkNetworks(t, pool, tw)
	rows, err := pool.Query(context.Background(), `SELECT network || '/' || kind, count(*) FROM pipes WHERE source = $1 GROUP BY 1 ORDER BY 1`, tw)
	if err != nil {
		t.Fatal(err)
	}
	var per []string
	for rows.Next() {
		var k string
		var n int64
		rows.Scan(&k, &n)
		per = append(per, fmt.Sprintf("%s %d", k, n))
	}
	rows.Close()
	t.Logf("pipes along the streets: %s; %d outfalls", strings.Join(per, ", "),
		count(t, pool, `SELECT count(*) FROM network_nodes WHERE source = $1 AND kind = 'outfall'`, tw))
	// valves sit on their pipes, next to the node they name
	if n := count(t, pool, `SELECT count(*) FROM network_nodes v JOIN pipes p ON p.source = v.source AND p.source_id = v.on_pipe
		WHERE v.source = $1 AND v.kind = 'valve' AND ST_DWithin(v.geom::geography, p.geom::geography, 0.5)`, tw); n == 0 ||
		n != count(t, pool, `SELECT count(*) FROM network_nodes WHERE source = $1 AND kind = 'valve'`, tw) {
		t.Errorf("%d valves on their pipes", n)
	}
}

// checkNetworks checks, in the database, that every water, gas and heat
// node is connected to a source (or tank) and that every drainage node
// drains to an outfall.
func checkNetworks(t *testing.T, pool *pgxpool.Pool, source string) {
	t.Helper()
	ctx := context.Background()
	for _, network := range []string{"water", "gas", "heat", "drainage"} {
		kinds := map[int64]string{}
		rows, err := pool.Query(ctx, `SELECT id, kind FROM network_nodes WHERE source = $1 AND network = $2 AND kind <> 'valve'`, source, network)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			var k string
			rows.Scan(&id, &k)
			kinds[id] = k
		}
		rows.Close()
		adj, down := map[int64][]int64{}, map[int64][]int64{}
		rows, err = pool.Query(ctx, `SELECT from_node_id, to_node_id FROM pipes WHERE source = $1 AND network = $2`, source, network)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var a, b int64
			rows.Scan(&a, &b)
			adj[a], adj[b] = append(adj[a], b), append(adj[b], a)
			down[a] = append(down[a], b)
		}
		rows.Close()
		if len(kinds) == 0 {
			t.Errorf("no %s nodes", network)
			continue
		}
		if network == "drainage" {
			for id := range kinds {
				cur := id
				for steps := 0; kinds[cur] != "outfall"; steps++ {
					if len(down[cur]) == 0 || steps > len(kinds) {
						t.Fatalf("drainage node %d does not reach an outfall", id)
					}
					cur = down[cur][0]
				}
			}
			continue
		}
		seen := map[int64]bool{}
		var queue []int64
		for id, k := range kinds {
			if k == "source" || k == "tank" {
				seen[id] = true
				queue = append(queue, id)
			}
		}
		for len(queue) > 0 {
			v := queue[0]
			queue = queue[1:]
			for _, o := range adj[v] {
				if !seen[o] {
					seen[o] = true
					queue = append(queue, o)
				}
			}
		}
		for id, k := range kinds {
			if !seen[id] {
				t.Fatalf("%s node %d (%s) is not connected to a source", network, id, k)
			}
		}
	}
}

var _ = apptest.Config
