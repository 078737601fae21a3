package app

import (
	"context"

	"github.com/citytwin/citytwin/twin/feed"
	"github.com/citytwin/citytwin/twin/hub"
)

// wireLive creates the event bus (NATS when --nats-url is set, else
// in-process) and the websocket hub at GET /ws, loads the live state and
// starts following the event log.
func (a *App) wireLive(ctx context.Context) error {
	if a.Config.NATSURL != "" {
		b, err := feed.NewNATSBus(a.Config.NATSURL, a.Logger)
		if err != nil {
			return err
		}
		a.Bus = b
		a.Logger.Info("live feed bus: NATS", "url", a.Config.NATSURL)
	} else {
		a.Bus = feed.NewLocalBus()
	}
	bus := a.Bus
	a.OnClose(func(context.Context) error { return bus.Close() })

	h := hub.New(a.Pool, a.Bus, a.Logger, a.Metrics)
	h.Authorize = a.Auth.RequireRead
	if err := h.Load(ctx); err != nil {
		return err
	}
	a.Go(func() {
		if err := h.Run(ctx); err != nil {
			a.Logger.Error("live feed stopped", "err", err)
		}
	})
	a.Mux.Handle("GET /ws", h)
	return nil
}
