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
	if opts.OSM != "" {
		var res *samples.OSMResult
		res, err = samples.SetupOSM(ctx, env, opts.OSM, filepath.Join(a.Config.DataDir, "samples"), uint64(opts.Seed))
		if res != nil {
			devs, source = res.Devices, res.Source
		}
	} else {
		dir := filepath.Join(a.Config.DataDir, "samples", fmt.Sprintf("dezhou-%s-%d", opts.Scale, opts.Seed))
		devs, err = samples.SetupDezhou(ctx, env, dir, opts.Scale, uint64(opts.Seed))
	}
	if err != nil {
		return err
	}
	if _, err := samples.RegisterDevices(ctx, env, source, devs); err != nil {
		return err
	}
	if !opts.Simulate {
		return nil
	}
	var key string
	err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
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
	logger.Info("simulator started", "devices", sim.Devices(), "mqtt", mq != nil)
	a.Go(func() {
		defer pub.Close()
		sim.Run(ctx)
	})
	return nil
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
