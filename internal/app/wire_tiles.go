package app

import (
	"context"
	"fmt"
	"time"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/tiles"
)

// tileSettings: the in-memory tile cache's size (CITYTWIN_TILE_CACHE_MB,
// default 256; 0 turns caching off), the Cache-Control max-age of tiles in
// seconds (CITYTWIN_TILE_MAX_AGE, default 0: clients revalidate), and the
// size of tegola's own pgx/v4 pool (CITYTWIN_TILE_DB_POOL, default 8) beside
// citytwin's pool.
func tileSettings() (cacheMB, pool int, maxAge time.Duration, err error) {
	var env envReader
	cacheMB = env.intOr("CITYTWIN_TILE_CACHE_MB", 256, 0)
	pool = env.intOr("CITYTWIN_TILE_DB_POOL", 8, 1)
	maxAge = time.Duration(env.intOr("CITYTWIN_TILE_MAX_AGE", 0, 0)) * time.Second
	return cacheMB, pool, maxAge, env.err
}

// newTileService builds the tile service with the configured cache.
func (a *App) newTileService(ctx context.Context, withMetrics bool) (*tiles.Service, error) {
	cacheMB, pool, maxAge, err := tileSettings()
	if err != nil {
		return nil, err
	}
	var cache tiles.Cache = tiles.NewMemoryCache(int64(cacheMB) << 20)
	if a.Config.RedisURL != "" {
		rc, err := tiles.NewRedisCache(ctx, a.Config.RedisURL)
		if err != nil {
			return nil, err
		}
		cache = rc
	}
	o := tiles.Options{
		Logger: a.Logger, Registry: a.Registry, Pool: a.Pool,
		DatabaseURL: a.DatabaseURL(), TilePool: pool, Cache: cache,
	}
	if withMetrics {
		o.Metrics = a.Metrics
	}
	s, err := tiles.New(ctx, o)
	if err != nil {
		cache.Close()
		return nil, err
	}
	s.MaxAge = maxAge
	return s, nil
}

// wireTiles serves the vector tiles and drops cached tiles on every change.
func (a *App) wireTiles(ctx context.Context) error {
	s, err := a.newTileService(ctx, true)
	if err != nil {
		return fmt.Errorf("tiles: %w", err)
	}
	a.OnClose(func(context.Context) error { return s.Close() })
	if rc, ok := s.Cache().(*tiles.RedisCache); ok {
		a.AddReadyCheck(func(ctx context.Context) error {
			if err := rc.Client.Ping(ctx).Err(); err != nil {
				return &errs.Error{Code: errs.EUNAVAILABLE, Where: "tile_cache", Message: "Redis unreachable: " + err.Error()}
			}
			return nil
		})
	}
	a.Store.OnChange(s.Changed)
	h := &tiles.Handler{Service: s, Auth: a.Auth}
	h.RegisterRoutes(a.Mux)
	return nil
}
