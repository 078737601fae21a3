package dezhou

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// xy is a point in the district's local frame: metres east (X) and north (Y)
// of the frame's origin.
type xy struct{ X, Y float64 }

// frame turns local metres into WGS84 longitude/latitude with an
// equirectangular projection about the origin, which is exact to well under
// a metre over a city.
type frame struct {
	lon0, lat0 float64
	mLon, mLat float64 // metres per degree
}

func newFrame(lon0, lat0 float64) frame {
	phi := lat0 * math.Pi / 180
	return frame{
		lon0: lon0, lat0: lat0,
		mLat: 111132.92 - 559.82*math.Cos(2*phi) + 1.175*math.Cos(4*phi),
		mLon: 111412.84*math.Cos(phi) - 93.5*math.Cos(3*phi),
	}
}

func (f frame) lonLat(p xy) (float64, float64) {
	return f.lon0 + p.X/f.mLon, f.lat0 + p.Y/f.mLat
}

// LocalXY returns the local metres of a longitude/latitude (for tests).
func (f frame) local(lon, lat float64) xy {
	return xy{(lon - f.lon0) * f.mLon, (lat - f.lat0) * f.mLat}
}

// line builds one NDJSON GeoJSON feature. Fields are written in the order
// they are added, so the same calls give the same bytes.
type line struct {
	b     []byte
	props int
	f     *frame
}

func (l *line) start(id string) {
	l.b = append(l.b[:0], `{"type":"Feature","id":`...)
	l.b = appendString(l.b, id)
	l.b = append(l.b, `,"properties":{`...)
	l.props = 0
}

func (l *line) key(k string) {
	if l.props > 0 {
		l.b = append(l.b, ',')
	}
	l.props++
	l.b = appendString(l.b, k)
	l.b = append(l.b, ':')
}

func (l *line) str(k, v string) {
	if v == "" {
		return
	}
	l.key(k)
	l.b = appendString(l.b, v)
}

func (l *line) num(k string, v float64, prec int) {
	l.key(k)
	l.b = strconv.AppendFloat(l.b, v, 'f', prec, 64)
}

func (l *line) int(k string, v int) {
	l.key(k)
	l.b = strconv.AppendInt(l.b, int64(v), 10)
}

func (l *line) bool(k string, v bool) {
	l.key(k)
	l.b = strconv.AppendBool(l.b, v)
}

func (l *line) strs(k string, vs []string) {
	l.key(k)
	l.b = append(l.b, '[')
	for i, v := range vs {
		if i > 0 {
			l.b = append(l.b, ',')
		}
		l.b = appendString(l.b, v)
	}
	l.b = append(l.b, ']')
}

func (l *line) coord(p xy) {
	lon, lat := l.f.lonLat(p)
	l.b = append(l.b, '[')
	l.b = strconv.AppendFloat(l.b, lon, 'f', 7, 64)
	l.b = append(l.b, ',')
	l.b = strconv.AppendFloat(l.b, lat, 'f', 7, 64)
	l.b = append(l.b, ']')
}

func (l *line) coords(ps []xy) {
	l.b = append(l.b, '[')
	for i, p := range ps {
		if i > 0 {
			l.b = append(l.b, ',')
		}
		l.coord(p)
	}
	l.b = append(l.b, ']')
}

func (l *line) point(p xy) {
	l.b = append(l.b, `},"geometry":{"type":"Point","coordinates":`...)
	l.coord(p)
	l.b = append(l.b, "}}\n"...)
}

func (l *line) lineString(ps []xy) {
	l.b = append(l.b, `},"geometry":{"type":"LineString","coordinates":`...)
	l.coords(ps)
	l.b = append(l.b, "}}\n"...)
}

func (l *line) multiLineString(parts ...[]xy) {
	l.b = append(l.b, `},"geometry":{"type":"MultiLineString","coordinates":[`...)
	for i, ps := range parts {
		if i > 0 {
			l.b = append(l.b, ',')
		}
		l.coords(ps)
	}
	l.b = append(l.b, "]}}\n"...)
}

// multiPolygon writes polygons given as exterior rings (closed, counter-
// clockwise as RFC 7946 wants).
func (l *line) multiPolygon(rings ...[]xy) {
	l.b = append(l.b, `},"geometry":{"type":"MultiPolygon","coordinates":[`...)
	for i, r := range rings {
		if i > 0 {
			l.b = append(l.b, ',')
		}
		l.b = append(l.b, '[')
		l.coords(r)
		l.b = append(l.b, ']')
	}
	l.b = append(l.b, "]}}\n"...)
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// layerFile is one output file with its feature count and bounds.
type layerFile struct {
	name   string
	path   string
	f      *os.File
	w      *bufio.Writer
	count  int64
	err    error
	closed bool
	// seen, if set, is given every line written (Options.Feature)
	seen func(layer string, line []byte)
}

// createLayerFile opens dir/name.ndjson; with dir "" it writes nothing and
// only counts (Options.Dir).
func createLayerFile(dir, name string) (*layerFile, error) {
	if dir == "" {
		return &layerFile{name: name, w: bufio.NewWriterSize(io.Discard, 1<<16)}, nil
	}
	p := filepath.Join(dir, name+".ndjson")
	f, err := os.Create(p)
	if err != nil {
		return nil, fmt.Errorf("dezhou: %w", err)
	}
	return &layerFile{name: name, path: p, f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (lf *layerFile) write(b []byte) {
	if lf.err != nil {
		return
	}
	_, lf.err = lf.w.Write(b)
	lf.count++
	if lf.seen != nil {
		lf.seen(lf.name, b)
	}
}

func (lf *layerFile) close() error {
	if lf.closed {
		return nil
	}
	lf.closed = true
	err := lf.err
	if e := lf.w.Flush(); err == nil {
		err = e
	}
	if lf.f != nil {
		if e := lf.f.Close(); err == nil {
			err = e
		}
	}
	if err != nil {
		return fmt.Errorf("dezhou: writing %s: %w", lf.path, err)
	}
	return nil
}

// rect returns the closed counter-clockwise ring of an axis-aligned box.
func rect(x0, y0, x1, y1 float64) []xy {
	return []xy{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}
}

func dist(a, b xy) float64 { return math.Hypot(a.X-b.X, a.Y-b.Y) }
