package app

import (
	"context"
	"os"
	"strconv"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/twin"
)

// wireTwin builds the live twin's ingest side: devices, HTTP and MQTT
// telemetry (the embedded broker on MQTTAddr, or an external broker at
// MQTTURL), state, health, rules, alarms, commands and history.
//
// CITYTWIN_OFFLINE_FACTOR (default 3), CITYTWIN_DEVICE_RATE (observations/s
// per device, default 100) and CITYTWIN_DEVICE_BURST (default 2000) tune it.
func (a *App) wireTwin(ctx context.Context) error {
	opts := twin.Options{
		OfflineFactor: envFloat("CITYTWIN_OFFLINE_FACTOR"),
		Rate:          envFloat("CITYTWIN_DEVICE_RATE"),
		Burst:         envFloat("CITYTWIN_DEVICE_BURST"),
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

func envFloat(k string) float64 {
	v, _ := strconv.ParseFloat(os.Getenv(k), 64)
	return v
}
