package app

import (
	"context"

	"github.com/citytwin/citytwin/scenes"
)

// wireScenes installs the built-in scenes and registers the scene routes.
func (a *App) wireScenes(ctx context.Context) error {
	svc := scenes.NewService(a.Pool, a.Registry)
	if err := svc.InstallBuiltins(ctx); err != nil {
		return err
	}
	(&scenes.Handler{Scenes: svc, Auth: a.Auth}).Register(a.Mux)
	return nil
}
