// Package geojson reads GeoJSON FeatureCollections and newline-delimited
// GeoJSON (one Feature per line) as a stream: memory stays bounded whatever
// the file's size. Features are decoded lazily by the loader's workers.
package geojson

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/paulmach/orb"
	"github.com/valyala/fastjson"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial/load"
)

// MaxLine bounds one line of newline-delimited GeoJSON (one feature).
const MaxLine = 256 << 20

// Scanner reads features from a GeoJSON or NDJSON stream.
type Scanner struct {
	// File names the input in rejections.
	File string

	r      *bufio.Reader
	dec    *json.Decoder
	ndjson bool
	crs    string
	rec    *load.Record
	err    error
	n      int64
	inFC   bool
	done   bool
	single json.RawMessage
}

// NewScanner returns a scanner on r. It reads the start of the document to
// tell a FeatureCollection from newline-delimited features and to find a
// legacy "crs" member.
func NewScanner(r io.Reader, file string) (*Scanner, error) {
	s := &Scanner{File: file, r: bufio.NewReaderSize(r, 1<<20)}
	// Skip a BOM and white space.
	for {
		b, err := s.r.Peek(1)
		if err != nil {
			if err == io.EOF {
				return nil, errs.Invalid(file, "empty file")
			}
			return nil, err
		}
		if b[0] == 0xEF {
			if bom, _ := s.r.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
				s.r.Discard(3)
				continue
			}
		}
		if b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t' {
			s.r.Discard(1)
			continue
		}
		if b[0] == 0x1e { // a GeoJSON text sequence (RFC 8142)
			s.r.Discard(1)
			s.ndjson = true
			continue
		}
		if b[0] != '{' {
			return nil, errs.Invalid(file, "not GeoJSON: expected '{', found %q", b[0])
		}
		break
	}
	if s.ndjson {
		return s, nil
	}
	// Newline-delimited when the first line is a whole Feature object
	// (without a legacy "crs", which belongs to a lone Feature document).
	line, _ := peekLine(s.r)
	if len(line) > 0 && featureType.Match(line) {
		var t struct {
			Type string          `json:"type"`
			CRS  json.RawMessage `json:"crs"`
		}
		if json.Unmarshal(line, &t) == nil && t.Type == "Feature" && t.CRS == nil {
			s.ndjson = true
			return s, nil
		}
	}
	s.dec = json.NewDecoder(s.r)
	s.dec.UseNumber()
	if err := s.openCollection(); err != nil {
		return nil, err
	}
	return s, nil
}

var featureType = regexp.MustCompile(`"type"\s*:\s*"Feature"`)

var geometryTypes = map[string]bool{"Point": true, "MultiPoint": true, "LineString": true, "MultiLineString": true,
	"Polygon": true, "MultiPolygon": true, "GeometryCollection": true}

func peekLine(r *bufio.Reader) ([]byte, error) {
	for n := 4096; ; n *= 2 {
		b, err := r.Peek(n)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			return bytes.TrimSpace(b[:i]), nil
		}
		if err != nil {
			return bytes.TrimSpace(b), err
		}
		if n >= 1<<20 {
			return nil, nil
		}
	}
}

// openCollection reads up to the features array (or a lone Feature).
func (s *Scanner) openCollection() error {
	bad := func(format string, a ...any) error {
		return errs.Invalid(s.File, "malformed GeoJSON at byte %d: %s", s.dec.InputOffset(), fmt.Sprintf(format, a...))
	}
	if _, err := s.dec.Token(); err != nil { // {
		return bad("%v", err)
	}
	var typ string
	var buffered map[string]json.RawMessage
	for s.dec.More() {
		t, err := s.dec.Token()
		if err != nil {
			return bad("%v", err)
		}
		key, _ := t.(string)
		switch key {
		case "features":
			t, err := s.dec.Token()
			if err != nil {
				return bad("%v", err)
			}
			if d, ok := t.(json.Delim); !ok || d != '[' {
				return bad(`"features" must be an array`)
			}
			s.inFC = true
			return nil
		case "crs":
			// {"type": "name", "properties": {"name": ...}}, or the older
			// {"type": "EPSG", "properties": {"code": 3857}}.
			var c struct {
				Type       string `json:"type"`
				Properties struct {
					Name string      `json:"name"`
					Code json.Number `json:"code"`
				} `json:"properties"`
			}
			if err := s.dec.Decode(&c); err != nil {
				return bad("crs: %v", err)
			}
			s.crs = c.Properties.Name
			if strings.EqualFold(c.Type, "EPSG") && c.Properties.Code != "" {
				s.crs = "EPSG:" + c.Properties.Code.String()
			}
		case "type":
			if err := s.dec.Decode(&typ); err != nil {
				return bad("type: %v", err)
			}
		default:
			var raw json.RawMessage
			if err := s.dec.Decode(&raw); err != nil {
				return bad("%v", err)
			}
			if buffered == nil {
				buffered = map[string]json.RawMessage{}
			}
			buffered[key] = raw
		}
	}
	// The object must close: a file cut short is malformed, not a feature.
	if t, err := s.dec.Token(); err != nil || t != json.Delim('}') {
		if err == nil {
			err = fmt.Errorf("unexpected %v", t)
		}
		return bad("object does not close: %v", err)
	}
	if typ == "Feature" {
		if buffered == nil {
			buffered = map[string]json.RawMessage{}
		}
		buffered["type"] = json.RawMessage(`"Feature"`)
		b, _ := json.Marshal(buffered)
		s.single = b
		return nil
	}
	if geometryTypes[typ] {
		// A bare geometry: one feature without properties.
		if buffered == nil {
			buffered = map[string]json.RawMessage{}
		}
		buffered["type"], _ = json.Marshal(typ)
		g, _ := json.Marshal(buffered)
		s.single, _ = json.Marshal(map[string]json.RawMessage{"type": json.RawMessage(`"Feature"`), "geometry": g})
		return nil
	}
	if typ != "FeatureCollection" {
		return bad("a FeatureCollection, Feature or geometry is expected, found type %q", typ)
	}
	return bad(`a FeatureCollection without "features"`)
}

// CRS returns the legacy "crs" member's name, if the file has one.
func (s *Scanner) CRS() string { return s.crs }

// Scan advances to the next feature.
func (s *Scanner) Scan() bool {
	if s.err != nil || s.done {
		return false
	}
	var raw []byte
	switch {
	case s.single != nil:
		raw, s.single, s.done = s.single, nil, true
	case s.ndjson:
		for {
			line, err := s.r.ReadSlice('\n')
			if err == bufio.ErrBufferFull {
				// A long line: gather it.
				buf := append([]byte(nil), line...)
				for err == bufio.ErrBufferFull {
					line, err = s.r.ReadSlice('\n')
					buf = append(buf, line...)
					if len(buf) > MaxLine {
						s.err = errs.Invalid(s.File, "line %d is longer than %d bytes", s.n+1, MaxLine)
						return false
					}
				}
				line = buf
			} else {
				line = append([]byte(nil), line...)
			}
			if err != nil && err != io.EOF {
				s.err = err
				return false
			}
			line = bytes.TrimSpace(line)
			if len(line) == 0 || (len(line) == 1 && line[0] == 0x1e) {
				if err == io.EOF {
					s.done = true
					return false
				}
				continue
			}
			raw = bytes.TrimPrefix(line, []byte{0x1e}) // GeoJSON text sequences
			break
		}
	case s.inFC:
		if !s.dec.More() {
			if _, err := s.dec.Token(); err != nil { // ]
				s.err = errs.Invalid(s.File, "malformed GeoJSON at byte %d: %v", s.dec.InputOffset(), err)
				return false
			}
			// The rest of the document must close properly.
			for s.dec.More() {
				if _, err := s.dec.Token(); err != nil {
					s.err = errs.Invalid(s.File, "malformed GeoJSON at byte %d: %v", s.dec.InputOffset(), err)
					return false
				}
				var skip json.RawMessage
				if err := s.dec.Decode(&skip); err != nil {
					s.err = errs.Invalid(s.File, "malformed GeoJSON at byte %d: %v", s.dec.InputOffset(), err)
					return false
				}
			}
			if _, err := s.dec.Token(); err != nil {
				s.err = errs.Invalid(s.File, "truncated GeoJSON: the FeatureCollection is not closed (%v)", err)
				return false
			}
			s.done = true
			return false
		}
		var m json.RawMessage
		if err := s.dec.Decode(&m); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				s.err = errs.Invalid(s.File, "truncated GeoJSON after feature %d", s.n)
			} else {
				s.err = errs.Invalid(s.File, "malformed GeoJSON in feature %d (byte %d): %v", s.n+1, s.dec.InputOffset(), err)
			}
			return false
		}
		raw = m
	default:
		return false
	}
	s.n++
	s.rec = &load.Record{File: s.File, Num: s.n, Decode: decodeFunc(raw)}
	return true
}

// Record returns the current feature, to be decoded by its Decode.
func (s *Scanner) Record() *load.Record { return s.rec }

// Err returns the error that stopped the scan.
func (s *Scanner) Err() error { return s.err }

// Close does nothing: the caller owns the reader.
func (s *Scanner) Close() error { return nil }

type feature struct {
	Type       string          `json:"type"`
	ID         json.RawMessage `json:"id"`
	Geometry   json.RawMessage `json:"geometry"`
	Properties map[string]any  `json:"properties"`
}

func decodeFunc(raw []byte) func(*load.Record) error {
	return func(r *load.Record) error {
		return Decode(raw, r)
	}
}

// parsers are reused across features: a fastjson parser keeps its value
// tree's memory between parses. Decoding a feature this way, with the
// geometry built straight from the tree, costs a fraction of encoding/json
// plus orb's GeoJSON unmarshalling (which parsed the geometry twice), the
// largest cost of a load before.
var parsers fastjson.ParserPool

// Decode fills r from one GeoJSON Feature. The feature's id, if any, becomes
// the record's SourceID. Strings with invalid UTF-8 get U+FFFD in its place,
// as encoding/json does.
func Decode(raw []byte, r *load.Record) error {
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(raw)
	if err != nil {
		return errs.Invalid("feature", "malformed GeoJSON feature: %v", err)
	}
	o, err := v.Object()
	if err != nil {
		return errs.Invalid("feature", "malformed GeoJSON feature: a JSON object is expected")
	}
	// The last of repeated members wins, as with encoding/json.
	var typ, geom, props, id *fastjson.Value
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "type":
			typ = v
		case "geometry":
			geom = v
		case "properties":
			props = v
		case "id":
			id = v
		}
	})
	if t := str(typ); t != "Feature" {
		return errs.Invalid("feature", "a Feature is expected, found type %q", t)
	}
	if geom == nil || geom.Type() == fastjson.TypeNull {
		return errs.Invalid("geometry", "missing geometry")
	}
	g, err := geometry(geom, 0)
	if err != nil {
		return errs.Invalid("geometry", "malformed geometry: %v", err)
	}
	if c, ok := g.(orb.Collection); ok && len(c) == 0 {
		return errs.Invalid("geometry", "empty GeometryCollection")
	}
	r.Geom = g
	switch {
	case props == nil || props.Type() == fastjson.TypeNull:
		r.Props = map[string]any{}
	case props.Type() == fastjson.TypeObject:
		m, err := value(props, 0)
		if err != nil {
			return errs.Invalid("feature", "malformed GeoJSON feature: properties: %v", err)
		}
		r.Props = m.(map[string]any)
	default:
		return errs.Invalid("feature", "malformed GeoJSON feature: properties must be an object")
	}
	if id != nil {
		switch id.Type() {
		case fastjson.TypeString:
			r.SourceID = str(id)
		case fastjson.TypeNumber:
			// An integer keeps all its digits (ids beyond 2^53 are common
			// in exports); 7 and 7.0 are both "7".
			if b := id.MarshalTo(nil); wholeNumber(b) {
				r.SourceID = string(b)
			} else if n, err := number(id); err == nil {
				r.SourceID = strconv.FormatFloat(n, 'f', -1, 64)
			}
		}
	}
	return nil
}

// maxDepth bounds the nesting of properties and geometry collections.
const maxDepth = 100

// str returns a string value's text (valid UTF-8), "" for anything else.
func str(v *fastjson.Value) string {
	if v == nil || v.Type() != fastjson.TypeString {
		return ""
	}
	b, _ := v.StringBytes()
	if !utf8.Valid(b) {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(b)
}

// number parses a number value exactly (strconv), refusing what JSON does
// not allow (NaN, Inf, hex, a leading +) and what a float64 cannot hold.
func number(v *fastjson.Value) (float64, error) {
	var buf [32]byte
	b := v.MarshalTo(buf[:0])
	if !jsonNumber(b) {
		return 0, fmt.Errorf("%q is not a number", b)
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, fmt.Errorf("number %s: %v", b, err)
	}
	return f, nil
}

// wholeNumber reports whether b is an integer as JSON writes one: digits,
// perhaps a minus, no fraction or exponent.
func wholeNumber(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 || (b[0] == '0' && len(b) > 1) {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// jsonNumber reports whether b is a number as RFC 8259 writes one.
func jsonNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(b)
}

// value converts a JSON value as encoding/json does into an any: maps,
// slices, float64, string, bool, nil.
func value(v *fastjson.Value, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("nested too deeply")
	}
	switch v.Type() {
	case fastjson.TypeNull:
		return nil, nil
	case fastjson.TypeTrue:
		return true, nil
	case fastjson.TypeFalse:
		return false, nil
	case fastjson.TypeString:
		return str(v), nil
	case fastjson.TypeNumber:
		if b := v.MarshalTo(nil); wholeNumber(b) && len(b) > 15 {
			// Beyond float64's exact integers: keep the digits (the
			// properties are stored as jsonb, whose numbers are exact).
			return json.Number(b), nil
		}
		return number(v)
	case fastjson.TypeArray:
		a, _ := v.Array()
		out := make([]any, len(a))
		for i, x := range a {
			var err error
			if out[i], err = value(x, depth+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	case fastjson.TypeObject:
		o, _ := v.Object()
		out := make(map[string]any, o.Len())
		var err error
		o.Visit(func(k []byte, x *fastjson.Value) {
			if err != nil {
				return
			}
			var val any
			if val, err = value(x, depth+1); err == nil {
				key := string(k)
				if !utf8.ValidString(key) {
					key = strings.ToValidUTF8(key, "\uFFFD")
				}
				out[key] = val
			}
		})
		return out, err
	}
	return nil, fmt.Errorf("unexpected %s", v.Type())
}

// geometry builds a GeoJSON geometry object as an orb geometry.
func geometry(v *fastjson.Value, depth int) (orb.Geometry, error) {
	if depth > maxDepth {
		return nil, errors.New("geometry collections nested too deeply")
	}
	o, err := v.Object()
	if err != nil {
		return nil, errors.New("a geometry must be an object")
	}
	var typ, coords, geoms *fastjson.Value
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "type":
			typ = v
		case "coordinates":
			coords = v
		case "geometries":
			geoms = v
		}
	})
	t := str(typ)
	if t == "GeometryCollection" {
		if geoms == nil || geoms.Type() == fastjson.TypeNull {
			return orb.Collection{}, nil
		}
		a, err := geoms.Array()
		if err != nil {
			return nil, errors.New("geometries must be an array")
		}
		c := make(orb.Collection, 0, len(a))
		for _, x := range a {
			g, err := geometry(x, depth+1)
			if err != nil {
				return nil, err
			}
			c = append(c, g)
		}
		return c, nil
	}
	if coords == nil || coords.Type() == fastjson.TypeNull {
		switch t {
		case "MultiPoint":
			return orb.MultiPoint{}, nil
		case "LineString":
			return orb.LineString{}, nil
		case "MultiLineString":
			return orb.MultiLineString{}, nil
		case "Polygon":
			return orb.Polygon{}, nil
		case "MultiPolygon":
			return orb.MultiPolygon{}, nil
		case "Point":
			return nil, errors.New("a Point without coordinates")
		}
		return nil, fmt.Errorf("unknown geometry type %q", t)
	}
	switch t {
	case "Point":
		return position(coords)
	case "MultiPoint":
		ps, err := positions(coords)
		return orb.MultiPoint(ps), err
	case "LineString":
		ps, err := positions(coords)
		return orb.LineString(ps), err
	case "MultiLineString":
		ls, err := lines[orb.LineString](coords)
		if err != nil {
			return nil, err
		}
		return orb.MultiLineString(ls), nil
	case "Polygon":
		return polygon(coords)
	case "MultiPolygon":
		a, err := coords.Array()
		if err != nil {
			return nil, errors.New("coordinates must be an array")
		}
		mp := make(orb.MultiPolygon, len(a))
		for i, x := range a {
			if mp[i], err = polygon(x); err != nil {
				return nil, err
			}
		}
		return mp, nil
	}
	return nil, fmt.Errorf("unknown geometry type %q", t)
}

func polygon(v *fastjson.Value) (orb.Polygon, error) {
	rs, err := lines[orb.Ring](v)
	return orb.Polygon(rs), err
}

// lines reads an array of position arrays: a polygon's rings or a multi
// line string's lines.
func lines[T ~[]orb.Point](v *fastjson.Value) ([]T, error) {
	a, err := v.Array()
	if err != nil {
		return nil, errors.New("coordinates must be an array")
	}
	out := make([]T, len(a))
	for i, x := range a {
		ps, err := positions(x)
		if err != nil {
			return nil, err
		}
		out[i] = T(ps)
	}
	return out, nil
}

func positions(v *fastjson.Value) ([]orb.Point, error) {
	a, err := v.Array()
	if err != nil {
		return nil, errors.New("coordinates must be an array")
	}
	ps := make([]orb.Point, len(a))
	for i, x := range a {
		if ps[i], err = position(x); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

// position reads [x, y] (a third or further number, such as a height, is
// dropped, as orb does).
func position(v *fastjson.Value) (orb.Point, error) {
	a, err := v.Array()
	if err != nil || len(a) < 2 {
		return orb.Point{}, errors.New("a position is an array of two or more numbers")
	}
	var p orb.Point
	for i, x := range a {
		if x.Type() != fastjson.TypeNumber {
			return orb.Point{}, errors.New("a position is an array of two or more numbers")
		}
		if i < 2 {
			if p[i], err = number(x); err != nil {
				return orb.Point{}, err
			}
		}
	}
	return p, nil
}
