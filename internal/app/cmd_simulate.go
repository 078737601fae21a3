package app

import (
	"context"
	"flag"
	"io"
	"os"
	"strings"

	"github.com/citytwin/citytwin/data-samples/simulate"
	"github.com/citytwin/citytwin/internal/config"
)

// faultFlags collects repeated --fault flags.
type faultFlags []simulate.Fault

func (f *faultFlags) String() string { return "" }
func (f *faultFlags) Set(v string) error {
	x, err := simulate.ParseFault(v)
	if err != nil {
		return err
	}
	*f = append(*f, x)
	return nil
}

// runSimulate is `citytwin simulate`: the devices of a running citytwin
// report telemetry with daily patterns and faults (see data-samples/simulate).
func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("citytwin simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg simulate.CommandConfig
	var rate, kinds, logLevel, schedule string
	var faults faultFlags
	fs.StringVar(&cfg.URL, "url", os.Getenv("CITYTWIN_URL"), "citytwin base URL, e.g. http://127.0.0.1:8080 (env CITYTWIN_URL)")
	fs.StringVar(&cfg.Key, "key", os.Getenv("CITYTWIN_KEY"), "operator or admin API key (env CITYTWIN_KEY)")
	fs.StringVar(&cfg.MQTT, "mqtt", "", "publish over MQTT to this broker (tcp://HOST:PORT) as the gateway; default: HTTP ingest at --url")
	fs.StringVar(&rate, "rate", "", "reports per second in all (N/s), instead of each device at its interval: a load generator")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop after this long (default: until interrupted)")
	fs.Var(&faults, "fault", "inject a fault: main-break, dark-lamp, silent-device or tunnel-flood, optionally @DELAY (e.g. main-break@2m); repeatable")
	fs.StringVar(&schedule, "faults", "", "fault schedule: DELAY:KIND[:TARGET],... (TARGET a device id or a pipe/node/building source id, e.g. 10m:main-break:W-PE4-8-1)")
	fs.StringVar(&cfg.Control, "control", "", "serve the control API for faults on demand on HOST:PORT (GET/POST/DELETE /faults)")
	fs.DurationVar(&cfg.Since, "since", 0, "start the simulated clock this long ago (replay), running --speed times faster until it catches up")
	fs.Float64Var(&cfg.Speed, "speed", 1, "simulated seconds per real second while replaying (--since)")
	fs.StringVar(&kinds, "kinds", "", "simulate only these device kinds (comma-separated)")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &UsageError{"citytwin simulate takes no arguments: " + strings.Join(fs.Args(), " ")}
	}
	if cfg.URL == "" || cfg.Key == "" {
		return &UsageError{"--url and --key are required (or CITYTWIN_URL and CITYTWIN_KEY)"}
	}
	if err := simulate.ValidateURL(cfg.URL); err != nil {
		return &UsageError{"--url: " + err.Error()}
	}
	if rate != "" {
		r, err := simulate.ParseRate(rate)
		if err != nil {
			return &UsageError{"--rate: " + err.Error()}
		}
		cfg.Rate = r
	}
	if cfg.Speed < 1 {
		return &UsageError{"--speed must be at least 1"}
	}
	if kinds != "" {
		cfg.Kinds = strings.Split(kinds, ",")
	}
	cfg.Faults = faults
	if schedule != "" {
		more, err := simulate.ParseSchedule(schedule)
		if err != nil {
			return &UsageError{"--faults: " + err.Error()}
		}
		cfg.Faults = append(cfg.Faults, more...)
	}
	lc := config.Default()
	lc.LogLevel = logLevel
	return simulate.RunCommand(ctx, cfg, stdout, NewLogger(lc, stderr))
}
