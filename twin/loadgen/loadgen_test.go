package loadgen_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/twin/loadgen"
)

// BenchmarkLive runs the bench-live load (LIVE_DEVICES 2,000 devices,
// LIVE_CLIENTS 1,000 websocket clients, LIVE_RATE 20,000 obs/s, LIVE_DURATION
// 10 s) against a server in this process, once, so that -cpuprofile shows the
// server's ingest and fan-out (and the load generator's own work, in package
// loadgen and websocket). With LIVE_LOADGEN_BIN (a built citytwin-loadgen)
// the load runs in that process instead, so that the profile is the
// server's alone. make bench-live measures the real binary.
func BenchmarkLive(b *testing.B) {
	b.Setenv("CITYTWIN_DEVICE_RATE", "1000000")
	b.Setenv("CITYTWIN_DEVICE_BURST", "1000000")
	a := apptest.MustRun(b)
	key := apptest.Key(b, a, auth.Admin)
	env := func(k string, def float64) float64 {
		if v, err := strconv.ParseFloat(os.Getenv(k), 64); err == nil {
			return v
		}
		return def
	}
	dur, err := time.ParseDuration(os.Getenv("LIVE_DURATION"))
	if err != nil {
		dur = 10 * time.Second
	}
	cfg := loadgen.Config{URL: a.URL(), MQTT: a.Twin.MQTTAddr(), AdminKey: key,
		Devices: int(env("LIVE_DEVICES", 2000)), Clients: int(env("LIVE_CLIENTS", 1000)), Rate: env("LIVE_RATE", 20000),
		HTTPShare: env("LIVE_HTTP_SHARE", 0.5), Duration: dur, Drain: 30 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BBox: [4]float64{116.20, 37.38, 116.42, 37.52}}
	b.ResetTimer()
	if bin := os.Getenv("LIVE_LOADGEN_BIN"); bin != "" {
		for i := 0; i < b.N; i++ {
			cmd := exec.Command(bin, "--url", cfg.URL, "--mqtt", cfg.MQTT, "--key", key, "--devices", fmt.Sprint(cfg.Devices),
				"--clients", fmt.Sprint(cfg.Clients), "--rate", fmt.Sprint(cfg.Rate), "--http-share", fmt.Sprint(cfg.HTTPShare),
				"--duration", dur.String(), "--pid", fmt.Sprint(os.Getpid()))
			out, err := cmd.Output()
			b.Logf("%s", out)
			if err != nil {
				b.Fatalf("%s: %v", bin, err)
			}
		}
		return
	}
	for i := 0; i < b.N; i++ {
		r, err := loadgen.Run(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		if r.Lost > 0 || r.Rejected > 0 {
			b.Errorf("lost %d, rejected %d", r.Lost, r.Rejected)
		}
		b.ReportMetric(r.ObsPerSec, "obs/s")
		b.ReportMetric(float64(r.P99.Milliseconds()), "p99-ms")
		b.ReportMetric(float64(r.P50.Milliseconds()), "p50-ms")
	}
}
