package app

import (
	"context"

	"github.com/citytwin/citytwin/spatial/ogc"
)

// wireSpatial registers the OGC API - Features routes at /ogc and the
// spatial queries under /api/v1.
func (a *App) wireSpatial(ctx context.Context) error {
	srv := ogc.NewServer(a.Store, a.Auth, a.Logger, "/ogc")
	srv.Register(a.Mux)
	return nil
}
