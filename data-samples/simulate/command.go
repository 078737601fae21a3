package simulate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// CommandConfig is what `citytwin simulate` is given.
type CommandConfig struct {
	URL      string  // citytwin base URL: device list and HTTP ingest
	Key      string  // operator or admin API key
	MQTT     string  // broker address; "" publishes over HTTP
	Rate     float64 // reports per second in all; 0 = each device at its interval
	Duration time.Duration
	Faults   []Fault
	Since    time.Duration // start this long ago...
	Speed    float64       // ...and run this many times faster until now
	Kinds    []string      // only devices of these kinds ("" = all)
	// Control, if set, is the address (HOST:PORT) of the control API for
	// faults on demand (see Control); port 0 takes a free one.
	Control string
}

// ParseRate reads "500", "500/s" or "30000/m".
func ParseRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(strings.TrimSpace(s), "/")
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad rate %q: want N/s (reports per second)", s)
	}
	switch unit {
	case "", "s":
	case "m", "min":
		v /= 60
	case "h":
		v /= 3600
	default:
		return 0, fmt.Errorf("bad rate %q: unit must be /s, /m or /h", s)
	}
	return v, nil
}

// RunCommand lists the devices of the citytwin at cfg.URL and simulates
// them until ctx ends or cfg.Duration passes, printing the scheduled
// faults and a summary to w.
func RunCommand(ctx context.Context, cfg CommandConfig, w io.Writer, logger *slog.Logger) error {
	if err := ValidateURL(cfg.URL); err != nil {
		return err
	}
	devs, err := FetchDevices(ctx, cfg.URL, cfg.Key)
	if err != nil {
		return err
	}
	if len(cfg.Kinds) > 0 {
		keep := map[string]bool{}
		for _, k := range cfg.Kinds {
			keep[k] = true
		}
		var sel []Device
		for _, d := range devs {
			if keep[d.Kind] {
				sel = append(sel, d)
			}
		}
		devs = sel
	}
	// fault targets that are features (a pipe, a node, a building)
	locate := LocateFeature(cfg.URL, cfg.Key)
	if err := Resolve(ctx, cfg.Faults, devs, locate); err != nil {
		return err
	}
	var pub Publisher
	var mq *MQTT
	if cfg.MQTT != "" {
		if mq, err = DialMQTT(ctx, cfg.MQTT, cfg.Key, logger); err != nil {
			return err
		}
		pub = mq
	} else {
		pub = NewHTTP(cfg.URL, cfg.Key, logger)
	}
	defer pub.Close()
	opts := Options{Rate: cfg.Rate, Duration: cfg.Duration, Faults: cfg.Faults, Logger: logger, Speed: cfg.Speed}
	if cfg.Since > 0 {
		opts.Start = time.Now().Add(-cfg.Since)
	}
	s, err := New(devs, pub, opts)
	if err != nil {
		return err
	}
	if mq != nil {
		mq.Attach(s)
	}
	transport := "HTTP " + cfg.URL
	if mq != nil {
		transport = "MQTT " + cfg.MQTT
	}
	fmt.Fprintf(w, "simulating %d devices over %s\n", s.Devices(), transport)
	if cfg.Control != "" {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		addr, err := ServeControl(cctx, cfg.Control, &Control{Sim: s, Locate: locate}, logger)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "control: http://%s/faults\n", addr)
	}
	for _, f := range s.FaultInfos() {
		b, _ := json.Marshal(f)
		fmt.Fprintf(w, "fault: %s\n", b)
	}
	start := time.Now()
	err = s.Run(ctx)
	el := time.Since(start)
	fmt.Fprintf(w, "sent %d reports (%d values) in %s: %.0f reports/s, %d errors, %d commands\n",
		s.Stats.Reports.Load(), s.Stats.Values.Load(), el.Round(time.Millisecond), float64(s.Stats.Reports.Load())/el.Seconds(), s.Stats.Errors.Load(), s.Stats.Commands.Load())
	return err
}
