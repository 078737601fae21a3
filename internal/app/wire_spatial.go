package app

import (
	"context"

	"github.com/citytwin/citytwin/spatial/network"
	"github.com/citytwin/citytwin/spatial/ogc"
	"github.com/citytwin/citytwin/spatial/query"
)

// wireSpatial registers the OGC API - Features routes at /ogc, the spatial
// queries under /api/v1 and the pipe-network traces (graphs in memory,
// dropped when pipes or nodes change).
func (a *App) wireSpatial(ctx context.Context) error {
	ogc.NewServer(a.Store, a.Auth, a.Logger, "/ogc").Register(a.Mux)
	query.NewServer(a.Store, a.Auth, a.Logger).Register(a.Mux)
	network.NewService(a.Store, a.Auth, a.Logger, a.Metrics).Register(a.Mux)
	return nil
}
