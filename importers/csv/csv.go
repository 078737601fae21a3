// Package csv reads CSV (and TSV) tables of features: a point per row from
// longitude/latitude columns (lon, lng, longitude, x, 经度 / lat, latitude,
// y, 纬度), or any geometry from a geometry column (wkt, geom, geometry,
// the_geom, shape) holding WKT or EWKT (with Z or M), hex WKB or EWKB (what
// a CSV export of a PostGIS table holds), or a GeoJSON geometry; an SRID the
// EWKT or EWKB names is the record's CRS unless --crs is given. Text may be
// UTF-8 (with or without BOM) or GBK/GB18030, as Chinese municipal exports
// often are; the encoding is detected from the file's start, and a field
// that is not UTF-8 further on is read as GB18030. Rows of empty fields (as
// spreadsheets save after the data) are skipped. The delimiter (comma,
// semicolon, tab) is detected from the header line.
package csv

import (
	"bufio"
	stdcsv "encoding/csv"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/paulmach/orb"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/citytwin/citytwin/importers/internal/wkx"
	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial/load"
)

var (
	lonNames = []string{"lon", "lng", "long", "longitude", "x", "经度", "東經", "东经"}
	latNames = []string{"lat", "latitude", "y", "纬度", "北纬"}
	wktNames = []string{"wkt", "geom", "geometry", "the_geom", "shape", "geom_wkt", "wkb_geometry", "几何"}
)

// Scanner reads rows of a CSV file as features.
type Scanner struct {
	File string
	// Encoding is "utf-8" or "gb18030", as detected.
	Encoding string

	r        *stdcsv.Reader
	header   []string
	lon, lat int
	wkt      int
	n        int64
	rec      *load.Record
	err      error
}

// NewScanner reads the header of the CSV in r. Returns EINVALID when the
// header names no geometry columns.
func NewScanner(r io.Reader, file string) (*Scanner, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, _ := br.Peek(1 << 16)
	s := &Scanner{File: file, Encoding: "utf-8", lon: -1, lat: -1, wkt: -1}
	var text io.Reader = br
	if len(head) >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF {
		br.Discard(3)
	} else if !validUTF8Prefix(head) {
		s.Encoding = "gb18030"
		text = simplifiedchinese.GB18030.NewDecoder().Reader(br)
	}
	delim := ','
	if i := strings.IndexByte(string(head), '\n'); i > 0 {
		first := string(head[:i])
		if strings.Count(first, "\t") > strings.Count(first, ",") {
			delim = '\t'
		} else if strings.Count(first, ";") > strings.Count(first, ",") {
			delim = ';'
		}
	}
	s.r = stdcsv.NewReader(text)
	s.r.Comma = delim
	s.r.FieldsPerRecord = -1
	s.r.LazyQuotes = true
	s.r.ReuseRecord = false
	h, err := s.r.Read()
	if err != nil {
		if err == io.EOF {
			return nil, errs.Invalid(file, "empty CSV file")
		}
		return nil, errs.Invalid(file, "CSV header: %v", err)
	}
	for i, c := range h {
		h[i] = strings.TrimSpace(c)
		lc := strings.ToLower(h[i])
		switch {
		case s.lon < 0 && contains(lonNames, lc):
			s.lon = i
		case s.lat < 0 && contains(latNames, lc):
			s.lat = i
		case s.wkt < 0 && contains(wktNames, lc):
			s.wkt = i
		}
	}
	s.header = h
	if s.wkt < 0 && (s.lon < 0 || s.lat < 0) {
		return nil, errs.Invalid(file, "the CSV header %q has neither longitude/latitude columns (lon, lat, x, y, 经度, 纬度) nor a WKT column (wkt, geom)", strings.Join(h, string(delim)))
	}
	return s, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// blank reports whether every field of row is empty or white space.
func blank(row []string) bool {
	for _, f := range row {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// validUTF8Prefix reports whether b is UTF-8, allowing a rune cut at its end.
func validUTF8Prefix(b []byte) bool {
	for i := 0; i < 3 && len(b) > 0 && !utf8.Valid(b); i++ {
		b = b[:len(b)-1]
	}
	return utf8.Valid(b)
}

// Scan advances to the next row.
func (s *Scanner) Scan() bool {
	if s.err != nil {
		return false
	}
	var row []string
	for {
		var err error
		row, err = s.r.Read()
		if err == io.EOF {
			return false
		}
		if err != nil {
			var pe *stdcsv.ParseError
			if errors.As(err, &pe) {
				s.err = errs.Invalid(s.File, "malformed CSV at line %d: %v", pe.Line, pe.Err)
			} else {
				s.err = errs.Invalid(s.File, "CSV: %v", err)
			}
			return false
		}
		s.n++
		// Spreadsheets save rows of empty cells after the data.
		if !blank(row) {
			break
		}
	}
	rec := &load.Record{File: s.File, Num: s.n}
	header, lon, lat, wk := s.header, s.lon, s.lat, s.wkt
	rec.Decode = func(r *load.Record) error {
		if len(row) != len(header) {
			return errs.Invalid("row", "%d fields, the header has %d", len(row), len(header))
		}
		props := make(map[string]any, len(row))
		for i, v := range row {
			if !utf8.ValidString(v) {
				// Detected as UTF-8 from the file's start, but GBK text
				// can come late (thousands of ASCII rows first).
				if d, err := simplifiedchinese.GB18030.NewDecoder().String(v); err == nil {
					row[i], v = d, d
				}
			}
			if i == lon || i == lat || i == wk {
				continue
			}
			props[header[i]] = v
		}
		r.Props = props
		if wk >= 0 && strings.TrimSpace(row[wk]) != "" {
			g, srid, err := wkx.Text(row[wk])
			if err != nil {
				return errs.Invalid(header[wk], "%v", err)
			}
			r.Geom, r.SRID = g, srid
			return nil
		}
		if lon < 0 {
			return errs.Invalid(header[wk], "no geometry")
		}
		x, err := strconv.ParseFloat(strings.TrimSpace(row[lon]), 64)
		if err != nil {
			return errs.Invalid(header[lon], "%q is not a number", row[lon])
		}
		y, err := strconv.ParseFloat(strings.TrimSpace(row[lat]), 64)
		if err != nil {
			return errs.Invalid(header[lat], "%q is not a number", row[lat])
		}
		r.Geom = orb.Point{x, y}
		return nil
	}
	s.rec = rec
	return true
}

// Record returns the current row.
func (s *Scanner) Record() *load.Record { return s.rec }

// Err returns the error that stopped the scan.
func (s *Scanner) Err() error { return s.err }

// Close does nothing: the caller owns the reader.
func (s *Scanner) Close() error { return nil }
