package samples

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/citytwin/citytwin/data-samples/dezhou"
	"github.com/citytwin/citytwin/data-samples/simulate"
	"github.com/citytwin/citytwin/importers"
	"github.com/citytwin/citytwin/spatial"
	"github.com/citytwin/citytwin/twin"
)

// Loaded reports whether the database already holds a district of source
// (dezhou.Source for the generated one): the demo then skips generating.
func Loaded(ctx context.Context, pool *pgxpool.Pool, source string) (bool, error) {
	var ok bool
	err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM buildings WHERE source = $1)`, source).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("samples: %w", err)
	}
	return ok, nil
}

// Load imports every layer file of a generated folder through
// importers.Run (the path users take), in dezhou.LayerOrder, and returns the
// reports by layer. Each layer is one transaction; re-loading upserts.
func Load(ctx context.Context, store *spatial.Store, logger *slog.Logger, dir string) (map[string]*importers.Report, error) {
	return LoadLayers(ctx, store, logger, dir, nil, false)
}

// LoadLayers is Load for the given layers only (nil: all). With missingOnly
// it skips the layers whose features are all in the database already (a
// demo interrupted while loading resumes where it stopped).
func LoadLayers(ctx context.Context, store *spatial.Store, logger *slog.Logger, dir string, layers []string, missingOnly bool) (map[string]*importers.Report, error) {
	m, err := dezhou.ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, l := range layers {
		want[l] = true
	}
	reports := map[string]*importers.Report{}
	for _, lf := range m.Layers {
		if lf.Count == 0 || (layers != nil && !want[lf.Layer]) {
			continue
		}
		if missingOnly {
			l, err := store.Registry.Layer(lf.Layer)
			if err != nil {
				return reports, err
			}
			var n int64
			if err := store.Pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{l.Table}.Sanitize()+` WHERE source = $1`, m.Source).Scan(&n); err != nil {
				return reports, fmt.Errorf("samples: %w", err)
			}
			if n >= lf.Count {
				continue
			}
		}
		start := time.Now()
		rep, err := importers.Run(ctx, store, logger, importers.Options{
			Files:  []string{filepath.Join(dir, lf.File)},
			Format: "geojson",
			Layer:  lf.Layer,
			Source: m.Source,
			Actor:  "samples",
		})
		if err != nil {
			return reports, fmt.Errorf("samples: loading %s: %w", lf.File, err)
		}
		reports[lf.Layer] = rep
		logger.Info("sample layer loaded", "layer", lf.Layer, "features", rep.Inserted+rep.Updated+rep.Unchanged, "duration", time.Since(start).Round(time.Millisecond))
	}
	return reports, nil
}

// ReadDevices reads the device registrations of a generated folder.
func ReadDevices(path string) ([]dezhou.Device, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("samples: %w", err)
	}
	defer f.Close()
	var out []dezhou.Device
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		var d dezhou.Device
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return nil, fmt.Errorf("samples: %s line %d: %w", path, len(out)+1, err)
		}
		out = append(out, d)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("samples: %s: %w", path, err)
	}
	return out, nil
}

// ResolveDevices turns registrations into the twin's device inputs,
// looking up each bound feature's database id by (source, source_id).
// Devices whose feature is missing are left out (and counted).
func ResolveDevices(ctx context.Context, pool *pgxpool.Pool, registry *spatial.Registry, source string, devs []dezhou.Device) ([]twin.DeviceInput, int, error) {
	ids := map[string]map[string]int64{} // "source\x00layer" -> source id -> id
	src := func(f *dezhou.FeatureRef) string {
		if f.Source != "" {
			return f.Source
		}
		return source
	}
	for _, d := range devs {
		if d.Feature == nil || ids[src(d.Feature)+"\x00"+d.Feature.Layer] != nil {
			continue
		}
		l, err := registry.Layer(d.Feature.Layer)
		if err != nil {
			return nil, 0, fmt.Errorf("samples: device %s: %w", d.ID, err)
		}
		m := map[string]int64{}
		rows, err := pool.Query(ctx, `SELECT source_id, id FROM `+pgx.Identifier{l.Table}.Sanitize()+` WHERE source = $1`, src(d.Feature))
		if err != nil {
			return nil, 0, fmt.Errorf("samples: %w", err)
		}
		for rows.Next() {
			var sid string
			var id int64
			if err := rows.Scan(&sid, &id); err != nil {
				rows.Close()
				return nil, 0, fmt.Errorf("samples: %w", err)
			}
			m[sid] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, 0, fmt.Errorf("samples: %w", err)
		}
		ids[src(d.Feature)+"\x00"+d.Feature.Layer] = m
	}
	var out []twin.DeviceInput
	missing := 0
	for _, d := range devs {
		in := twin.DeviceInput{ID: d.ID, Kind: d.Kind, Name: d.Name, Lon: ptr(d.Lon), Lat: ptr(d.Lat), IntervalS: ptr(float64(d.IntervalS))}
		if d.Feature != nil {
			id, ok := ids[src(d.Feature)+"\x00"+d.Feature.Layer][d.Feature.SourceID]
			if !ok {
				missing++
				continue
			}
			// a bound device takes its feature's point
			in.Feature = &twin.FeatureRef{Layer: d.Feature.Layer, ID: id}
			in.Lon, in.Lat = nil, nil
		}
		out = append(out, in)
	}
	return out, missing, nil
}

func ptr[T any](v T) *T { return &v }

// SimDevices turns registrations into the simulator's devices.
func SimDevices(devs []dezhou.Device) []simulate.Device {
	out := make([]simulate.Device, 0, len(devs))
	for _, d := range devs {
		out = append(out, simulate.Device{ID: d.ID, Kind: d.Kind, Lon: d.Lon, Lat: d.Lat, Interval: time.Duration(d.IntervalS) * time.Second, Params: d.Params})
	}
	return out
}
