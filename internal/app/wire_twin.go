package app

import (
	"context"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/twin"
)

// wireTwin builds the live twin's ingest side: devices, HTTP and MQTT
// telemetry (the embedded broker on MQTTAddr, or an external broker at
// MQTTURL), state, health, rules, alarms, commands and history.
//
// CITYTWIN_OFFLINE_FACTOR (default 3), CITYTWIN_DEVICE_RATE (observations/s
// per device, default 100), CITYTWIN_DEVICE_BURST (default 2000) and
// CITYTWIN_BATCH_WAIT (how long an ingest batch gathers, default 10ms) tune
// it.
func (a *App) wireTwin(ctx context.Context) error {
	var env envReader
	opts := twin.Options{
		OfflineFactor: env.float("CITYTWIN_OFFLINE_FACTOR"),
		Rate:          env.float("CITYTWIN_DEVICE_RATE"),
		Burst:         env.float("CITYTWIN_DEVICE_BURST"),
		BatchWait:     env.duration("CITYTWIN_BATCH_WAIT"),
	}
	if env.err != nil {
		return env.err
	}
	s := twin.NewService(a.Pool, a.Registry, a.Store, a.Bus, a.Auth, a.Logger.With("domain", "twin"), opts)
	if err := s.RegisterMetrics(a.Metrics); err != nil {
		return err
	}
	if err := s.Load(ctx); err != nil {
		return err
	}
	a.Go(func() { s.Run(ctx)() })
	switch {
	case a.Config.MQTTURL != "":
		c, err := s.ConnectExternal(ctx, a.Config.MQTTURL)
		if err != nil {
			return err
		}
		a.OnClose(func(context.Context) error { return c.Close() })
		a.AddReadyCheck(func(context.Context) error {
			if !c.Connected() {
				return &errs.Error{Code: errs.EUNAVAILABLE, Where: "mqtt", Message: "not connected to the external MQTT broker"}
			}
			return nil
		})
		a.Logger.Info("MQTT: external broker", "host", c.Host())
	case a.Config.MQTTAddr != "" && a.Config.MQTTAddr != "off":
		b, err := s.StartBroker(ctx, a.Config.MQTTAddr)
		if err != nil {
			return err
		}
		a.OnClose(func(context.Context) error { return b.Close() })
		a.Logger.Info("MQTT broker listening", "addr", b.Addr())
	}
	s.RegisterRoutes(a.Mux)
	a.Twin = s
	return nil
}
