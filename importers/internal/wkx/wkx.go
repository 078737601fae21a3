// Package wkx decodes the well-known geometry encodings that files carry:
// WKB as GeoPackage stores it (ISO, with Z, M or both), PostGIS's EWKB (its
// SRID too), their hex forms as a CSV export of a table holds them, WKT and
// EWKT ("SRID=4490;POLYGON Z (...)"), and a GeoJSON geometry in a text
// column. The twin's layers are two-dimensional, so Z and M are dropped.
//
// github.com/twpayne/go-geom does the decoding (orb's readers know XY
// only); this package turns its geometries into orb's.
package wkx

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/ewkb"
	"github.com/twpayne/go-geom/encoding/wkb"
	"github.com/twpayne/go-geom/encoding/wkt"
)

// EWKB's flags in the geometry type word.
const (
	ewkbZ    = 0x80000000
	ewkbM    = 0x40000000
	ewkbSRID = 0x20000000
)

// WKB decodes ISO WKB or EWKB. srid is the EWKB's SRID, 0 when it has none.
func WKB(b []byte) (g orb.Geometry, srid int, err error) {
	if len(b) < 5 {
		return nil, 0, fmt.Errorf("truncated WKB (%d bytes)", len(b))
	}
	var order binary.ByteOrder
	switch b[0] {
	case 0:
		order = binary.BigEndian
	case 1:
		order = binary.LittleEndian
	default:
		return nil, 0, fmt.Errorf("bad WKB byte order %d", b[0])
	}
	if _, err := walk(b, 0, order, 0); err != nil {
		return nil, 0, err
	}
	var t geom.T
	if order.Uint32(b[1:5])&(ewkbZ|ewkbM|ewkbSRID) != 0 {
		t, err = ewkb.Unmarshal(b)
	} else {
		t, err = wkb.Unmarshal(b)
	}
	if err != nil {
		return nil, 0, err
	}
	g, err = toOrb(t)
	return g, t.SRID(), err
}

// walk checks the WKB geometry at b[off:] (with the outer geometry's byte
// order for a start) and returns where it ends: every count must fit in the
// bytes that follow, so that a corrupt count cannot make the decoder
// allocate gigabytes, as go-geom, which trusts counts, would.
func walk(b []byte, off int, order binary.ByteOrder, depth int) (int, error) {
	if depth > 32 {
		return 0, fmt.Errorf("WKB nested too deep")
	}
	if off+5 > len(b) {
		return 0, fmt.Errorf("truncated WKB")
	}
	switch b[off] {
	case 0:
		order = binary.BigEndian
	case 1:
		order = binary.LittleEndian
	default:
		return 0, fmt.Errorf("bad WKB byte order %d", b[off])
	}
	t := order.Uint32(b[off+1:])
	off += 5
	dims := 2
	if t&ewkbZ != 0 {
		dims++
	}
	if t&ewkbM != 0 {
		dims++
	}
	if t&ewkbSRID != 0 {
		off += 4
	}
	t &^= ewkbZ | ewkbM | ewkbSRID
	switch t / 1000 {
	case 1, 2:
		dims++
	case 3:
		dims += 2
	}
	// count reads a count of items of at least size bytes each.
	count := func(size int) (int, error) {
		if off+4 > len(b) {
			return 0, fmt.Errorf("truncated WKB")
		}
		n := int(order.Uint32(b[off:]))
		off += 4
		if n > (len(b)-off)/size {
			return 0, fmt.Errorf("truncated WKB: %d items declared, %d bytes left", n, len(b)-off)
		}
		return n, nil
	}
	switch t % 1000 {
	case 1:
		off += 8 * dims
	case 2:
		n, err := count(8 * dims)
		if err != nil {
			return 0, err
		}
		off += n * 8 * dims
	case 3:
		rings, err := count(4)
		if err != nil {
			return 0, err
		}
		for range rings {
			n, err := count(8 * dims)
			if err != nil {
				return 0, err
			}
			off += n * 8 * dims
		}
	case 4, 5, 6, 7:
		n, err := count(5)
		if err != nil {
			return 0, err
		}
		for range n {
			if off, err = walk(b, off, order, depth+1); err != nil {
				return 0, err
			}
		}
	default:
		return 0, fmt.Errorf("unsupported WKB geometry type %d", t)
	}
	if off > len(b) {
		return 0, fmt.Errorf("truncated WKB")
	}
	return off, nil
}

// Text decodes a geometry written as text: WKT or EWKT, hex WKB or EWKB, or
// a GeoJSON geometry object. srid is the EWKT's or EWKB's SRID, 0 when it
// names none.
func Text(s string) (g orb.Geometry, srid int, err error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return nil, 0, fmt.Errorf("no geometry")
	case s[0] == '{':
		gg, err := geojson.UnmarshalGeometry([]byte(s))
		if err != nil {
			return nil, 0, fmt.Errorf("bad GeoJSON geometry: %v", err)
		}
		return gg.Geometry(), 0, nil
	case isHex(s):
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, 0, fmt.Errorf("bad hex WKB: %v", err)
		}
		g, srid, err = WKB(b)
		if err != nil {
			return nil, 0, fmt.Errorf("bad WKB: %v", err)
		}
		return g, srid, nil
	}
	if len(s) > 5 && strings.EqualFold(s[:5], "SRID=") {
		i := strings.IndexByte(s, ';')
		if i < 0 {
			return nil, 0, fmt.Errorf("bad EWKT: no ';' after SRID")
		}
		srid, err = strconv.Atoi(strings.TrimSpace(s[5:i]))
		if err != nil || srid < 0 {
			return nil, 0, fmt.Errorf("bad EWKT SRID %q", s[5:i])
		}
		s = strings.TrimSpace(s[i+1:])
	}
	t, err := wkt.Unmarshal(s)
	if err != nil {
		return nil, 0, fmt.Errorf("bad WKT: %v", err)
	}
	g, err = toOrb(t)
	if err != nil {
		return nil, 0, err
	}
	return g, srid, nil
}

// isHex reports whether s looks like hex WKB: hex digits only, an even
// number of them, starting with a byte order mark 00 or 01.
func isHex(s string) bool {
	if len(s) < 10 || len(s)%2 != 0 || s[0] != '0' || (s[1] != '0' && s[1] != '1') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// toOrb converts a go-geom geometry to orb's, keeping X and Y.
func toOrb(t geom.T) (orb.Geometry, error) {
	switch t := t.(type) {
	case *geom.Point:
		if t.Empty() {
			return nil, fmt.Errorf("empty point")
		}
		return point(t.FlatCoords()), nil
	case *geom.LineString:
		return lineString(t.FlatCoords(), t.Stride()), nil
	case *geom.Polygon:
		return polygon(t), nil
	case *geom.MultiPoint:
		mp := make(orb.MultiPoint, 0, t.NumPoints())
		for i := 0; i < t.NumPoints(); i++ {
			p := t.Point(i)
			if p.Empty() {
				continue
			}
			mp = append(mp, point(p.FlatCoords()))
		}
		return mp, nil
	case *geom.MultiLineString:
		ml := make(orb.MultiLineString, t.NumLineStrings())
		for i := range ml {
			l := t.LineString(i)
			ml[i] = lineString(l.FlatCoords(), l.Stride())
		}
		return ml, nil
	case *geom.MultiPolygon:
		mp := make(orb.MultiPolygon, t.NumPolygons())
		for i := range mp {
			mp[i] = polygon(t.Polygon(i))
		}
		return mp, nil
	case *geom.GeometryCollection:
		c := make(orb.Collection, 0, t.NumGeoms())
		for _, g := range t.Geoms() {
			o, err := toOrb(g)
			if err != nil {
				return nil, err
			}
			c = append(c, o)
		}
		return c, nil
	}
	return nil, fmt.Errorf("unsupported geometry type %T", t)
}

func point(c []float64) orb.Point { return orb.Point{c[0], c[1]} }

func lineString(flat []float64, stride int) orb.LineString {
	ls := make(orb.LineString, len(flat)/stride)
	for i := range ls {
		ls[i] = orb.Point{flat[i*stride], flat[i*stride+1]}
	}
	return ls
}

func polygon(p *geom.Polygon) orb.Polygon {
	out := make(orb.Polygon, p.NumLinearRings())
	for i := range out {
		r := p.LinearRing(i)
		out[i] = orb.Ring(lineString(r.FlatCoords(), r.Stride()))
	}
	return out
}
