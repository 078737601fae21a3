package geojson

import (
	"bytes"
	"testing"

	"github.com/citytwin/citytwin/spatial/load"
)

func FuzzScanner(f *testing.F) {
	for _, s := range []string{
		`{"type":"FeatureCollection","features":[{"type":"Feature","id":1,"properties":{"a":1},"geometry":{"type":"Point","coordinates":[1,2]}}]}`,
		`{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}` + "\n" + `{"type":"Feature","properties":null,"geometry":null}`,
		`{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:3857"}},"features":[`,
		`{"type":"Feature","geometry":{"type":"GeometryCollection","geometries":[]}}`,
		"\xef\xbb\xbf{}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := NewScanner(bytes.NewReader(b), "fuzz")
		if err != nil {
			return
		}
		for i := 0; s.Scan() && i < 1000; i++ {
			r := s.Record()
			_ = r.Decode(r)
		}
		_ = s.Err()
	})
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"Feature","id":"x","properties":{"h":3},"geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]]]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r load.Record
		_ = Decode(b, &r)
	})
}
