package cityjson

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// decodeAll scans a document and decodes each building, by source id.
func decodeAll(t *testing.T, doc string) (map[string]orb.MultiPolygon, map[string]error, *Scanner) {
	t.Helper()
	s, err := NewScanner(strings.NewReader(doc), "test")
	if err != nil {
		t.Fatal(err)
	}
	fps, errs := map[string]orb.MultiPolygon{}, map[string]error{}
	for s.Scan() {
		r := s.Record()
		if err := r.Decode(r); err != nil {
			errs[r.SourceID] = err
			continue
		}
		switch g := r.Geom.(type) {
		case orb.Polygon:
			fps[r.SourceID] = orb.MultiPolygon{g}
		case orb.MultiPolygon:
			fps[r.SourceID] = g
		default:
			t.Fatalf("%s: footprint %T", r.SourceID, r.Geom)
		}
		if r.Props["height_m"] == nil || len(r.Geom3D) == 0 {
			t.Fatalf("%s: no height or 3D geometry", r.SourceID)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return fps, errs, s
}

func area(mp orb.MultiPolygon) float64 {
	var a float64
	for _, p := range mp {
		a += math.Abs(planar.Area(p))
	}
	return a
}

// points3D reads the points of an ISO WKB MultiPolygon Z.
func points3D(t *testing.T, b []byte) [][3]float64 {
	t.Helper()
	rd := bytes.NewReader(b)
	var hdr struct {
		Order byte
		Type  uint32
		N     uint32
	}
	must := func(v any) {
		if err := binary.Read(rd, binary.LittleEndian, v); err != nil {
			t.Fatal(err)
		}
	}
	must(&hdr)
	if hdr.Type != 1006 {
		t.Fatalf("WKB type %d", hdr.Type)
	}
	var out [][3]float64
	for i := uint32(0); i < hdr.N; i++ {
		var ph struct {
			Order byte
			Type  uint32
			Rings uint32
		}
		must(&ph)
		for j := uint32(0); j < ph.Rings; j++ {
			var n uint32
			must(&n)
			for k := uint32(0); k < n; k++ {
				var p [3]float64
				must(&p)
				out = append(out, p)
			}
		}
	}
	return out
}

// cube is a closed 10 × 10 × 12 box as a template, in real units.
const cubeTemplate = `"geometry-templates":{"templates":[{"type":"Solid","lod":"2","boundaries":[[[[0,3,2,1]],[[4,5,6,7]],[[0,1,5,4]],[[1,2,6,5]],[[2,3,7,6]],[[3,0,4,7]]]]}],` +
	`"vertices-templates":[[0,0,0],[10,0,0],[10,10,0],[0,10,0],[0,0,12],[10,0,12],[10,10,12],[0,10,12]]}`

func TestGeometryInstance(t *testing.T) {
	// The reference point (2000, 3000, 100) is scaled by the transform to
	// (20, 30, 1) + translate; the template's vertices are not. The matrix
	// rotates by 90° about z, doubles x and y and lifts by 5.
	doc := `{"type":"CityJSON","version":"2.0","transform":{"scale":[0.01,0.01,0.01],"translate":[1000,2000,0]},
"CityObjects":{"t":{"type":"Building","geometry":[{"type":"GeometryInstance","template":0,"boundaries":[0],
"transformationMatrix":[0,-2,0,0, 2,0,0,0, 0,0,1,5, 0,0,0,1]}]},
"id":{"type":"Building","geometry":[{"type":"GeometryInstance","template":0,"boundaries":[0],"transformationMatrix":[1,0,0,0,0,1,0,0,0,0,1,0,0,0,0,1]}]}},
"vertices":[[2000,3000,100]],` + cubeTemplate + `}`
	fps, errs, _ := decodeAll(t, doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	// Identity: the box at (1020, 2030).
	if b := fps["id"].Bound(); b != (orb.Bound{Min: orb.Point{1020, 2030}, Max: orb.Point{1030, 2040}}) {
		t.Errorf("identity instance at %v", b)
	}
	// Rotated and scaled: x' = -2y, y' = 2x, so x in [1000, 1020], y in [2030, 2050].
	b := fps["t"].Bound()
	want := orb.Bound{Min: orb.Point{1000, 2030}, Max: orb.Point{1020, 2050}}
	if math.Abs(b.Min[0]-want.Min[0]) > 1e-9 || math.Abs(b.Min[1]-want.Min[1]) > 1e-9 ||
		math.Abs(b.Max[0]-want.Max[0]) > 1e-9 || math.Abs(b.Max[1]-want.Max[1]) > 1e-9 {
		t.Errorf("instance at %v, want %v", b, want)
	}
	if a := area(fps["t"]); math.Abs(a-400) > 1e-6 {
		t.Errorf("area %g, want 400", a)
	}
	// Heights: z from 1 + 5 to 1 + 5 + 12.
	s, _ := NewScanner(strings.NewReader(doc), "test")
	for s.Scan() {
		r := s.Record()
		if err := r.Decode(r); err != nil {
			t.Fatal(err)
		}
		if r.Props["height_m"] != 12.0 || r.Props["lod"] != "2" {
			t.Errorf("%s: props %v", r.SourceID, r.Props)
		}
		if r.SourceID != "t" {
			continue
		}
		minZ, maxZ := math.Inf(1), math.Inf(-1)
		for _, p := range points3D(t, r.Geom3D) {
			minZ, maxZ = math.Min(minZ, p[2]), math.Max(maxZ, p[2])
		}
		if minZ != 6 || maxZ != 18 {
			t.Errorf("z from %g to %g, want 6 to 18", minZ, maxZ)
		}
	}
}

func TestGeometryInstanceSeq(t *testing.T) {
	doc := `{"type":"CityJSON","version":"2.0","transform":{"scale":[1,1,1],"translate":[0,0,0]},"CityObjects":{},"vertices":[],` + cubeTemplate + `}
{"type":"CityJSONFeature","id":"a","CityObjects":{"a":{"type":"Building","geometry":[{"type":"GeometryInstance","template":0,"boundaries":[0],"transformationMatrix":[1,0,0,0,0,1,0,0,0,0,1,0,0,0,0,1]}]}},"vertices":[[100,200,0]]}
{"type":"CityJSONFeature","id":"b","CityObjects":{"b":{"type":"Building","geometry":[{"type":"GeometryInstance","template":0,"boundaries":[0],"transformationMatrix":[0.5,0,0,0,0,0.5,0,0,0,0,1,0,0,0,0,1]}]}},"vertices":[[300,200,0]]}
`
	fps, errs, _ := decodeAll(t, doc)
	if len(errs) > 0 || len(fps) != 2 {
		t.Fatal(errs, fps)
	}
	if b := fps["a"].Bound(); b != (orb.Bound{Min: orb.Point{100, 200}, Max: orb.Point{110, 210}}) {
		t.Errorf("a at %v", b)
	}
	if b := fps["b"].Bound(); b != (orb.Bound{Min: orb.Point{300, 200}, Max: orb.Point{305, 205}}) {
		t.Errorf("b at %v", b)
	}
}

func TestGeometryInstanceErrors(t *testing.T) {
	inst := func(tmpl, bounds, matrix string) string {
		return `{"type":"CityJSON","version":"2.0","CityObjects":{"x":{"type":"Building","geometry":[{"type":"GeometryInstance","template":` + tmpl +
			`,"boundaries":` + bounds + `,"transformationMatrix":` + matrix + `}]}},"vertices":[[0,0,0]],` + cubeTemplate + `}`
	}
	id := `[1,0,0,0,0,1,0,0,0,0,1,0,0,0,0,1]`
	for _, tc := range []struct{ doc, want string }{
		{inst("3", "[0]", id), "template 3 not found"},
		{inst("0", "[5]", id), "vertex index 5 out of range"},
		{inst("0", "[0,0]", id), "one reference vertex"},
		{inst("0", "[0]", "[1,0,0]"), "16 numbers"},
		{strings.Replace(inst("0", "[0]", id), "[[0,0,0],[10,0,0]", "[[0,0,0],[10,0]", 1), "template vertex index 1 out of range"},
		{`{"type":"CityJSON","version":"2.0","CityObjects":{"x":{"type":"Building","geometry":[{"type":"GeometryInstance","template":0,"boundaries":[0]}]}},"vertices":[[0,0,0]]}`, "no \"geometry-templates\""},
	} {
		_, errs, _ := decodeAll(t, tc.doc)
		if err := errs["x"]; err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}

// prism extrudes a footprint (counter-clockwise) to a solid whose floor
// vertex i is at floorZ[i] and whose roof is at 12, without the floor when
// open (as the LoD1 solids of some Dutch data sets).
func prism(id string, fp [][2]float64, floorZ []float64, open bool, ground bool) string {
	n := len(fp)
	var verts, faces, sem []string
	for i, p := range fp {
		verts = append(verts, fmt.Sprintf("[%g,%g,%g]", p[0], p[1], floorZ[i]))
	}
	for _, p := range fp {
		verts = append(verts, fmt.Sprintf("[%g,%g,12]", p[0], p[1]))
	}
	ring := func(idx ...int) string { return strings.Trim(strings.Join(strings.Fields(fmt.Sprint(idx)), ","), "[]") }
	var floor, roof []int
	for i := 0; i < n; i++ {
		floor = append(floor, n-1-i)
		roof = append(roof, n+i)
	}
	if !open {
		faces = append(faces, "[["+ring(floor...)+"]]")
		sem = append(sem, "0")
	}
	faces = append(faces, "[["+ring(roof...)+"]]")
	sem = append(sem, "1")
	for i := 0; i < n; i++ {
		j := (i + 1) % n
		faces = append(faces, "[["+ring(i, j, n+j, n+i)+"]]")
		sem = append(sem, "2")
	}
	semantics := ""
	if ground {
		semantics = `,"semantics":{"surfaces":[{"type":"GroundSurface"},{"type":"RoofSurface"},{"type":"WallSurface"}],"values":[[` + strings.Join(sem, ",") + `]]}`
	}
	return `{"type":"CityJSON","version":"2.0","transform":{"scale":[1,1,1],"translate":[0,0,0]},"CityObjects":{"` + id +
		`":{"type":"Building","geometry":[{"type":"Solid","lod":"2.2","boundaries":[[` + strings.Join(faces, ",") + `]]` + semantics + `}]}},"vertices":[` + strings.Join(verts, ",") + `]}`
}

func TestFootprintSlopedGround(t *testing.T) {
	lShape := [][2]float64{{0, 0}, {10, 0}, {10, 5}, {5, 5}, {5, 10}, {0, 10}}
	for _, tc := range []struct {
		name   string
		doc    string
		area   float64
		points int
	}{
		// The tester's triangular prism, its floor rising 0 to 0.3 m: 50 m², not
		// its bounding box.
		{"triangle", prism("b", [][2]float64{{0, 0}, {10, 0}, {0, 10}}, []float64{0, 0.3, 0.15}, false, false), 50, 4},
		// An L-shaped building on a slope: the L, neither its bounding box
		// (100) nor its convex hull (87.5).
		{"L sloped", prism("b", lShape, []float64{0, 0.5, 0.5, 0.25, 0.5, 0.5}, false, false), 75, 7},
		{"L sloped, GroundSurface", prism("b", lShape, []float64{0, 0.5, 0.5, 0.25, 0.5, 0.5}, false, true), 75, 7},
		// No floor at all (open solids, as in 3D Delft): the outline.
		{"L open", prism("b", lShape, []float64{0, 0, 0, 0, 0, 0}, true, false), 75, 7},
		{"L flat", prism("b", lShape, []float64{0, 0, 0, 0.01, 0, 0}, false, false), 75, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fps, errs, _ := decodeAll(t, tc.doc)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			fp := fps["b"]
			if a := area(fp); math.Abs(a-tc.area) > 1e-6 {
				t.Errorf("footprint area %g, want %g (%v)", a, tc.area, fp)
			}
			if len(fp) != 1 || len(fp[0]) != 1 || len(fp[0][0]) != tc.points {
				t.Errorf("footprint %v, want one ring of %d points", fp, tc.points)
			}
		})
	}
}

func TestFootprintGroundSemantics(t *testing.T) {
	// A 10 × 10 ground (GroundSurface, sloping) under a 14 × 10 roof: the
	// ground, not the overhang.
	doc := `{"type":"CityJSON","version":"2.0","CityObjects":{"b":{"type":"Building","geometry":[{"type":"MultiSurface","lod":2,
"boundaries":[[[0,3,2,1]],[[4,5,6,7]]],
"semantics":{"surfaces":[{"type":"GroundSurface"},{"type":"RoofSurface"}],"values":[0,1]}}]}},
"vertices":[[0,0,0],[10,0,0.5],[10,10,0.5],[0,10,0],[-2,0,6],[12,0,6],[12,10,6],[-2,10,6]]}`
	fps, errs, _ := decodeAll(t, doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if a := area(fps["b"]); math.Abs(a-100) > 1e-6 {
		t.Errorf("footprint area %g, want 100", a)
	}
	// Without semantics the ground is not flat: the outline seen from above.
	doc = strings.Replace(doc, `"semantics"`, `"x"`, 1)
	fps, _, _ = decodeAll(t, doc)
	if a := area(fps["b"]); math.Abs(a-140) > 1e-6 {
		t.Errorf("footprint area %g, want 140", a)
	}
}

func TestFootprintTriangulatedGround(t *testing.T) {
	// A flat ground in two triangles: one polygon.
	doc := `{"type":"CityJSON","version":"2.0","CityObjects":{"b":{"type":"Building","geometry":[{"type":"MultiSurface","lod":2,
"boundaries":[[[0,2,1]],[[0,3,2]],[[4,5,6,7]]]}]}},
"vertices":[[0,0,0],[10,0,0],[10,10,0],[0,10,0],[0,0,6],[10,0,6],[10,10,6],[0,10,6]]}`
	fps, errs, _ := decodeAll(t, doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if fp := fps["b"]; len(fp) != 1 || math.Abs(area(fp)-100) > 1e-9 {
		t.Errorf("footprint %v", fp)
	}
}
