// Package cityjson reads CityJSON 1.1 and 2.0 files and CityJSONSeq streams
// (.city.jsonl) into the buildings layer: each Building and BuildingPart with
// a geometry becomes a building whose footprint is its ground surface (the
// lowest horizontal faces of its highest-LoD solid or surface set), whose
// height_m is its measuredHeight (else the span of its z values), and whose
// 3D geometry is kept as a MultiPolygonZ (geom3d) for the 3D view. The
// "transform" is applied and the metadata's referenceSystem honoured (the
// compound EPSG:7415, RD New + NAP, is reprojected as EPSG:28992 with its
// heights kept).
package cityjson

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial/load"
)

// Layers are the layers CityJSON goes to.
var Layers = []string{"buildings"}

// MaxLine bounds one CityJSONSeq line.
const MaxLine = 512 << 20

type transform struct {
	Scale     [3]float64 `json:"scale"`
	Translate [3]float64 `json:"translate"`
}

type geometry struct {
	Type       string          `json:"type"`
	LOD        json.RawMessage `json:"lod"`
	Boundaries json.RawMessage `json:"boundaries"`
}

type cityObject struct {
	Type       string         `json:"type"`
	Attributes map[string]any `json:"attributes"`
	Geometry   []geometry     `json:"geometry"`
	Parents    []string       `json:"parents"`
	Children   []string       `json:"children"`
}

type document struct {
	Type      string `json:"type"`
	Version   string `json:"version"`
	Transform *transform
	Metadata  struct {
		ReferenceSystem string `json:"referenceSystem"`
	} `json:"metadata"`
	CityObjects map[string]cityObject `json:"CityObjects"`
	Vertices    [][]float64           `json:"vertices"`
}

// Scanner yields the buildings of a CityJSON document or sequence.
type Scanner struct {
	File string

	crs  string
	tf   *transform
	recs []*load.Record
	i    int
	n    int64
	seq  *bufio.Reader
	err  error
}

// NewScanner reads a CityJSON document, or the header of a CityJSONSeq, from
// r. Returns EINVALID for malformed input.
func NewScanner(r io.Reader, file string) (*Scanner, error) {
	s := &Scanner{File: file}
	br := bufio.NewReaderSize(r, 64<<10)
	line, err := readLine(br)
	if err != nil && len(line) == 0 {
		return nil, errs.Invalid(file, "empty CityJSON file")
	}
	var head document
	if json.Unmarshal(line, &head) == nil && head.Type == "CityJSON" && len(head.CityObjects) == 0 && len(head.Vertices) == 0 {
		// CityJSONSeq: the header line, then one CityJSONFeature per line.
		s.setHeader(&head)
		s.seq = br
		return s, nil
	}
	rest := io.MultiReader(bytes.NewReader(line), strings.NewReader("\n"), br)
	var doc document
	dec := json.NewDecoder(rest)
	if err := dec.Decode(&doc); err != nil {
		return nil, errs.Invalid(file, "malformed CityJSON: %v", err)
	}
	if doc.Type != "CityJSON" {
		return nil, errs.Invalid(file, "not CityJSON: type %q", doc.Type)
	}
	if !strings.HasPrefix(doc.Version, "1.1") && !strings.HasPrefix(doc.Version, "2.") && !strings.HasPrefix(doc.Version, "1.0") {
		return nil, errs.Invalid(file, "CityJSON version %q is not supported (1.1 or 2.0)", doc.Version)
	}
	s.setHeader(&doc)
	s.add(doc.CityObjects, doc.Vertices)
	return s, nil
}

func (s *Scanner) setHeader(d *document) {
	s.tf = d.Transform
	s.crs = d.Metadata.ReferenceSystem
	if strings.HasSuffix(s.crs, "/7415") || strings.HasSuffix(s.crs, ":7415") {
		s.crs = "EPSG:28992"
	}
}

func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		l, err := br.ReadSlice('\n')
		buf = append(buf, l...)
		if len(buf) > MaxLine {
			return nil, errs.Invalid("line", "longer than %d bytes", MaxLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimSpace(buf), err
	}
}

// CRS is the document's referenceSystem ("" when it has none).
func (s *Scanner) CRS() string { return s.crs }

// add turns a set of city objects into records, in id order.
func (s *Scanner) add(objs map[string]cityObject, verts [][]float64) {
	ids := make([]string, 0, len(objs))
	for id, o := range objs {
		if (o.Type == "Building" || o.Type == "BuildingPart") && len(o.Geometry) > 0 {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		o := objs[id]
		s.n++
		rec := &load.Record{File: s.File, Num: s.n, Layer: "buildings", SourceID: id}
		tf := s.tf
		rec.Decode = func(r *load.Record) error { return decode(r, o, verts, tf) }
		s.recs = append(s.recs, rec)
	}
}

// Scan advances to the next building.
func (s *Scanner) Scan() bool {
	for s.i >= len(s.recs) {
		if s.seq == nil || s.err != nil {
			return false
		}
		line, err := readLine(s.seq)
		if len(line) > 0 {
			var f document
			if e := json.Unmarshal(line, &f); e != nil || f.Type != "CityJSONFeature" {
				s.err = errs.Invalid(s.File, "record %d: not a CityJSONFeature", s.n+1)
				return false
			}
			s.recs, s.i = s.recs[:0], 0
			s.add(f.CityObjects, f.Vertices)
			continue
		}
		if err == io.EOF {
			return false
		}
		if err != nil {
			s.err = errs.Invalid(s.File, "%v", err)
			return false
		}
	}
	s.i++
	return true
}

// Record returns the current building.
func (s *Scanner) Record() *load.Record { return s.recs[s.i-1] }

// Err returns the error that stopped the scan.
func (s *Scanner) Err() error { return s.err }

// Close does nothing.
func (s *Scanner) Close() error { return nil }

func lodValue(raw json.RawMessage) float64 {
	v := strings.Trim(string(raw), `"`)
	f, _ := strconv.ParseFloat(v, 64)
	return f
}

// decode builds the footprint, height and 3D geometry of one building.
func decode(r *load.Record, o cityObject, verts [][]float64, tf *transform) error {
	// The highest LoD geometry.
	best := -1
	for i, g := range o.Geometry {
		if g.Type != "Solid" && g.Type != "MultiSurface" && g.Type != "CompositeSurface" && g.Type != "MultiSolid" && g.Type != "CompositeSolid" {
			continue
		}
		if best < 0 || lodValue(g.LOD) > lodValue(o.Geometry[best].LOD) {
			best = i
		}
	}
	if best < 0 {
		return errs.Invalid("geometry", "no solid or surface geometry")
	}
	g := o.Geometry[best]
	var surfaces [][][]int
	switch g.Type {
	case "MultiSurface", "CompositeSurface":
		if err := json.Unmarshal(g.Boundaries, &surfaces); err != nil {
			return errs.Invalid("geometry", "malformed %s boundaries: %v", g.Type, err)
		}
	case "Solid":
		var shells [][][][]int
		if err := json.Unmarshal(g.Boundaries, &shells); err != nil {
			return errs.Invalid("geometry", "malformed Solid boundaries: %v", err)
		}
		if len(shells) > 0 {
			surfaces = shells[0] // the exterior shell
		}
	default:
		var solids [][][][][]int
		if err := json.Unmarshal(g.Boundaries, &solids); err != nil {
			return errs.Invalid("geometry", "malformed %s boundaries: %v", g.Type, err)
		}
		for _, sol := range solids {
			if len(sol) > 0 {
				surfaces = append(surfaces, sol[0]...)
			}
		}
	}
	pt := func(i int) ([3]float64, error) {
		if i < 0 || i >= len(verts) || len(verts[i]) < 3 {
			return [3]float64{}, errs.Invalid("geometry", "vertex index %d out of range", i)
		}
		v := [3]float64{verts[i][0], verts[i][1], verts[i][2]}
		if tf != nil {
			for k := 0; k < 3; k++ {
				v[k] = v[k]*tf.Scale[k] + tf.Translate[k]
			}
		}
		return v, nil
	}
	minZ, maxZ := math.Inf(1), math.Inf(-1)
	polys := make([][][][3]float64, 0, len(surfaces))
	for _, surf := range surfaces {
		var poly [][][3]float64
		for _, ring := range surf {
			var pr [][3]float64
			for _, vi := range ring {
				v, err := pt(vi)
				if err != nil {
					return err
				}
				minZ, maxZ = math.Min(minZ, v[2]), math.Max(maxZ, v[2])
				pr = append(pr, v)
			}
			if len(pr) >= 3 {
				poly = append(poly, pr)
			}
		}
		if len(poly) > 0 {
			polys = append(polys, poly)
		}
	}
	if len(polys) == 0 {
		return errs.Invalid("geometry", "empty geometry")
	}
	// The footprint: faces lying flat at the lowest z.
	var fp orb.MultiPolygon
	for _, p := range polys {
		flat := true
		for _, ring := range p {
			for _, v := range ring {
				if v[2]-minZ > 0.05 {
					flat = false
				}
			}
		}
		if !flat {
			continue
		}
		var op orb.Polygon
		for _, ring := range p {
			or := make(orb.Ring, 0, len(ring)+1)
			for _, v := range ring {
				if q := (orb.Point{v[0], v[1]}); len(or) == 0 || !q.Equal(or[len(or)-1]) {
					or = append(or, q)
				}
			}
			or = append(or, or[0])
			if len(or) < 4 || math.Abs(planar.Area(or)) < 1e-12 {
				continue // a degenerate face
			}
			op = append(op, or)
		}
		if len(op) > 0 {
			fp = append(fp, op)
		}
	}
	if len(fp) == 0 {
		// No ground face (a roof-only surface set): the outline of all.
		b := orb.Bound{Min: orb.Point{math.Inf(1), math.Inf(1)}, Max: orb.Point{math.Inf(-1), math.Inf(-1)}}
		for _, p := range polys {
			for _, v := range p[0] {
				b = b.Extend(orb.Point{v[0], v[1]})
			}
		}
		fp = orb.MultiPolygon{b.ToPolygon()}
	}
	if len(fp) == 1 {
		r.Geom = fp[0]
	} else {
		r.Geom = fp
	}
	r.Geom3D = multiPolygonZ(polys)
	props := map[string]any{}
	for k, v := range o.Attributes {
		props[k] = v
	}
	props["cityjson_type"] = o.Type
	props["lod"] = strings.Trim(string(g.LOD), `"`)
	if len(o.Parents) > 0 {
		props["parent"] = o.Parents[0]
	}
	if h, ok := o.Attributes["measuredHeight"].(float64); ok && h >= 0 && h < 1000 {
		props["height_m"] = h
	} else if span := maxZ - minZ; span >= 0 && span < 1000 {
		props["height_m"] = math.Round(span*100) / 100
	}
	if y, ok := o.Attributes["yearOfConstruction"].(float64); ok {
		props["year_built"] = y
	} else if y, ok := o.Attributes["oorspronkelijk_bouwjaar"].(float64); ok {
		props["year_built"] = y
	}
	if _, ok := o.Attributes["storeysAboveGround"].(float64); ok {
		props["floors"] = o.Attributes["storeysAboveGround"]
	}
	r.Props = props
	return nil
}

// multiPolygonZ encodes surfaces as ISO WKB MultiPolygon Z (type 1006),
// closing rings.
func multiPolygonZ(polys [][][][3]float64) []byte {
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteByte(1)
	w(uint32(1006))
	w(uint32(len(polys)))
	for _, p := range polys {
		b.WriteByte(1)
		w(uint32(1003))
		w(uint32(len(p)))
		for _, ring := range p {
			closed := ring[0] == ring[len(ring)-1]
			n := len(ring)
			if !closed {
				n++
			}
			w(uint32(n))
			for _, v := range ring {
				w(v)
			}
			if !closed {
				w(ring[0])
			}
		}
	}
	return b.Bytes()
}
