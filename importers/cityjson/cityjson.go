// Package cityjson reads CityJSON 1.1 and 2.0 files and CityJSONSeq streams
// (.city.jsonl) into the buildings layer: each Building and BuildingPart with
// a geometry becomes a building from its highest-LoD solid or surface set,
// whose height_m is its measuredHeight (else the span of its z values), and
// whose 3D geometry is kept as a MultiPolygonZ (geom3d) for the 3D view. The
// "transform" is applied and the metadata's referenceSystem honoured (the
// compound EPSG:7415, RD New + NAP, is reprojected as EPSG:28992 with its
// heights kept).
//
// The footprint is the union (GEOS) of the 2D projections of the ground
// faces: the GroundSurface faces by semantics, whatever their slope; without
// any, the faces lying flat (within FlatTolerance) at the lowest z; without
// any (a sloping or stepped ground, a solid open at the bottom, a roof-only
// surface set), all the faces: the outline seen from above, concave where the
// building is.
//
// A GeometryInstance places a template of the document's
// "geometry-templates" (in a CityJSONSeq, of the first line's): each
// template vertex v becomes p + M·v, p the instance's reference point (a
// vertex of the document or feature, transformed as usual) and M its 4×4
// row-major transformationMatrix; template vertices are real coordinates,
// not subject to the "transform". The result is then read like any other
// geometry, with the template's LoD.
package cityjson

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/paulmach/orb/planar"
	"github.com/twpayne/go-geos"

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
	// Read when used, so that a malformed member fails only its record.
	Semantics json.RawMessage `json:"semantics"`
	// A GeometryInstance's template index and 4×4 row-major matrix.
	Template             json.RawMessage `json:"template"`
	TransformationMatrix json.RawMessage `json:"transformationMatrix"`
}

// templates is a document's "geometry-templates".
type templates struct {
	Templates []geometry  `json:"templates"`
	Vertices  [][]float64 `json:"vertices-templates"`
	err       error       // why the member could not be read
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
	Templates   json.RawMessage       `json:"geometry-templates"`
}

// Scanner yields the buildings of a CityJSON document or sequence.
type Scanner struct {
	File string

	crs  string
	tf   *transform
	tm   *templates
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
	s.tm = readTemplates(d.Templates)
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
		tf, tm := s.tf, s.tm
		rec.Decode = func(r *load.Record) error { return decode(r, o, verts, tf, tm) }
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

// vertexFunc gives the real-world coordinates of a vertex index.
type vertexFunc func(int) ([3]float64, error)

// surfaceType reports whether decode reads geometries of type t.
func surfaceType(t string) bool {
	switch t {
	case "Solid", "MultiSurface", "CompositeSurface", "MultiSolid", "CompositeSolid":
		return true
	}
	return false
}

// readTemplates reads a document's "geometry-templates" (nil when it has
// none). A malformed member is kept as the error of the instances using it.
func readTemplates(raw json.RawMessage) *templates {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	t := &templates{}
	if err := json.Unmarshal(raw, t); err != nil {
		return &templates{err: errs.Invalid("geometry", "malformed \"geometry-templates\": %v", err)}
	}
	return t
}

// instance resolves a GeometryInstance into the template it places and the
// vertex function placing the template's vertices: the reference point (a
// vertex of the document, through pt) plus the transformation matrix applied
// to the template vertex. Template vertices are real coordinates: the
// document's "transform" does not apply to them. The matrix is row-major; its
// last row is taken as (0 0 0 1).
func (tm *templates) instance(g geometry, pt vertexFunc) (geometry, vertexFunc, error) {
	if tm == nil {
		return geometry{}, nil, errs.Invalid("geometry", "a GeometryInstance but no \"geometry-templates\"")
	}
	if tm.err != nil {
		return geometry{}, nil, tm.err
	}
	var i int
	if len(bytes.TrimSpace(g.Template)) == 0 {
		return geometry{}, nil, errs.Invalid("geometry", "a GeometryInstance without a template")
	}
	if err := json.Unmarshal(g.Template, &i); err != nil || i < 0 || i >= len(tm.Templates) {
		return geometry{}, nil, errs.Invalid("geometry", "GeometryInstance template %s not found (%d templates)", bytes.TrimSpace(g.Template), len(tm.Templates))
	}
	t := tm.Templates[i]
	if t.Type == "GeometryInstance" {
		return geometry{}, nil, errs.Invalid("geometry", "template %d is itself a GeometryInstance", i)
	}
	var ref []int
	if err := json.Unmarshal(g.Boundaries, &ref); err != nil || len(ref) != 1 {
		return geometry{}, nil, errs.Invalid("geometry", "GeometryInstance boundaries must hold one reference vertex")
	}
	origin, err := pt(ref[0])
	if err != nil {
		return geometry{}, nil, err
	}
	m := []float64{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}
	if raw := bytes.TrimSpace(g.TransformationMatrix); len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &m); err != nil || len(m) != 16 {
			return geometry{}, nil, errs.Invalid("geometry", "GeometryInstance transformationMatrix must hold 16 numbers")
		}
	}
	verts := tm.Vertices
	place := func(j int) ([3]float64, error) {
		if j < 0 || j >= len(verts) || len(verts[j]) < 3 {
			return [3]float64{}, errs.Invalid("geometry", "template vertex index %d out of range", j)
		}
		v := verts[j]
		var out [3]float64
		for k := 0; k < 3; k++ {
			out[k] = origin[k] + m[4*k]*v[0] + m[4*k+1]*v[1] + m[4*k+2]*v[2] + m[4*k+3]
		}
		return out, nil
	}
	return t, place, nil
}

// surfacesOf returns the surfaces of a geometry (the exterior shells of
// solids) and, for each, whether its semantics make it a GroundSurface.
// Semantics that do not match the boundaries are ignored.
func surfacesOf(g geometry) ([][][]int, []bool, error) {
	var surfaces [][][]int
	var ground []bool
	var sem struct {
		Surfaces []struct {
			Type string `json:"type"`
		} `json:"surfaces"`
		Values json.RawMessage `json:"values"`
	}
	if len(g.Semantics) > 0 && json.Unmarshal(g.Semantics, &sem) != nil {
		sem.Values = nil
	}
	isGround := func(v *int) bool {
		return v != nil && *v >= 0 && *v < len(sem.Surfaces) && sem.Surfaces[*v].Type == "GroundSurface"
	}
	mark := func(n int, values []*int) {
		for i := 0; i < n; i++ {
			ground = append(ground, i < len(values) && isGround(values[i]))
		}
	}
	switch g.Type {
	case "MultiSurface", "CompositeSurface":
		if err := json.Unmarshal(g.Boundaries, &surfaces); err != nil {
			return nil, nil, errs.Invalid("geometry", "malformed %s boundaries: %v", g.Type, err)
		}
		var values []*int
		_ = json.Unmarshal(sem.Values, &values)
		mark(len(surfaces), values)
	case "Solid":
		var shells [][][][]int
		if err := json.Unmarshal(g.Boundaries, &shells); err != nil {
			return nil, nil, errs.Invalid("geometry", "malformed Solid boundaries: %v", err)
		}
		if len(shells) > 0 {
			surfaces = shells[0] // the exterior shell
		}
		var values [][]*int
		_ = json.Unmarshal(sem.Values, &values)
		if len(values) > 0 {
			mark(len(surfaces), values[0])
		} else {
			mark(len(surfaces), nil)
		}
	default:
		var solids [][][][][]int
		if err := json.Unmarshal(g.Boundaries, &solids); err != nil {
			return nil, nil, errs.Invalid("geometry", "malformed %s boundaries: %v", g.Type, err)
		}
		var values [][][]*int
		_ = json.Unmarshal(sem.Values, &values)
		for i, sol := range solids {
			if len(sol) == 0 {
				continue
			}
			surfaces = append(surfaces, sol[0]...)
			if i < len(values) && len(values[i]) > 0 {
				mark(len(sol[0]), values[i][0])
			} else {
				mark(len(sol[0]), nil)
			}
		}
	}
	return surfaces, ground, nil
}

// decode builds the footprint, height and 3D geometry of one building.
func decode(r *load.Record, o cityObject, verts [][]float64, tf *transform, tm *templates) error {
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
	// The highest LoD geometry; a GeometryInstance stands for its template,
	// placed.
	var (
		g       geometry
		vertex  vertexFunc
		found   bool
		instErr error
	)
	for _, c := range o.Geometry {
		vf := vertexFunc(pt)
		if c.Type == "GeometryInstance" {
			t, place, err := tm.instance(c, pt)
			if err != nil {
				if instErr == nil {
					instErr = err
				}
				continue
			}
			c, vf = t, place
		}
		if !surfaceType(c.Type) {
			continue
		}
		if !found || lodValue(c.LOD) > lodValue(g.LOD) {
			g, vertex, found = c, vf, true
		}
	}
	if !found {
		if instErr != nil {
			return instErr
		}
		return errs.Invalid("geometry", "no solid or surface geometry")
	}
	surfaces, groundSem, err := surfacesOf(g)
	if err != nil {
		return err
	}
	minZ, maxZ := math.Inf(1), math.Inf(-1)
	polys := make([][][][3]float64, 0, len(surfaces))
	ground := make([]bool, 0, len(surfaces))
	for si, surf := range surfaces {
		var poly [][][3]float64
		for _, ring := range surf {
			var pr [][3]float64
			for _, vi := range ring {
				v, err := vertex(vi)
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
			ground = append(ground, groundSem[si])
		}
	}
	if len(polys) == 0 {
		return errs.Invalid("geometry", "empty geometry")
	}
	fp := footprint(polys, ground, minZ)
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

// FlatTolerance is how far above the lowest vertex a face may reach and
// still lie flat on the ground, in the CRS's vertical unit.
const FlatTolerance = 0.05

// footprint returns the 2D footprint of a building's surfaces: the union of
// the projections of its GroundSurface faces (by semantics, whatever their
// slope); without any, of its faces lying flat at the lowest z; without any
// (a sloping or stepped ground, a roof-only surface set), of all its faces:
// the true outline of the building seen from above, concave or not.
func footprint(polys [][][][3]float64, ground []bool, minZ float64) orb.MultiPolygon {
	pick := func(keep func(int) bool) orb.MultiPolygon {
		var mp orb.MultiPolygon
		for i, p := range polys {
			if keep(i) {
				if op := project(p); op != nil {
					mp = append(mp, op)
				}
			}
		}
		return mp
	}
	faces := pick(func(i int) bool { return ground[i] })
	if len(faces) == 0 {
		faces = pick(func(i int) bool {
			for _, ring := range polys[i] {
				for _, v := range ring {
					if v[2]-minZ > FlatTolerance {
						return false
					}
				}
			}
			// Not the foot of a wall: facing up or down, at most 60° off.
			n := normal(polys[i][0])
			return math.Abs(n[2]) >= 0.5*math.Sqrt(n[0]*n[0]+n[1]*n[1]+n[2]*n[2])
		})
	}
	if len(faces) > 0 {
		if u, err := union2D(faces); err == nil {
			return u
		}
		return faces // the loader repairs overlaps
	}
	if u, err := union2D(pick(func(int) bool { return true })); err == nil {
		return u
	}
	// Nothing with an area (vertical faces only) or GEOS failed: the
	// bounding box.
	b := orb.Bound{Min: orb.Point{math.Inf(1), math.Inf(1)}, Max: orb.Point{math.Inf(-1), math.Inf(-1)}}
	for _, p := range polys {
		for _, v := range p[0] {
			b = b.Extend(orb.Point{v[0], v[1]})
		}
	}
	return orb.MultiPolygon{b.ToPolygon()}
}

// normal returns the (Newell) normal of a ring, as long as twice its area.
func normal(ring [][3]float64) [3]float64 {
	var n [3]float64
	o := ring[0] // relative to the first vertex, for precision
	for i := range ring {
		a, b := ring[i], ring[(i+1)%len(ring)]
		for k := 0; k < 3; k++ {
			a[k] -= o[k]
			b[k] -= o[k]
		}
		n[0] += (a[1] - b[1]) * (a[2] + b[2])
		n[1] += (a[2] - b[2]) * (a[0] + b[0])
		n[2] += (a[0] - b[0]) * (a[1] + b[1])
	}
	return n
}

// project returns the 2D projection of a face, closed and without repeated
// points; nil when its exterior has no area (a vertical face). Degenerate
// holes are dropped.
func project(face [][][3]float64) orb.Polygon {
	var op orb.Polygon
	for i, ring := range face {
		or := make(orb.Ring, 0, len(ring)+1)
		var perim float64
		for _, v := range ring {
			q := orb.Point{v[0], v[1]}
			if n := len(or); n == 0 || !q.Equal(or[n-1]) {
				if n > 0 {
					perim += planar.Distance(q, or[n-1])
				}
				or = append(or, q)
			}
		}
		for len(or) > 1 && or[len(or)-1].Equal(or[0]) {
			or = or[:len(or)-1]
		}
		if len(or) >= 3 {
			perim += planar.Distance(or[len(or)-1], or[0])
			or = append(or, or[0])
		}
		if len(or) < 4 || math.Abs(planar.Area(or)) <= 1e-10*perim*perim {
			if i == 0 {
				return nil
			}
			continue
		}
		op = append(op, or)
	}
	return op
}

// maxCoord bounds the coordinates given to GEOS: beyond, the record is off
// the planet in any CRS and the loader rejects it.
const maxCoord = 1e9

var geosContexts = sync.Pool{New: func() any { return geos.NewContext() }}

// union2D returns the union of polygons with GEOS, each made valid first.
func union2D(polys orb.MultiPolygon) (out orb.MultiPolygon, err error) {
	for _, p := range polys {
		for _, ring := range p {
			for _, q := range ring {
				if !(math.Abs(q[0]) < maxCoord && math.Abs(q[1]) < maxCoord) {
					return nil, errors.New("coordinates out of range")
				}
			}
		}
	}
	if len(polys) == 0 {
		return nil, errors.New("no face with an area")
	}
	c := geosContexts.Get().(*geos.Context)
	defer func() {
		if v := recover(); v != nil {
			out, err = nil, fmt.Errorf("GEOS: %v", v) // c is dropped
			return
		}
		geosContexts.Put(c)
	}()
	parts := make([]*geos.Geom, 0, len(polys))
	for _, p := range polys {
		g := c.NewPolygon(coords(p))
		if g.IsValid() {
			parts = append(parts, g)
			continue
		}
		fixed := g.MakeValid()
		g.Destroy()
		repaired, err := toOrb(fixed)
		fixed.Destroy()
		if err != nil {
			return nil, err
		}
		for _, q := range repaired {
			parts = append(parts, c.NewPolygon(coords(q)))
		}
	}
	if len(parts) == 0 {
		return nil, errors.New("no face with an area")
	}
	coll := c.NewCollection(geos.TypeIDGeometryCollection, parts)
	defer coll.Destroy()
	u := coll.UnaryUnion()
	defer u.Destroy()
	out, err = toOrb(u)
	if err == nil && len(out) == 0 {
		err = errors.New("empty union")
	}
	return out, err
}

func coords(p orb.Polygon) [][][]float64 {
	out := make([][][]float64, len(p))
	for i, ring := range p {
		out[i] = make([][]float64, len(ring))
		for j, q := range ring {
			out[i][j] = []float64{q[0], q[1]}
		}
	}
	return out
}

// toOrb returns the polygons of a GEOS geometry.
func toOrb(g *geos.Geom) (orb.MultiPolygon, error) {
	og, err := wkb.Unmarshal(g.ToWKB())
	if err != nil {
		return nil, err
	}
	var mp orb.MultiPolygon
	var walk func(orb.Geometry)
	walk = func(g orb.Geometry) {
		switch g := g.(type) {
		case orb.Polygon:
			mp = append(mp, g)
		case orb.MultiPolygon:
			mp = append(mp, g...)
		case orb.Collection:
			for _, h := range g {
				walk(h)
			}
		}
	}
	walk(og)
	return mp, nil
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
