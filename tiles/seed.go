package tiles

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"

	"github.com/citytwin/citytwin/internal/errs"
)

// MaxSeedTiles bounds one seed run.
const MaxSeedTiles = 2_000_000

// SeedKeys lists the tiles of map m between zooms minz and maxz that meet
// bound. Returns EINVALID when they are more than MaxSeedTiles.
func SeedKeys(m string, bound orb.Bound, minz, maxz int) ([]Key, error) {
	if minz < 0 || maxz > MaxZoom || minz > maxz {
		return nil, errs.Invalid("zoom", "zooms %d..%d must lie in 0..%d, min first", minz, maxz, MaxZoom)
	}
	var total int64
	for z := minz; z <= maxz; z++ {
		x0, y0, x1, y1 := tileRange(bound, z, 0)
		total += (x1 - x0 + 1) * (y1 - y0 + 1)
		if total > MaxSeedTiles {
			return nil, errs.Invalid("bbox", "more than %d tiles: seed a smaller bbox or fewer zooms", MaxSeedTiles)
		}
	}
	keys := make([]Key, 0, total)
	for z := minz; z <= maxz; z++ {
		x0, y0, x1, y1 := tileRange(bound, z, 0)
		for x := x0; x <= x1; x++ {
			for y := y0; y <= y1; y++ {
				if maptile.New(uint32(x), uint32(y), maptile.Zoom(z)).Bound().Intersects(bound) {
					keys = append(keys, Key{Map: m, Z: z, X: uint32(x), Y: uint32(y)})
				}
			}
		}
	}
	return keys, nil
}

// SeedFunc fetches or renders one tile.
type SeedFunc func(ctx context.Context, k Key) error

// Seed runs fn over keys with workers goroutines, calling progress after each
// tile. It stops at the first error.
func Seed(ctx context.Context, keys []Key, workers int, fn SeedFunc, progress func(done int)) error {
	if workers <= 0 {
		workers = 4
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan Key)
	var wg sync.WaitGroup
	var done atomic.Int64
	var once sync.Once
	var firstErr error
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range ch {
				if err := fn(ctx, k); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("tile %s: %w", k, err); cancel() })
					return
				}
				if progress != nil {
					progress(int(done.Add(1)))
				}
			}
		}()
	}
feed:
	for _, k := range keys {
		select {
		case ch <- k:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// RenderInto is a SeedFunc that renders into the service's cache (the
// shared Redis cache for a seed run).
func (s *Service) RenderInto() SeedFunc {
	return func(ctx context.Context, k Key) error {
		if err := s.Check(k.Map, k.Layer, k.Z, uint64(k.X), uint64(k.Y)); err != nil {
			return err
		}
		_, err := s.Tile(ctx, k.Map, k.Layer, k.Z, k.X, k.Y)
		return err
	}
}

// FetchFrom is a SeedFunc that asks the citytwin server at base
// (http://host:port) for each tile, so that its cache fills.
func FetchFrom(client *http.Client, base, key string) SeedFunc {
	base = strings.TrimSuffix(base, "/")
	return func(ctx context.Context, k Key) error {
		req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/tiles/%s/%d/%d/%d.pbf", base, k.Map, k.Z, k.X, k.Y), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept-Encoding", "gzip")
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
			io.Copy(io.Discard, resp.Body)
			return fmt.Errorf("%s: %s %s", req.URL, resp.Status, b)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
}
