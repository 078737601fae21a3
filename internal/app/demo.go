package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/config"
)

// demoOptions are the flags of `citytwin demo` beyond the serve flags.
type demoOptions struct {
	OSM   string // build the twin on this OpenStreetMap extract
	Scale string // small, default or large
	Seed  int64
	// Simulate starts the telemetry simulator against the demo.
	Simulate bool
	// SimControl is the address of the simulator's control API (faults
	// on demand); "" serves none.
	SimControl string
}

// demoSteps run after the server's services are built and before it serves:
// loading the sample district, starting the simulator. Domains add theirs.
type demoStep func(ctx context.Context, a *App, opts demoOptions) error

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := config.Default()
	cfg.PublicReads = true
	fs := flag.NewFlagSet("citytwin demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.ServeFlags(fs)
	var opts demoOptions
	fs.StringVar(&opts.OSM, "osm", "", "build the twin on this OpenStreetMap extract (.osm.pbf or .osm) instead of the generated district")
	fs.StringVar(&opts.Scale, "scale", "default", "size of the generated district: small, default or large")
	fs.Int64Var(&opts.Seed, "seed", 1, "seed of the generated district (same seed, same city)")
	fs.BoolVar(&opts.Simulate, "simulate", true, "run the telemetry simulator")
	fs.StringVar(&opts.SimControl, "sim-control", "", "serve the simulator's control API for faults on demand on HOST:PORT (POST /faults)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	mqttChosen := os.Getenv("CITYTWIN_MQTT_ADDR") != ""
	fs.Visit(func(f *flag.Flag) { mqttChosen = mqttChosen || f.Name == "mqtt-addr" })
	a := New(cfg, stdout, stderr)
	if !mqttChosen && cfg.MQTTURL == "" && !portFree(cfg.MQTTAddr) {
		// The demo runs at once wherever it starts: when another broker
		// (often a system Mosquitto) holds the default MQTT port, the
		// embedded one takes a free port and the banner says which.
		a.Logger.Warn("the default MQTT port is taken; the demo's embedded broker uses a free port instead", "taken", cfg.MQTTAddr)
		a.Config.MQTTAddr = "127.0.0.1:0"
	}
	err := a.runDemo(ctx, opts)
	return errors.Join(err, a.Close())
}

func (a *App) runDemo(ctx context.Context, opts demoOptions) error {
	ctx, a.cancel = context.WithCancel(ctx)
	if err := a.OpenDB(ctx); err != nil {
		return err
	}
	if err := a.Build(ctx); err != nil {
		return err
	}
	ln, err := a.Listen()
	if err != nil {
		return err
	}
	for _, step := range a.demoSteps() {
		if err := step(ctx, a, opts); err != nil {
			ln.Close()
			return err
		}
	}
	var key string
	err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		var err error
		key, err = auth.CreateKey(ctx, tx, "demo", auth.Admin, "")
		return err
	})
	if err != nil {
		ln.Close()
		return err
	}
	mqtt := "off"
	if a.Twin != nil && a.Twin.MQTTAddr() != "" {
		mqtt = "mqtt://" + a.Twin.MQTTAddr()
	}
	fmt.Fprintf(a.Stdout, "\ncitytwin demo: http://localhost%s  (MQTT: %s; admin key for writes: %s)\nPress Ctrl-C to stop.\n\n", portOf(ln), mqtt, key)
	return a.Serve(ctx, ln)
}

// demoSteps lists what the demo does before serving, in order.
func (a *App) demoSteps() []demoStep {
	return []demoStep{
		// demo: samples
		demoSamples,
	}
}

// portFree reports whether addr can be listened on now.
func portFree(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func portOf(ln net.Listener) string {
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		return fmt.Sprintf(":%d", a.Port)
	}
	return ""
}
