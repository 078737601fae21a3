package importers_test

import (
	"context"
	"testing"

	"github.com/citytwin/citytwin/importers"
)

// cjHeader is a CityJSON 2.0 header in RD New + NAP around Utrecht, with
// one template: a 10 × 10 × 12 m box.
const cjHeader = `"type":"CityJSON","version":"2.0","transform":{"scale":[0.01,0.01,0.01],"translate":[85000,446000,0]},` +
	`"metadata":{"referenceSystem":"https://www.opengis.net/def/crs/EPSG/0/7415"},` +
	`"geometry-templates":{"templates":[{"type":"Solid","lod":"2","boundaries":[[[[0,3,2,1]],[[4,5,6,7]],[[0,1,5,4]],[[1,2,6,5]],[[2,3,7,6]],[[3,0,4,7]]]]}],` +
	`"vertices-templates":[[0,0,0],[10,0,0],[10,10,0],[0,10,0],[0,0,12],[10,0,12],[10,10,12],[0,10,12]]}`

func TestCityJSONTemplatesAndSlopedGround(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	// b1 a plain box, b2 an instance of the template (scaled 2 × in x) at
	// (20, 20), tri a triangular prism whose floor rises 0 to 0.3 m.
	doc := writeFile(t, "fixes.city.json", `{`+cjHeader+`,"CityObjects":{
"b1":{"type":"Building","attributes":{"measuredHeight":12.0},"geometry":[{"type":"Solid","lod":2,"boundaries":[[[[0,3,2,1]],[[4,5,6,7]],[[0,1,5,4]],[[1,2,6,5]],[[2,3,7,6]],[[3,0,4,7]]]]}]},
"b2":{"type":"Building","geometry":[{"type":"GeometryInstance","template":0,"boundaries":[8],"transformationMatrix":[2,0,0,0,0,1,0,0,0,0,1,0,0,0,0,1]}]},
"tri":{"type":"Building","geometry":[{"type":"Solid","lod":"2.2","boundaries":[[[[9,11,10]],[[12,13,14]],[[9,10,13,12]],[[10,11,14,13]],[[11,9,12,14]]]]}]}},
"vertices":[[0,0,0],[1000,0,0],[1000,1000,0],[0,1000,0],[0,0,1200],[1000,0,1200],[1000,1000,1200],[0,1000,1200],[2000,2000,0],
[5000,0,0],[6000,0,30],[5000,1000,15],[5000,0,1200],[6000,0,1200],[5000,1000,1200]]}`)
	seq := writeFile(t, "fixes.city.jsonl", `{`+cjHeader+`,"CityObjects":{},"vertices":[]}
{"type":"CityJSONFeature","id":"s1","CityObjects":{"s1":{"type":"Building","geometry":[{"type":"GeometryInstance","template":0,"boundaries":[0],"transformationMatrix":[1,0,0,0,0,1,0,0,0,0,1,0,0,0,0,1]}]}},"vertices":[[8000,0,0]]}
`)
	rep, err := importers.Run(ctx, s, nil, importers.Options{Files: []string{doc, seq}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inserted != 4 || rep.Rejected != 0 {
		t.Fatalf("report %+v", rep)
	}
	for _, tc := range []struct {
		id   string
		area float64
		x, y float64 // the footprint's south-west corner, RD
	}{
		{"b1", 100, 85000, 446000},
		{"b2", 200, 85020, 446020},
		{"tri", 50, 85050, 446000},
		{"s1", 100, 85080, 446000},
	} {
		q := `SELECT count(*) FROM buildings, LATERAL (SELECT ST_Transform(geom, 28992) AS g) rd
WHERE source_id = $1 AND geom3d IS NOT NULL AND height_m = 12 AND GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON')
AND abs(ST_Area(g) - $2) < 0.01 AND abs(ST_XMin(g) - $3) < 0.01 AND abs(ST_YMin(g) - $4) < 0.01`
		if n := count(t, s, q, tc.id, tc.area, tc.x, tc.y); n != 1 {
			t.Errorf("%s: no %g m² footprint at (%g, %g)", tc.id, tc.area, tc.x, tc.y)
		}
	}
}
