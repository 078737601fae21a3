package samples_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	samples "github.com/citytwin/citytwin/data-samples"
	"github.com/citytwin/citytwin/data-samples/dezhou"
	"github.com/citytwin/citytwin/data-samples/simulate"
	"github.com/citytwin/citytwin/internal/app"
	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/auth"
)

// TestSimulatedMainBreak loads the small district into a running citytwin,
// replays a few minutes with a water main break on a given pipe, on the
// --faults schedule, over MQTT with `citytwin simulate` (whose control API
// takes a fault on demand meanwhile) and checks the low-pressure alarm: it must be raised within the
// built-in rule's window (below 0.15 MPa for 60 s) of the first low
// reading. Then every kind's readings must be accepted by the ingest (HTTP,
// as a load generator).
func TestSimulatedMainBreak(t *testing.T) {
	t.Parallel()
	a := apptest.MustRun(t)
	ctx := context.Background()
	env := samples.Env{Pool: a.Pool, Store: a.Store, Registry: a.Registry, Twin: a.Twin, Logger: slog.New(slog.DiscardHandler)}
	devs, rest, err := samples.SetupDezhou(ctx, env, t.TempDir(), "small", 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := rest(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := samples.RegisterDevices(ctx, env, dezhou.Source, devs)
	if err != nil || n != len(devs) {
		t.Fatalf("registered %d of %d: %v", n, len(devs), err)
	}
	key := apptest.Key(t, a, auth.Operator)

	// a main break on the main W-PE2-4-1 (arterial row 4), on the
	// --faults schedule, replayed 12 times faster from 3 minutes ago; the
	// control API takes a dark lamp on demand meanwhile
	var out, errw syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- app.Main(ctx, []string{"simulate", "--url", a.URL(), "--key", key, "--mqtt", a.Twin.MQTTAddr(), "--kinds", "pressure,flow,lamp",
			"--faults", "30s:main-break:W-PE2-4-1", "--control", "127.0.0.1:0", "--since", "3m", "--speed", "12", "--duration", "14s", "--log-level", "warn"}, &out, &errw)
	}()
	control := regexp.MustCompile(`control: (http://\S+)`)
	var ctl string
	for ctl == "" {
		if m := control.FindStringSubmatch(out.String()); m != nil {
			ctl = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("simulate ended before its control API served: %v\n%s\n%s", err, out.String(), errw.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	var lamp string
	if err := a.Pool.QueryRow(ctx, `SELECT id FROM devices WHERE kind = 'lamp' ORDER BY id DESC LIMIT 1`).Scan(&lamp); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(ctl, "application/json", strings.NewReader(`{"kind":"dark-lamp","target":"`+lamp+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var onDemand simulate.FaultInfo
	json.NewDecoder(resp.Body).Decode(&onDemand)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || onDemand.Device != lamp {
		t.Fatalf("on-demand dark lamp: %d %+v", resp.StatusCode, onDemand)
	}
	var listed []simulate.FaultInfo
	if resp, err = http.Get(ctl); err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&listed)
	resp.Body.Close()
	if len(listed) != 2 || listed[0].Kind != simulate.MainBreak || listed[0].Target != "W-PE2-4-1" || listed[1].Device != lamp {
		t.Fatalf("faults listed by the control API: %+v", listed)
	}
	if err := <-done; err != nil {
		t.Fatalf("simulate: %v\n%s", err, errw.String())
	}
	var fault simulate.FaultInfo
	for _, l := range strings.Split(out.String(), "\n") {
		if b, ok := strings.CutPrefix(l, "fault: "); ok {
			if err := json.Unmarshal([]byte(b), &fault); err != nil {
				t.Fatal(err)
			}
		}
	}
	if fault.Kind != simulate.MainBreak || len(fault.Affected) == 0 || fault.Target != "W-PE2-4-1" {
		t.Fatalf("no main break at W-PE2-4-1 in the output: %s", out.String())
	}
	var dev string
	var raised, firstLow time.Time
	err = a.Pool.QueryRow(ctx, `SELECT device_id, raised_at FROM alarms WHERE type = 'low_pressure' AND active ORDER BY raised_at LIMIT 1`).Scan(&dev, &raised)
	if err != nil {
		rows, _ := a.Pool.Query(ctx, `SELECT device_id, time, value FROM observations WHERE device_id = $1 ORDER BY time`, fault.Device)
		for rows.Next() {
			var d string
			var tm time.Time
			var v float64
			rows.Scan(&d, &tm, &v)
			t.Logf("%s %s %.3f", d, tm.Format(time.RFC3339), v)
		}
		rows.Close()
		t.Fatalf("no low-pressure alarm after the main break: %v\n%s", err, out.String())
	}
	if !contains(fault.Affected, dev) {
		t.Fatalf("alarm on %s, which is not around the break (%v)", dev, fault.Affected)
	}
	if err := a.Pool.QueryRow(ctx, `SELECT min(time) FROM observations WHERE device_id = $1 AND metric = 'pressure_mpa' AND value < 0.15 AND time >= $2`, dev, fault.At).Scan(&firstLow); err != nil {
		t.Fatal(err)
	}
	// the rule holds for 60 s of observation time; the sensor reports
	// every 30 s, so the alarm comes with the first report 60 s or more
	// after the first low one
	if d := raised.Sub(firstLow); d < 60*time.Second || d > 90*time.Second {
		t.Fatalf("alarm raised %v after the first low reading (at %v), want within the rule's 60 s window plus one report", d, firstLow)
	}
	// sensors far from the break raised nothing
	if c := count(t, a.Pool, `SELECT count(*) FROM alarms WHERE type = 'low_pressure' AND NOT (device_id = ANY($1))`, fault.Affected); c != 0 {
		t.Fatalf("%d low-pressure alarms away from the break", c)
	}

	// every kind, over HTTP, at 400 reports/s: nothing rejected
	out, errw = syncBuffer{}, syncBuffer{}
	err = app.Main(ctx, []string{"simulate", "--url", a.URL(), "--key", key, "--rate", "400/s", "--duration", "4s", "--log-level", "warn"}, &out, &errw)
	if err != nil {
		t.Fatalf("simulate: %v\n%s", err, errw.String())
	}
	m := regexp.MustCompile(`sent (\d+) reports .* (\d+) errors`).FindStringSubmatch(out.String())
	if m == nil || m[2] != "0" || m[1] == "0" {
		t.Fatalf("load run: %s\n%s", out.String(), errw.String())
	}
	if c := count(t, a.Pool, `SELECT count(DISTINCT kind) FROM devices d JOIN device_state s ON s.device_id = d.id`); c != 11 {
		t.Fatalf("%d device kinds reported, want 11", c)
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
