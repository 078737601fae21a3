package samples

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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

// SetupDezhou generates the Dezhou district of scale and seed into dir
// (unless already there) and loads it through the importers when the
// database has no generated district yet. It returns the district's device
// registrations.
func SetupDezhou(ctx context.Context, env Env, dir, scale string, seed uint64) ([]dezhou.Device, error) {
	sc, err := dezhou.ScaleNamed(scale)
	if err != nil {
		return nil, err
	}
	if _, err := dezhou.ReadManifest(dir); err != nil {
		start := time.Now()
		env.Logger.Info("generating the Dezhou sample district", "scale", sc.Name, "seed", seed, "dir", dir)
		m, err := dezhou.Generate(ctx, dezhou.Options{Scale: sc, Seed: seed, Dir: dir, Progress: func(stage string, n int64) {
			env.Logger.Info("generating", "stage", stage, "features", n)
		}})
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		env.Logger.Info("sample district generated", "devices", m.DeviceCount, "duration", time.Since(start).Round(time.Millisecond))
	}
	loaded, err := Loaded(ctx, env.Pool, dezhou.Source)
	if err != nil {
		return nil, err
	}
	if loaded {
		env.Logger.Info("the database already holds the sample district; not loading it again", "source", dezhou.Source)
	} else {
		start := time.Now()
		if _, err := Load(ctx, env.Store, env.Logger, dir); err != nil {
			return nil, err
		}
		env.Logger.Info("sample district loaded", "duration", time.Since(start).Round(time.Millisecond))
	}
	return ReadDevices(filepath.Join(dir, "devices.ndjson"))
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
