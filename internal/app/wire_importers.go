package app

import (
	"context"

	"github.com/citytwin/citytwin/importers"
)

// wireImporters registers the import-job routes (POST /api/v1/imports,
// GET /api/v1/imports/{id}); jobs run in goroutines owned by the App and
// are cancelled when it shuts down.
func (a *App) wireImporters(ctx context.Context) error {
	j := &importers.Jobs{Store: a.Store, Logger: a.Logger, Auth: a.Auth, Go: a.Go, Ctx: ctx}
	if err := j.RegisterMetrics(a.Metrics); err != nil {
		return err
	}
	if err := j.Recover(ctx); err != nil {
		return err
	}
	j.Register(a.Mux)
	return nil
}
