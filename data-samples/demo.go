package samples

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/citytwin/citytwin/data-samples/dezhou"
	"github.com/citytwin/citytwin/spatial"
	"github.com/citytwin/citytwin/twin"
)

// Env is what setting up a sample twin needs of the running citytwin.
type Env struct {
	Pool     *pgxpool.Pool
	Store    *spatial.Store
	Registry *spatial.Registry
	Twin     *twin.Service
	Logger   *slog.Logger
}

// BackgroundLayers are the layers the demo loads after it starts serving:
// the city (districts, land use, water, roads, buildings, project sites)
// shows at once, the networks and poles follow.
var BackgroundLayers = []string{"network_nodes", "pipes", "smart_poles", "cameras"}

// SetupDezhou generates the Dezhou district of scale and seed into dir
// (unless already there) and loads the layers that are not in the database
// yet, except BackgroundLayers. It returns the district's device
// registrations and rest, which loads BackgroundLayers (the demo runs it
// in the background once it serves).
func SetupDezhou(ctx context.Context, env Env, dir, scale string, seed uint64) (devs []dezhou.Device, rest func(context.Context) error, err error) {
	sc, err := dezhou.ScaleNamed(scale)
	if err != nil {
		return nil, nil, err
	}
	if _, err := dezhou.ReadManifest(dir); err != nil {
		start := time.Now()
		env.Logger.Info("generating the Dezhou sample district", "scale", sc.Name, "seed", seed, "dir", dir)
		m, err := dezhou.Generate(ctx, dezhou.Options{Scale: sc, Seed: seed, Dir: dir, Progress: func(stage string, n int64) {
			env.Logger.Info("generating", "stage", stage, "features", n)
		}})
		if err != nil {
			os.RemoveAll(dir)
			return nil, nil, err
		}
		env.Logger.Info("sample district generated", "devices", m.DeviceCount, "duration", time.Since(start).Round(time.Millisecond))
	}
	var fg []string
	for _, l := range dezhou.LayerOrder {
		if !slices.Contains(BackgroundLayers, l) {
			fg = append(fg, l)
		}
	}
	start := time.Now()
	if _, err := LoadLayers(ctx, env.Store, env.Logger, dir, fg, true); err != nil {
		return nil, nil, err
	}
	env.Logger.Info("sample city loaded", "duration", time.Since(start).Round(time.Millisecond))
	devs, err = ReadDevices(filepath.Join(dir, "devices.ndjson"))
	if err != nil {
		return nil, nil, err
	}
	rest = func(ctx context.Context) error {
		start := time.Now()
		if _, err := LoadLayers(ctx, env.Store, env.Logger, dir, BackgroundLayers, true); err != nil {
			return err
		}
		env.Logger.Info("sample networks and poles loaded", "duration", time.Since(start).Round(time.Millisecond))
		return nil
	}
	return devs, rest, nil
}

// RegisterDevices registers the devices the twin does not know yet, bound
// to their features (looked up by source id in source), in batches of
// 2,000. Returns how many it created.
func RegisterDevices(ctx context.Context, env Env, source string, devs []dezhou.Device) (int, error) {
	var missing []dezhou.Device
	for _, d := range devs {
		if _, err := env.Twin.Device(d.ID); err != nil {
			missing = append(missing, d)
		}
	}
	if len(missing) == 0 {
		return 0, nil
	}
	in, unbound, err := ResolveDevices(ctx, env.Pool, env.Registry, source, missing)
	if err != nil {
		return 0, err
	}
	if unbound > 0 {
		env.Logger.Warn("devices whose feature is missing were not registered", "devices", unbound)
	}
	start := time.Now()
	n := 0
	for len(in) > 0 {
		k := min(len(in), 2000)
		if _, err := env.Twin.CreateDevices(ctx, in[:k]); err != nil {
			return n, fmt.Errorf("samples: registering devices: %w", err)
		}
		n += k
		in = in[k:]
	}
	env.Logger.Info("sample devices registered", "devices", n, "duration", time.Since(start).Round(time.Millisecond))
	return n, nil
}
