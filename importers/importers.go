package importers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/importers/crs"
	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial"
	"github.com/citytwin/citytwin/spatial/load"
)

// Options say what to import and how.
type Options struct {
	Files       []string          // paths; a folder or .zip for shapefiles
	Format      string            // "" = detect
	Table       string            // GeoPackage: the one feature table to import ("" = all); also FILE.gpkg:TABLE
	Layer       string            // target layer; for multi-layer formats (osm, epanet, swmm, cityjson) "" = the format's default layers
	Source      string            // source name for (source, source_id) upsert; "" = derived from the file name
	CRS         string            // "" = from file (.prj, CityJSON metadata) or EPSG:4326; "EPSG:nnnn", "gcj02", "bd09"
	Map         map[string]string // source field -> attribute
	IDField     string
	DryRun      bool
	SkipInvalid bool
	Progress    func(Progress) // may be nil

	// Actor is recorded in the audit log ("cli" when empty).
	Actor string
}

// Progress tells how far an import is.
type Progress struct {
	Read       int64  `json:"read"`
	Written    int64  `json:"written"`
	Stage      string `json:"stage"`
	BytesDone  int64  `json:"bytes_done"`
	BytesTotal int64  `json:"bytes_total"`
}

// Report tells what an import did.
type Report struct {
	Read, Inserted, Updated, Unchanged, Repaired, Rejected int64
	Rejections                                             []Rejection /* first N */
	Layers                                                 map[string]int64
	Duration                                               time.Duration
}

// Rejection is a record that was not imported, and why.
type Rejection struct {
	File   string `json:"file,omitempty"`
	Record int64  `json:"record"`
	Reason string `json:"reason"`
}

// MarshalJSON writes the report with snake_case names and the duration in
// seconds.
func (r Report) MarshalJSON() ([]byte, error) {
	rej := r.Rejections
	if rej == nil {
		rej = []Rejection{}
	}
	return json.Marshal(map[string]any{
		"read": r.Read, "inserted": r.Inserted, "updated": r.Updated, "unchanged": r.Unchanged, "repaired": r.Repaired,
		"rejected": r.Rejected, "rejections": rej, "layers": r.Layers, "duration_s": r.Duration.Seconds(),
	})
}

// Scanner is one format's reader, in the manner of osm.Scanner.
type Scanner interface {
	Scan() bool
	// Record is the current feature. Its Layer is set by multi-layer
	// formats; its Decode, if set, parses it (in a loader worker).
	Record() *load.Record
	Err() error
	Close() error
}

// input is one opened file.
type input struct {
	file    string
	scanner Scanner
	// layers the format produces by default (multi-layer formats).
	layers []string
	// crs found in the file ("" when it says nothing), and its EPSG code.
	crs  string
	srid int
	// local is true when the file's coordinates are local (EPANET, SWMM).
	local  bool
	format string
	closer io.Closer
}

// Run imports opts.Files into the store: each file read by its format's
// scanner, checked, reprojected and loaded in one transaction. Returns
// EINVALID for bad options, unreadable or malformed files and rejected
// records (unless SkipInvalid); the database is then as it was.
func Run(ctx context.Context, store *spatial.Store, logger *slog.Logger, opts Options) (*Report, error) {
	start := time.Now()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if len(opts.Files) == 0 {
		return nil, errs.Invalid("files", "no file to import")
	}
	if opts.Format != "" && !knownFormat(opts.Format) {
		return nil, errs.Invalid("format", "unknown format %q (one of %s)", opts.Format, strings.Join(Formats, ", "))
	}
	var bytesTotal int64
	var counted atomic.Int64
	var inputs []*input
	defer func() {
		for _, in := range inputs {
			in.scanner.Close()
			if in.closer != nil {
				in.closer.Close()
			}
		}
	}()
	for _, f := range opts.Files {
		if fi, err := os.Stat(filePath(f, opts)); err == nil && !fi.IsDir() {
			bytesTotal += fi.Size()
		}
		in, err := open(ctx, f, opts, &counted)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, in)
	}
	// Target layers.
	layerNames := map[string]bool{}
	for _, in := range inputs {
		if opts.Layer != "" {
			layerNames[opts.Layer] = true
			continue
		}
		if len(in.layers) == 0 {
			return nil, errs.Invalid("layer", "%s: give the target layer (--layer) for %s files", filepath.Base(in.file), in.format)
		}
		for _, l := range in.layers {
			layerNames[l] = true
		}
	}
	var layers []*spatial.Layer
	for name := range layerNames {
		l, err := store.Registry.Layer(name)
		if err != nil {
			// A new user layer, created in the load's transaction.
			l = &spatial.Layer{Name: name, Title: name, Table: "user_features", GeomType: "Geometry", User: true}
			if !validUserLayer(name) {
				return nil, errs.Invalid("layer", "unknown layer %q; a new layer's name must be lower case letters, digits and _ starting with a letter", name)
			}
		}
		layers = append(layers, l)
	}
	sort.Slice(layers, func(i, j int) bool { return layers[i].Name < layers[j].Name })

	// CRS: --crs for the whole import, else each file's own (.prj, crs
	// member, metadata; per table or record where the file says so).
	lopts := load.Options{SkipInvalid: opts.SkipInvalid, DryRun: opts.DryRun, Actor: opts.Actor, Logger: logger}
	crsNames := map[string]string{}
	if opts.CRS != "" {
		cr, err := crs.Parse(opts.CRS)
		if err != nil {
			return nil, err
		}
		lopts.SRID = cr.SRID
		if cr.Transform != nil {
			lopts.Transform = func(g orb.Geometry) (orb.Geometry, error) { return crs.Apply(g, cr.Transform), nil }
		}
		crsNames["*"] = opts.CRS
	} else {
		for _, in := range inputs {
			if in.local {
				return nil, errs.Invalid("crs", "%s: the coordinates of %s files are local; give their CRS with --crs (e.g. EPSG:4547)", filepath.Base(in.file), in.format)
			}
			if in.crs == "" {
				continue
			}
			cr, err := crs.Parse(in.crs)
			if err != nil {
				return nil, errs.Invalid("crs", "%s: %v; give its CRS with --crs", filepath.Base(in.file), errs.Message(err))
			}
			if cr.Transform != nil {
				return nil, errs.Invalid("crs", "%s: its CRS %s is not an EPSG one; give it with --crs", filepath.Base(in.file), in.crs)
			}
			if err := load.CheckSRID(ctx, store, cr.SRID); err != nil {
				return nil, err
			}
			in.srid = cr.SRID
			crsNames[filepath.Base(in.file)] = in.crs
		}
	}
	lopts.AuditDetail = map[string]any{"files": baseNames(opts.Files), "crs": crsNames}

	// Only the wanted layers of multi-layer formats.
	filter := map[string]bool{}
	for _, l := range layers {
		filter[l.Name] = true
	}
	fields := newFieldMap(layers)
	i := 0
	var recNo int64
	next := func() (*load.Record, error) {
		for i < len(inputs) {
			in := inputs[i]
			if !in.scanner.Scan() {
				if err := in.scanner.Err(); err != nil {
					return nil, err
				}
				i++
				continue
			}
			r := in.scanner.Record()
			recNo++
			if r.Layer == "" || (opts.Layer != "" && in.format == "gpkg") {
				// GeoPackage tables all go to the layer asked for.
				r.Layer = opts.Layer
			} else if opts.Layer != "" && r.Layer != opts.Layer {
				continue
			}
			if !filter[r.Layer] {
				continue
			}
			r.Source = opts.Source
			if r.Source == "" {
				r.Source = sourceName(in.file)
			}
			post := postProcess(opts, in.format, in.srid, fields)
			if d := r.Decode; d != nil {
				r.Decode = func(r *load.Record) error {
					if err := d(r); err != nil {
						return err
					}
					return post(r)
				}
			} else {
				r.Decode = post
			}
			return r, nil
		}
		return nil, nil
	}
	if opts.Progress != nil {
		opts.Progress(Progress{Stage: "reading", BytesTotal: bytesTotal})
		lopts.Progress = func(read, written int64) {
			opts.Progress(Progress{Read: read, Written: written, Stage: "loading", BytesDone: counted.Load(), BytesTotal: bytesTotal})
		}
	}
	res, err := load.Load(ctx, store, layers, next, lopts)
	if err != nil {
		return nil, err
	}
	rep := &Report{Read: res.Read, Inserted: res.Inserted, Updated: res.Updated, Unchanged: res.Unchanged, Repaired: res.Repaired,
		Rejected: res.Rejected, Layers: res.Layers, Duration: time.Since(start)}
	for _, r := range res.Rejections {
		rep.Rejections = append(rep.Rejections, Rejection(r))
	}
	if opts.Progress != nil {
		opts.Progress(Progress{Read: res.Read, Written: res.Inserted + res.Updated + res.Unchanged, Stage: "done", BytesDone: bytesTotal, BytesTotal: bytesTotal})
	}
	logger.Info("import done", "files", baseNames(opts.Files), "read", rep.Read, "inserted", rep.Inserted, "updated", rep.Updated, "unchanged", rep.Unchanged,
		"repaired", rep.Repaired, "rejected", rep.Rejected, "dry_run", opts.DryRun, "took", rep.Duration.Round(time.Millisecond))
	return rep, nil
}

func validUserLayer(name string) bool {
	if name == "" || len(name) > 63 || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func baseNames(files []string) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = filepath.Base(f)
	}
	return out
}

// sourceName derives a source name from a file name: its base name without
// extensions.
func sourceName(file string) string {
	b := filepath.Base(strings.TrimRight(file, "/"))
	if i := strings.Index(b, "."); i > 0 {
		b = b[:i]
	}
	return b
}

// postProcess applies attribute mapping (--map first, then fields named
// like the layer's attributes, for the generic formats) and picks the
// source id.
func postProcess(opts Options, format string, srid int, fields fieldMap) func(*load.Record) error {
	generic := genericFormats[format]
	return func(r *load.Record) error {
		if r.Props == nil {
			r.Props = map[string]any{}
		}
		if opts.CRS != "" {
			r.SRID = 0 // --crs overrides what the file says
		} else if r.SRID == 0 {
			r.SRID = srid
		}
		for from, to := range opts.Map {
			if v, ok := r.Props[from]; ok {
				delete(r.Props, from)
				r.Props[to] = v
			}
		}
		if generic {
			fields.apply(r)
		}
		switch {
		case opts.IDField != "":
			v, ok := r.Props[opts.IDField]
			if !ok || v == nil || fmt.Sprint(v) == "" {
				if opts.Map[opts.IDField] != "" {
					v, ok = r.Props[opts.Map[opts.IDField]]
				}
				if !ok || v == nil || fmt.Sprint(v) == "" {
					return errs.Invalid("id", "no value in the id field %q", opts.IDField)
				}
			}
			r.SourceID = idString(v)
		case r.SourceID != "":
		case r.Props["id"] != nil:
			// The "id" property became the source id: not kept twice.
			r.SourceID = idString(r.Props["id"])
			delete(r.Props, "id")
		default:
			r.SourceID = strconv.FormatInt(r.Num, 10)
		}
		return nil
	}
}

func idString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	}
	return fmt.Sprint(v)
}
