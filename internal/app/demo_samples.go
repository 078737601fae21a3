package app

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/jackc/pgx/v5"

	samples "github.com/citytwin/citytwin/data-samples"
	"github.com/citytwin/citytwin/data-samples/dezhou"
	"github.com/citytwin/citytwin/data-samples/simulate"
	"github.com/citytwin/citytwin/internal/auth"
)

// demoSamples builds the demo's twin: the generated Dezhou district (or,
// with --osm, a real extract with generated networks along its roads),
// its devices, and the telemetry simulator running in-process against the
// embedded MQTT broker (HTTP ingest when the broker is off).
func demoSamples(ctx context.Context, a *App, opts demoOptions) error {
	if a.Twin == nil {
		return fmt.Errorf("demo: the live twin is not wired")
	}
	env := samples.Env{Pool: a.Pool, Store: a.Store, Registry: a.Registry, Twin: a.Twin, Logger: a.Logger.With("domain", "samples")}
	var devs []dezhou.Device
	source := dezhou.Source
	var err error
	rest := func(context.Context) error { return nil }
	if opts.OSM != "" {
		var res *samples.OSMResult
		res, err = samples.SetupOSM(ctx, env, opts.OSM, filepath.Join(a.Config.DataDir, "samples"), uint64(opts.Seed))
		if res != nil {
			devs, source = res.Devices, res.Source
		}
	} else {
		dir := filepath.Join(a.Config.DataDir, "samples", fmt.Sprintf("dezhou-%s-%d", opts.Scale, opts.Seed))
		devs, rest, err = samples.SetupDezhou(ctx, env, dir, opts.Scale, uint64(opts.Seed))
	}
	if err != nil {
		return err
	}
	// The city shows now; the networks, poles, devices and the simulator
	// follow in the background.
	a.Go(func() {
		if err := demoSamplesRest(ctx, a, env, opts, source, devs, rest); err != nil && ctx.Err() == nil {
			env.Logger.Error("demo: loading the sample district failed", "err", err)
		}
	})
	return nil
}

func demoSamplesRest(ctx context.Context, a *App, env samples.Env, opts demoOptions, source string, devs []dezhou.Device, rest func(context.Context) error) error {
	if err := rest(ctx); err != nil {
		return err
	}
	if _, err := samples.RegisterDevices(ctx, env, source, devs); err != nil {
		return err
	}
	if !opts.Simulate {
		return nil
	}
	var key string
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		var err error
		key, err = auth.CreateKey(ctx, tx, "demo simulator", auth.Operator, "")
		return err
	})
	if err != nil {
		return err
	}
	logger := a.Logger.With("domain", "simulate")
	var pub simulate.Publisher
	var mq *simulate.MQTT
	if addr := a.Twin.MQTTAddr(); addr != "" {
		if mq, err = simulate.DialMQTT(ctx, addr, key, logger); err != nil {
			return err
		}
		pub = mq
	} else {
		pub = &lazyHTTP{a: a, key: key}
	}
	sim, err := simulate.New(samples.SimDevices(devs), pub, simulate.Options{Logger: logger})
	if err != nil {
		pub.Close()
		return err
	}
	if mq != nil {
		mq.Attach(sim)
	}
	if opts.SimControl != "" {
		addr, err := simulate.ServeControl(ctx, opts.SimControl, &simulate.Control{Sim: sim, Locate: simulate.LocateFeature(a.URL(), key)}, logger)
		if err != nil {
			pub.Close()
			return err
		}
		logger.Info("simulator control API", "url", "http://"+addr.String()+"/faults")
	}
	logger.Info("simulator started", "devices", sim.Devices(), "mqtt", mq != nil)
	defer pub.Close()
	return sim.Run(ctx)
}

// lazyHTTP posts to the demo's own HTTP API once it serves.
type lazyHTTP struct {
	a   *App
	key string
	h   *simulate.HTTP
}

func (l *lazyHTTP) Publish(ctx context.Context, rs []simulate.Reading) error {
	if l.h == nil {
		select {
		case <-l.a.Started():
		case <-ctx.Done():
			return ctx.Err()
		}
		l.h = simulate.NewHTTP(l.a.URL(), l.key, nil)
	}
	return l.h.Publish(ctx, rs)
}

func (l *lazyHTTP) Close() error { return nil }
