package importers

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/citytwin/citytwin/importers/cityjson"
	"github.com/citytwin/citytwin/importers/csv"
	"github.com/citytwin/citytwin/importers/epanet"
	"github.com/citytwin/citytwin/importers/geojson"
	"github.com/citytwin/citytwin/importers/gpkg"
	"github.com/citytwin/citytwin/importers/osm"
	"github.com/citytwin/citytwin/importers/shapefile"
	"github.com/citytwin/citytwin/importers/swmm"
	"github.com/citytwin/citytwin/internal/errs"
)

// Formats are the format names Options.Format takes.
var Formats = []string{"geojson", "csv", "shapefile", "gpkg", "osm", "cityjson", "epanet", "swmm"}

func knownFormat(f string) bool { return slices.Contains(Formats, f) }

// countingReader counts the bytes read, for progress.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Detect names the format of file from its name and first bytes.
func Detect(file string) (string, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return "", errs.Invalid("file", "%s: %v", filepath.Base(file), unwrapPathErr(err))
	}
	if fi.IsDir() {
		return "shapefile", nil
	}
	name := strings.ToLower(filepath.Base(file))
	switch {
	case strings.HasSuffix(name, ".osm.pbf"), strings.HasSuffix(name, ".pbf"), strings.HasSuffix(name, ".osm"), strings.HasSuffix(name, ".osm.xml"), strings.HasSuffix(name, ".osm.bz2"):
		return "osm", nil
	case strings.HasSuffix(name, ".shp"), strings.HasSuffix(name, ".zip"):
		return "shapefile", nil
	case strings.HasSuffix(name, ".gpkg"):
		return "gpkg", nil
	case strings.HasSuffix(name, ".csv"), strings.HasSuffix(name, ".tsv"), strings.HasSuffix(name, ".txt"):
		return "csv", nil
	case strings.HasSuffix(name, ".city.json"), strings.HasSuffix(name, ".city.jsonl"), strings.HasSuffix(name, ".cityjson"):
		return "cityjson", nil
	case strings.HasSuffix(name, ".inp"):
		return detectINP(file)
	case strings.HasSuffix(name, ".json"), strings.HasSuffix(name, ".geojson"), strings.HasSuffix(name, ".ndjson"),
		strings.HasSuffix(name, ".geojsonl"), strings.HasSuffix(name, ".geojsons"), strings.HasSuffix(name, ".jsonl"):
		f, err := os.Open(file)
		if err != nil {
			return "", errs.Invalid("file", "%s: %v", filepath.Base(file), unwrapPathErr(err))
		}
		defer f.Close()
		head := make([]byte, 4096)
		n, _ := io.ReadFull(f, head)
		if bytes.Contains(head[:n], []byte(`"CityJSON"`)) || bytes.Contains(head[:n], []byte(`"CityJSONFeature"`)) || bytes.Contains(head[:n], []byte(`"CityObjects"`)) {
			return "cityjson", nil
		}
		return "geojson", nil
	}
	return "", errs.Invalid("format", "%s: cannot tell the format from the name; give --format (one of %s)", filepath.Base(file), strings.Join(Formats, ", "))
}

// detectINP tells EPANET from SWMM input files by their sections.
func detectINP(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", errs.Invalid("file", "%s: %v", filepath.Base(file), unwrapPathErr(err))
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := strings.ToUpper(strings.TrimSpace(sc.Text()))
		switch l {
		case "[CONDUITS]", "[SUBCATCHMENTS]", "[OUTFALLS]", "[STORAGE]", "[XSECTIONS]":
			return "swmm", nil
		case "[PIPES]", "[RESERVOIRS]", "[TANKS]", "[PUMPS]", "[VALVES]":
			return "epanet", nil
		}
	}
	return "", errs.Invalid("format", "%s: neither an EPANET nor a SWMM input file (no [PIPES] or [CONDUITS] section)", filepath.Base(file))
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// splitTable splits "city.gpkg:buildings" into the file and the table it
// names; a file that exists by its whole name is taken as it is. The table
// defaults to opts.Table.
func splitTable(file string, opts Options) (string, string) {
	table := opts.Table
	if _, err := os.Stat(file); err == nil {
		return file, table
	}
	lower := strings.ToLower(file)
	if i := strings.LastIndex(lower, ".gpkg:"); i >= 0 && i+6 < len(file) {
		return file[:i+5], file[i+6:]
	}
	return file, table
}

// open opens one file with its format's scanner.
func open(ctx context.Context, file string, opts Options, counted *atomic.Int64) (*input, error) {
	file, table := splitTable(file, opts)
	format := opts.Format
	if format == "" {
		var err error
		if format, err = Detect(file); err != nil {
			return nil, err
		}
	}
	if table != "" && format != "gpkg" && opts.Table == "" {
		return nil, errs.Invalid("table", "%s: only a GeoPackage has tables to choose from", filepath.Base(file))
	}
	base := filepath.Base(file)
	in := &input{file: file, format: format}
	openFile := func() (io.Reader, error) {
		f, err := os.Open(file)
		if err != nil {
			return nil, errs.Invalid("file", "%s: %v", base, unwrapPathErr(err))
		}
		in.closer = f
		return &countingReader{r: f, n: counted}, nil
	}
	switch format {
	case "geojson":
		r, err := openFile()
		if err != nil {
			return nil, err
		}
		s, err := geojson.NewScanner(r, base)
		if err != nil {
			return nil, err
		}
		in.scanner, in.crs = s, s.CRS()
	case "osm":
		r, err := openFile()
		if err != nil {
			return nil, err
		}
		lower := strings.ToLower(base)
		if strings.HasSuffix(lower, ".bz2") {
			r = bzip2.NewReader(r)
		}
		br := bufio.NewReader(r)
		head, _ := br.Peek(16)
		pbf := bytes.Contains(head, []byte("OSMHeader"))
		s, err := osm.NewScanner(ctx, br, base, pbf)
		if err != nil {
			return nil, err
		}
		in.scanner, in.layers = s, osm.Layers
	case "shapefile":
		s, err := shapefile.Open(file)
		if err != nil {
			return nil, err
		}
		in.scanner, in.crs = s, s.PRJ
	case "csv":
		r, err := openFile()
		if err != nil {
			return nil, err
		}
		s, err := csv.NewScanner(r, base)
		if err != nil {
			return nil, err
		}
		in.scanner = s
	case "gpkg":
		s, err := gpkg.Open(file, base)
		if err != nil {
			return nil, err
		}
		if table != "" {
			if err := s.Select(table); err != nil {
				s.Close()
				return nil, err
			}
		}
		in.scanner, in.layers = s, s.Layers()
		if opts.CRS == "" {
			if in.crs, err = s.CRS(); err != nil {
				s.Close()
				return nil, err
			}
		}
	case "cityjson":
		r, err := openFile()
		if err != nil {
			return nil, err
		}
		s, err := cityjson.NewScanner(r, base)
		if err != nil {
			return nil, err
		}
		in.scanner, in.crs, in.layers = s, s.CRS(), cityjson.Layers
	case "epanet", "swmm":
		r, err := openFile()
		if err != nil {
			return nil, err
		}
		if format == "epanet" {
			s, err := epanet.NewScanner(r, base)
			if err != nil {
				return nil, err
			}
			in.scanner, in.layers = s, epanet.Layers
		} else {
			s, err := swmm.NewScanner(r, base)
			if err != nil {
				return nil, err
			}
			in.scanner, in.layers = s, swmm.Layers
		}
		in.local = true
	default:
		return nil, errs.Invalid("format", "%s: the %s format is not supported yet", base, format)
	}
	_ = ctx
	return in, nil
}

var _ = fmt.Sprint

// filePath is the path of file, without a ":TABLE" suffix.
func filePath(file string, opts Options) string {
	p, _ := splitTable(file, opts)
	return p
}
