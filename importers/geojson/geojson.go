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

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

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
		if b[0] != '{' {
			return nil, errs.Invalid(file, "not GeoJSON: expected '{', found %q", b[0])
		}
		break
	}
	// Newline-delimited when the first line is a whole Feature object.
	line, _ := peekLine(s.r)
	if len(line) > 0 && featureType.Match(line) {
		var t struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(line, &t) == nil && t.Type == "Feature" {
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
			var c struct {
				Properties struct {
					Name string `json:"name"`
				} `json:"properties"`
			}
			if err := s.dec.Decode(&c); err != nil {
				return bad("crs: %v", err)
			}
			s.crs = c.Properties.Name
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
	if typ != "FeatureCollection" {
		return bad("a FeatureCollection or Feature is expected, found type %q", typ)
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

// Decode fills r from one GeoJSON Feature. The feature's id, if any, becomes
// the record's SourceID.
func Decode(raw []byte, r *load.Record) error {
	var f feature
	if err := json.Unmarshal(raw, &f); err != nil {
		return errs.Invalid("feature", "malformed GeoJSON feature: %v", err)
	}
	if f.Type != "Feature" {
		return errs.Invalid("feature", "a Feature is expected, found type %q", f.Type)
	}
	if len(f.Geometry) == 0 || string(f.Geometry) == "null" {
		return errs.Invalid("geometry", "missing geometry")
	}
	g, err := geojson.UnmarshalGeometry(f.Geometry)
	if err != nil {
		return errs.Invalid("geometry", "malformed geometry: %v", err)
	}
	r.Geom = g.Geometry()
	if r.Geom == nil {
		return errs.Invalid("geometry", "missing geometry")
	}
	if _, ok := r.Geom.(orb.Collection); ok && len(r.Geom.(orb.Collection)) == 0 {
		return errs.Invalid("geometry", "empty GeometryCollection")
	}
	r.Props = f.Properties
	if r.Props == nil {
		r.Props = map[string]any{}
	}
	if len(f.ID) > 0 && string(f.ID) != "null" {
		var s string
		if json.Unmarshal(f.ID, &s) == nil {
			r.SourceID = s
		} else if n, err := strconv.ParseFloat(string(f.ID), 64); err == nil {
			r.SourceID = strconv.FormatFloat(n, 'f', -1, 64)
		}
	}
	return nil
}
