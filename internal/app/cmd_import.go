package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/citytwin/citytwin/importers"
	"github.com/citytwin/citytwin/internal/config"
)

// mapFlag collects repeated --map source=attribute flags.
type mapFlag map[string]string

func (m mapFlag) String() string { return fmt.Sprint(map[string]string(m)) }

func (m mapFlag) Set(s string) error {
	from, to, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(from) == "" || strings.TrimSpace(to) == "" {
		return fmt.Errorf("--map takes source_field=attribute, got %q", s)
	}
	m[strings.TrimSpace(from)] = strings.TrimSpace(to)
	return nil
}

// runImport is the "citytwin import FILE... --layer LAYER" command.
func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := config.Default()
	fs := flag.NewFlagSet("citytwin import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: citytwin import FILE... --layer LAYER [--format F] [--table T] [--crs C] [--map a=b]... [--id-field F] [--source S] [--dry-run] [--skip-invalid]")
		fmt.Fprintln(stderr, "\nA GeoPackage imports every feature table, or the one named by --table or as FILE.gpkg:TABLE.")
		fmt.Fprintf(stderr, "\nFormats: %s (detected from the file when --format is not given).\n\n", strings.Join(importers.Formats, ", "))
		fs.PrintDefaults()
	}
	cfg.DatabaseFlags(fs)
	var opts importers.Options
	m := mapFlag{}
	fs.StringVar(&opts.Layer, "layer", "", "target layer (a new name creates a user layer); multi-layer formats (osm, epanet, swmm, cityjson) default to their layers")
	fs.StringVar(&opts.Format, "format", "", "input format; detected when empty")
	fs.StringVar(&opts.Table, "table", "", "GeoPackage: import only this feature table (also FILE.gpkg:TABLE)")
	fs.StringVar(&opts.CRS, "crs", "", "CRS of the input: EPSG:nnnn, gcj02 or bd09; default from the file (.prj, metadata) or EPSG:4326")
	fs.Var(m, "map", "map a source field to an attribute: source_field=attribute (repeatable)")
	fs.StringVar(&opts.IDField, "id-field", "", "source field holding each feature's id (for upserts)")
	fs.StringVar(&opts.Source, "source", "", "source name for upserts; default from the file name")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "read, check and stage everything, then roll back")
	fs.BoolVar(&opts.SkipInvalid, "skip-invalid", false, "import the valid records and report the rejected ones")
	// Flags and files may be interleaved.
	rest := args
	for {
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		opts.Files = append(opts.Files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(opts.Files) == 0 {
		return &UsageError{"import: give at least one FILE"}
	}
	opts.Map = m
	a := New(cfg, stdout, stderr)
	defer a.Close()
	if err := a.OpenDB(ctx); err != nil {
		return err
	}
	var bar *progressbar.ProgressBar
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		opts.Progress = func(p importers.Progress) {
			if bar == nil {
				total := p.BytesTotal
				if total == 0 {
					total = -1
				}
				bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(stderr), progressbar.OptionShowBytes(true),
					progressbar.OptionSetDescription("importing"), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
			}
			bar.Describe(fmt.Sprintf("%s: %d read, %d staged", p.Stage, p.Read, p.Written))
			_ = bar.Set64(p.BytesDone)
			if p.Stage == "done" {
				_ = bar.Finish()
			}
		}
	} else {
		last := time.Time{}
		opts.Progress = func(p importers.Progress) {
			if p.Stage != "done" && time.Since(last) < 2*time.Second {
				return
			}
			last = time.Now()
			pct := ""
			if p.BytesTotal > 0 {
				pct = fmt.Sprintf(" (%.0f%% of %d bytes)", 100*float64(p.BytesDone)/float64(p.BytesTotal), p.BytesTotal)
			}
			fmt.Fprintf(stderr, "import: %s: %d read, %d written%s\n", p.Stage, p.Read, p.Written, pct)
		}
	}
	rep, err := importers.Run(ctx, a.Store, a.Logger, opts)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	printReport(stdout, rep, opts.DryRun)
	return nil
}

func printReport(w io.Writer, r *importers.Report, dryRun bool) {
	verb := "imported"
	if dryRun {
		verb = "dry run (nothing written)"
	}
	fmt.Fprintf(w, "%s in %s: read %d, inserted %d, updated %d, unchanged %d, repaired %d, rejected %d\n",
		verb, r.Duration.Round(time.Millisecond), r.Read, r.Inserted, r.Updated, r.Unchanged, r.Repaired, r.Rejected)
	names := make([]string, 0, len(r.Layers))
	for n := range r.Layers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %s: %d\n", n, r.Layers[n])
	}
	if len(r.Rejections) > 0 {
		fmt.Fprintf(w, "first rejections:\n")
		for _, j := range r.Rejections {
			fmt.Fprintf(w, "  %s record %d: %s\n", j.File, j.Record, j.Reason)
		}
	}
	if d := r.Duration.Seconds(); d > 0 && r.Read > 0 {
		fmt.Fprintf(w, "%.0f features/s\n", float64(r.Read)/d)
	}
}
