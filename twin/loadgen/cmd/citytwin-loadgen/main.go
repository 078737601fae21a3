// Command citytwin-loadgen drives a running citytwin server for make
// bench-live: N devices publishing over HTTP and MQTT, M websocket clients on
// viewports. It prints the figures and exits non-zero when messages were
// lost.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"time"

	"github.com/citytwin/citytwin/twin/loadgen"
)

func main() {
	cfg := loadgen.Config{BBox: [4]float64{116.20, 37.38, 116.42, 37.52}}
	flag.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "server base URL")
	flag.StringVar(&cfg.MQTT, "mqtt", "127.0.0.1:1883", `server's MQTT broker host:port ("" for HTTP only)`)
	flag.StringVar(&cfg.AdminKey, "key", os.Getenv("CITYTWIN_KEY"), "admin API key (env CITYTWIN_KEY)")
	flag.IntVar(&cfg.Devices, "devices", 2000, "devices")
	flag.IntVar(&cfg.Clients, "clients", 1000, "websocket clients")
	flag.Float64Var(&cfg.Rate, "rate", 20000, "observations/s in total")
	flag.Float64Var(&cfg.HTTPShare, "http-share", 0.5, "part of the rate sent over HTTP (the rest over MQTT)")
	flag.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to publish")
	flag.DurationVar(&cfg.Drain, "drain", 30*time.Second, "how long clients may take to get the last readings")
	flag.IntVar(&cfg.PID, "pid", 0, "server process id, for its peak memory")
	flag.DurationVar(&cfg.Progress, "progress", 0, "log the accepted rate and the latency p50/p99 of each interval this long (0: off)")
	cpuprofile := flag.String("cpuprofile", "", "write the load generator's own CPU profile to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "citytwin-loadgen:", err)
			os.Exit(2)
		}
	}
	if cfg.AdminKey == "" {
		fmt.Fprintln(os.Stderr, "citytwin-loadgen: --key (an admin key) is required")
		os.Exit(2)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r, err := loadgen.Run(ctx, cfg)
	pprof.StopCPUProfile() // the figures' printing is not part of the load
	if err != nil {
		fmt.Fprintln(os.Stderr, "citytwin-loadgen:", err)
		os.Exit(1)
	}
	goal := func(v, g float64) string { return fmt.Sprintf("%.2fx", v/g) }
	fmt.Printf("\nbench-live: %d devices, %d websocket clients, %.0f%% HTTP / %.0f%% MQTT, %.0fs\n",
		cfg.Devices, r.ClientsConnected, cfg.HTTPShare*100, (1-cfg.HTTPShare)*100, r.Seconds)
	fmt.Printf("%-34s %14s %14s %8s\n", "figure", "citytwin", "goal", "ratio")
	fmt.Printf("%-34s %14.0f %14.0f %8s\n", "sustained observations/s", r.ObsPerSec, 20000.0, goal(r.ObsPerSec, 20000))
	fmt.Printf("%-34s %14s %14s %8s\n", "ingest-to-client latency p50", r.P50.Round(100*time.Microsecond), "-", "")
	fmt.Printf("%-34s %14s %14s %8s\n", "ingest-to-client latency p99", r.P99.Round(100*time.Microsecond), "100ms", goal(float64(r.P99), float64(100*time.Millisecond)))
	fmt.Printf("%-34s %14s %14s %8s\n", "ingest-to-client latency max", r.Max.Round(time.Millisecond), "-", "")
	fmt.Printf("%-34s %14s %14s %8s\n", "  reading->append p50 / p99", r.InServerP50.Round(100*time.Microsecond), r.InServerP99.Round(100*time.Microsecond), "")
	fmt.Printf("%-34s %14s %14s %8s\n", "  append->client p50 / p99", r.ToClientP50.Round(100*time.Microsecond), r.ToClientP99.Round(100*time.Microsecond), "")
	fmt.Printf("%-34s %14s %14s %8s\n", "hub lag (append->dispatch) p50 <=", r.HubLagP50, "-", "")
	fmt.Printf("%-34s %14s %14s %8s\n", "hub lag (append->dispatch) p99 <=", r.HubLagP99, "-", "")
	fmt.Printf("%-34s %14d %14d %8s\n", "lost: (client, device) not current", r.Lost, 0, fmt.Sprintf("of %d", r.Pairs))
	fmt.Printf("%-34s %14d %14d %8s\n", "clients closed by the server", r.ClientsDropped, 0, "")
	fmt.Printf("%-34s %14d %14s %8s\n", "observations sent / accepted", r.Sent, fmt.Sprint(r.Accepted), "")
	fmt.Printf("%-34s %14d %14s %8s\n", "rejected or duplicate", r.Rejected, "0", "")
	fmt.Printf("%-34s %14d %14s %8s\n", "deltas received", r.Deltas, "-", "")
	fmt.Printf("%-34s %13.0fM %14s %8s\n", "server peak RSS", float64(r.PeakRSSKB)/1024, "-", "")
	if r.Lost > 0 || r.Rejected > 0 {
		os.Exit(1)
	}
}
