package app

import (
	"context"

	"github.com/citytwin/citytwin/web"
)

// wireWeb serves the browser app: "GET /" and its built assets.
func (a *App) wireWeb(context.Context) error {
	h, err := web.NewHandler()
	if err != nil {
		return err
	}
	h.Routes(a.Mux)
	return nil
}
