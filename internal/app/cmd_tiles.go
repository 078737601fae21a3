package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paulmach/orb"
	"github.com/schollz/progressbar/v3"

	"github.com/citytwin/citytwin/internal/config"
	"github.com/citytwin/citytwin/tiles"
)

const tilesUsage = `usage:
  citytwin tiles seed  --map base --minzoom 12 --maxzoom 15 --bbox w,s,e,n [--redis-url URL | --server URL [--key KEY]]
  citytwin tiles purge [--layer NAME] [--bbox w,s,e,n] [--minzoom 0] [--maxzoom 22] [--redis-url URL | --server URL --key ADMINKEY]

seed renders tiles into the shared Redis cache, or asks a running server for
them so that its memory cache fills. purge drops cached tiles from Redis, or
through a running server's admin endpoint.`

// runTiles handles "citytwin tiles seed|purge".
func runTiles(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "seed" && args[0] != "purge") {
		return &UsageError{tilesUsage}
	}
	sub := args[0]
	cfg := config.Default()
	fs := flag.NewFlagSet("citytwin tiles "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.DatabaseFlags(fs)
	fs.StringVar(&cfg.RedisURL, "redis-url", cfg.RedisURL, "the shared Redis tile cache (env CITYTWIN_REDIS_URL)")
	server := fs.String("server", "", "a running citytwin, e.g. http://127.0.0.1:8080, to seed or purge through")
	key := fs.String("key", "", "API key for --server (purge needs an admin key)")
	mapName := fs.String("map", tiles.MapBase, "map to seed: base, infra or hex")
	layer := fs.String("layer", "", "purge: only the maps drawing this layer")
	bboxs := fs.String("bbox", "", "w,s,e,n in degrees (seed: required; purge: empty for everywhere)")
	minz := fs.Int("minzoom", -1, "lowest zoom (seed: required; purge: default 0)")
	maxz := fs.Int("maxzoom", -1, "highest zoom (seed: required; purge: default 22)")
	workers := fs.Int("workers", 4, "seed: tiles rendered at once")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &UsageError{fmt.Sprintf("unexpected argument %q\n%s", fs.Arg(0), tilesUsage)}
	}
	var bound *orb.Bound
	if *bboxs != "" {
		parts := strings.Split(*bboxs, ",")
		v := make([]float64, 0, 4)
		for _, p := range parts {
			f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil {
				return &UsageError{fmt.Sprintf("--bbox: %q is not a number (want w,s,e,n)", p)}
			}
			v = append(v, f)
		}
		b, err := tiles.ParseBBox(v)
		if err != nil {
			return &UsageError{"--" + err.Error()}
		}
		bound = &b
	}
	if *server == "" && cfg.RedisURL == "" {
		return &UsageError{fmt.Sprintf("tiles %s needs --redis-url (the shared cache) or --server (a running citytwin): "+
			"a memory cache lives in its server's process only\n%s", sub, tilesUsage)}
	}
	if sub == "seed" {
		if bound == nil || *minz < 0 || *maxz < 0 {
			return &UsageError{"tiles seed needs --bbox, --minzoom and --maxzoom\n" + tilesUsage}
		}
		return seedTiles(ctx, cfg, *server, *key, *mapName, *bound, *minz, *maxz, *workers, stdout, stderr)
	}
	req := tiles.PurgeRequest{Layer: *layer}
	if bound != nil {
		req.BBox = []float64{bound.Min[0], bound.Min[1], bound.Max[0], bound.Max[1]}
	}
	if *minz >= 0 {
		req.MinZoom = minz
	}
	if *maxz >= 0 {
		req.MaxZoom = maxz
	}
	return purgeTiles(ctx, cfg, *server, *key, req, stdout)
}

func seedTiles(ctx context.Context, cfg config.Config, server, key, mapName string, bound orb.Bound, minz, maxz, workers int, stdout, stderr io.Writer) error {
	keys, err := tiles.SeedKeys(mapName, bound, minz, maxz)
	if err != nil {
		return &UsageError{err.Error()}
	}
	var fn tiles.SeedFunc
	if server != "" {
		fn = tiles.FetchFrom(&http.Client{Timeout: 2 * time.Minute}, server, key)
	} else {
		a := New(cfg, stdout, stderr)
		defer a.Close()
		if err := a.OpenDB(ctx); err != nil {
			return err
		}
		s, err := a.newTileService(ctx, false)
		if err != nil {
			return err
		}
		defer s.Close()
		if err := s.Check(mapName, "", 0, 0, 0); err != nil {
			return &UsageError{"--map: " + err.Error()}
		}
		fn = s.RenderInto()
	}
	start := time.Now()
	progress := seedProgress(stderr, len(keys))
	if err := tiles.Seed(ctx, keys, workers, fn, progress); err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(stdout, "seeded %d tiles of map %s (z%d-%d) in %s (%.0f tiles/s)\n", len(keys), mapName, minz, maxz,
		el.Round(time.Millisecond), float64(len(keys))/el.Seconds())
	return nil
}

// seedProgress shows a bar on a terminal, else a line every 10%.
func seedProgress(stderr io.Writer, total int) func(int) {
	if isTerminal(stderr) {
		bar := progressbar.NewOptions(total, progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription("seeding tiles"),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond))
		return func(int) { bar.Add(1) }
	}
	step := max(total/10, 1)
	return func(done int) {
		if done%step == 0 || done == total {
			fmt.Fprintf(stderr, "seed: %d/%d tiles (%d%%)\n", done, total, done*100/max(total, 1))
		}
	}
}

func purgeTiles(ctx context.Context, cfg config.Config, server, key string, req tiles.PurgeRequest, stdout io.Writer) error {
	if server != "" {
		body, _ := json.Marshal(req)
		hr, err := http.NewRequestWithContext(ctx, "POST", strings.TrimSuffix(server, "/")+"/api/v1/tiles/purge", bytes.NewReader(body))
		if err != nil {
			return &UsageError{"--server: " + err.Error()}
		}
		hr.Header.Set("Content-Type", "application/json")
		if key != "" {
			hr.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := (&http.Client{Timeout: time.Minute}).Do(hr)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("purge: %s: %s", resp.Status, strings.TrimSpace(string(b)))
		}
		fmt.Fprintln(stdout, strings.TrimSpace(string(b)))
		return nil
	}
	a := New(cfg, stdout, io.Discard)
	defer a.Close()
	if err := a.OpenDB(ctx); err != nil {
		return err
	}
	s, err := a.newTileService(ctx, false)
	if err != nil {
		return err
	}
	defer s.Close()
	bound, minz, maxz, err := req.Validate(s)
	if err != nil {
		return &UsageError{"--" + err.Error()}
	}
	n, err := s.Purge(ctx, req.Layer, bound, minz, maxz)
	if err != nil {
		return errors.Join(errors.New("purge"), err)
	}
	fmt.Fprintf(stdout, "purged %d tiles\n", n)
	return nil
}
