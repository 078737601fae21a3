package load

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/internal/errs"
)

// PostgreSQL's binary COPY format, written by hand so that the loader's
// workers encode rows in parallel and the COPY goroutine only moves bytes:
// a header, then per row an int16 field count and per field an int32 length
// (-1 for NULL) and the value in the type's binary send format; an int16 -1
// ends the stream. See the COPY page of the PostgreSQL manual.

// copyHeader is the signature, the flags and the header extension length.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00")

// copyTrailer ends a binary COPY stream.
var copyTrailer = []byte{0xff, 0xff}

// pgEpoch is PostgreSQL's epoch for dates and timestamps.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// colKind is the binary encoding of a column, from its type.
type colKind int

const (
	kText colKind = iota
	kInt2
	kInt4
	kInt8
	kFloat4
	kFloat8
	kBool
	kDate
	kTimestamptz
	kTimestamp
	kTextArray
)

// kindOf maps a column's udt_name to its encoding; false for types the
// direct path does not write (the staging path then handles the layer).
func kindOf(udt string) (colKind, bool) {
	switch udt {
	case "text", "varchar", "bpchar", "name":
		return kText, true
	case "int2":
		return kInt2, true
	case "int4":
		return kInt4, true
	case "int8":
		return kInt8, true
	case "float4":
		return kFloat4, true
	case "float8":
		return kFloat8, true
	case "bool":
		return kBool, true
	case "date":
		return kDate, true
	case "timestamptz":
		return kTimestamptz, true
	case "timestamp":
		return kTimestamp, true
	case "_text", "_varchar":
		return kTextArray, true
	}
	return 0, false
}

func be16(b []byte, v int16) []byte  { return binary.BigEndian.AppendUint16(b, uint16(v)) }
func be32(b []byte, v int32) []byte  { return binary.BigEndian.AppendUint32(b, uint32(v)) }
func be64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func putNull(b []byte) []byte { return append(b, 0xff, 0xff, 0xff, 0xff) }

func putInt8(b []byte, v int64) []byte { return be64(be32(b, 8), uint64(v)) }

func putFloat8(b []byte, v float64) []byte { return be64(be32(b, 8), math.Float64bits(v)) }

// putText writes s as text. PostgreSQL refuses invalid UTF-8 and NUL
// characters: invalid bytes become U+FFFD (as encoding/json does), a NUL is
// an error.
func putText(b []byte, s string) ([]byte, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return b, fmt.Errorf("text holds a NUL character")
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	b = be32(b, int32(len(s)))
	return append(b, s...), nil
}

// putJSONB writes JSON text (from encoding/json, so valid UTF-8) as jsonb.
func putJSONB(b, js []byte) ([]byte, error) {
	if strings.Contains(string(js), `\u0000`) {
		return b, fmt.Errorf("properties hold a NUL character, which PostgreSQL's jsonb cannot store")
	}
	b = be32(b, int32(len(js)+1))
	b = append(b, 1) // jsonb binary format version
	return append(b, js...), nil
}

// putBytes writes a bytea or any type whose binary form is given.
func putBytes(b, v []byte) []byte {
	b = be32(b, int32(len(v)))
	return append(b, v...)
}

// textOf is the text a text column gets for v, a value convert returned.
func textOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case []string:
		return "{" + strings.Join(x, ",") + "}"
	}
	return fmt.Sprint(v)
}

// floatOf is the number a float column gets for v, a value convert returned.
func floatOf(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	}
	return 0, false
}

// putValue writes v, a value convert returned, as a column of kind k.
func putValue(b []byte, k colKind, name string, v any) ([]byte, error) {
	if v == nil {
		return putNull(b), nil
	}
	bad := func(format string, args ...any) ([]byte, error) {
		return b, errs.Invalid(name, format, args...)
	}
	whole := func() (int64, bool) {
		switch x := v.(type) {
		case int64:
			return x, true
		case float64:
			if x == math.Trunc(x) && math.Abs(x) <= 1<<53 {
				return int64(x), true
			}
		}
		return 0, false
	}
	switch k {
	case kText:
		out, err := putText(b, textOf(v))
		if err != nil {
			return bad("%v", err)
		}
		return out, nil
	case kInt2, kInt4, kInt8:
		n, ok := whole()
		if !ok {
			return bad("%v is not a whole number", v)
		}
		switch {
		case k == kInt2 && (n < math.MinInt16 || n > math.MaxInt16),
			k == kInt4 && (n < math.MinInt32 || n > math.MaxInt32):
			return bad("%d is out of range", n)
		case k == kInt2:
			return be16(be32(b, 2), int16(n)), nil
		case k == kInt4:
			return be32(be32(b, 4), int32(n)), nil
		}
		return putInt8(b, n), nil
	case kFloat4, kFloat8:
		f, ok := floatOf(v)
		if !ok {
			return bad("%v is not a number", v)
		}
		if k == kFloat4 {
			return be32(be32(b, 4), int32(math.Float32bits(float32(f)))), nil
		}
		return putFloat8(b, f), nil
	case kBool:
		x, ok := v.(bool)
		if !ok {
			return bad("%v is not a yes/no value", v)
		}
		if x {
			return append(be32(b, 1), 1), nil
		}
		return append(be32(b, 1), 0), nil
	case kDate, kTimestamptz, kTimestamp:
		t, ok := v.(time.Time)
		if !ok {
			return bad("%v is not a date", v)
		}
		switch k {
		case kDate:
			d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
			return be32(be32(b, 4), int32(d.Sub(pgEpoch)/(24*time.Hour))), nil
		case kTimestamp:
			// Wall clock time, as pgx writes a time.Time to a timestamp.
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
		}
		us := t.Unix()*1_000_000 + int64(t.Nanosecond()/1000) - pgEpoch.Unix()*1_000_000
		return putInt8(b, us), nil
	case kTextArray:
		x, ok := v.([]string)
		if !ok {
			return bad("%v is not a list", v)
		}
		start := len(b)
		b = be32(b, 0) // length, set below
		if len(x) == 0 {
			b = be32(b, 0)  // dimensions
			b = be32(b, 0)  // has nulls
			b = be32(b, 25) // element type: text
		} else {
			b = be32(b, 1)
			b = be32(b, 0)
			b = be32(b, 25)
			b = be32(b, int32(len(x))) // dimension size
			b = be32(b, 1)             // lower bound
			var err error
			for _, s := range x {
				if b, err = putText(b, s); err != nil {
					return bad("%v", err)
				}
			}
		}
		binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
		return b, nil
	}
	return bad("unsupported column type")
}

// EWKB (little endian) with SRID 4326 on the outer geometry: PostGIS's
// geometry_recv reads it as is.
const (
	wkbSRIDFlag = 0x20000000
	wkbZFlag    = 0x80000000
	wkbMFlag    = 0x40000000
)

func le32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func lef64(b []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
}

// putGeometry writes g as a geometry column: EWKB with SRID 4326.
func putGeometry(b []byte, g orb.Geometry) ([]byte, error) {
	start := len(b)
	b = be32(b, 0)
	b, err := appendEWKB(b, g, true)
	if err != nil {
		return b[:start], err
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b, nil
}

func wkbHeader(b []byte, typ uint32, srid bool) []byte {
	b = append(b, 1)
	if srid {
		return le32(le32(b, typ|wkbSRIDFlag), 4326)
	}
	return le32(b, typ)
}

func appendPoints(b []byte, ps []orb.Point) []byte {
	b = le32(b, uint32(len(ps)))
	for _, p := range ps {
		b = lef64(lef64(b, p[0]), p[1])
	}
	return b
}

func appendEWKB(b []byte, g orb.Geometry, srid bool) ([]byte, error) {
	switch g := g.(type) {
	case orb.Point:
		b = wkbHeader(b, 1, srid)
		return lef64(lef64(b, g[0]), g[1]), nil
	case orb.LineString:
		return appendPoints(wkbHeader(b, 2, srid), g), nil
	case orb.Polygon:
		b = le32(wkbHeader(b, 3, srid), uint32(len(g)))
		for _, r := range g {
			b = appendPoints(b, r)
		}
		return b, nil
	case orb.Ring:
		return appendEWKB(b, orb.Polygon{g}, srid)
	case orb.Bound:
		return appendEWKB(b, g.ToPolygon(), srid)
	case orb.MultiPoint:
		b = le32(wkbHeader(b, 4, srid), uint32(len(g)))
		for _, p := range g {
			b, _ = appendEWKB(b, p, false)
		}
		return b, nil
	case orb.MultiLineString:
		b = le32(wkbHeader(b, 5, srid), uint32(len(g)))
		for _, ls := range g {
			b, _ = appendEWKB(b, ls, false)
		}
		return b, nil
	case orb.MultiPolygon:
		b = le32(wkbHeader(b, 6, srid), uint32(len(g)))
		for _, p := range g {
			b, _ = appendEWKB(b, p, false)
		}
		return b, nil
	case orb.Collection:
		b = le32(wkbHeader(b, 7, srid), uint32(len(g)))
		for _, x := range g {
			var err error
			if b, err = appendEWKB(b, x, false); err != nil {
				return b, err
			}
		}
		return b, nil
	}
	return b, errs.Invalid("geometry", "cannot encode a %T", g)
}

// putWKB3D writes ISO or extended WKB (a record's Geom3D) as a geometry
// column with SRID 4326: its outer header is rewritten as EWKB with the SRID,
// the rest is kept (PostGIS reads ISO type codes in nested geometries).
func putWKB3D(b, w []byte) ([]byte, error) {
	if len(w) < 5 || w[0] > 1 {
		return b, errs.Invalid("geometry", "malformed 3D geometry")
	}
	var bo interface {
		binary.ByteOrder
		binary.AppendByteOrder
	} = binary.LittleEndian
	if w[0] == 0 {
		bo = binary.BigEndian
	}
	t := bo.Uint32(w[1:5])
	flags := t & (wkbZFlag | wkbMFlag)
	base := t &^ (wkbZFlag | wkbMFlag | wkbSRIDFlag)
	switch {
	case base >= 3000 && base < 4000:
		flags, base = wkbZFlag|wkbMFlag, base-3000
	case base >= 2000 && base < 3000:
		flags, base = wkbMFlag, base-2000
	case base >= 1000 && base < 2000:
		flags, base = wkbZFlag, base-1000
	}
	rest := w[5:]
	if t&wkbSRIDFlag != 0 {
		if len(rest) < 4 {
			return b, errs.Invalid("geometry", "malformed 3D geometry")
		}
		rest = rest[4:]
	}
	b = be32(b, int32(1+4+4+len(rest)))
	b = append(b, w[0])
	b = bo.AppendUint32(b, base|flags|wkbSRIDFlag)
	b = bo.AppendUint32(b, 4326)
	return append(b, rest...), nil
}
