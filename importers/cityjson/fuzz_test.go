package cityjson

import (
	"bytes"
	"testing"
)

func FuzzScanner(f *testing.F) {
	f.Add([]byte(`{"type":"CityJSON","version":"2.0","transform":{"scale":[0.001,0.001,0.001],"translate":[0,0,0]},
"CityObjects":{"b1":{"type":"Building","attributes":{"measuredHeight":6},"geometry":[{"type":"Solid","lod":"1","boundaries":[[[[0,1,2,3]],[[4,5,6,7]]]]}]}},
"vertices":[[0,0,0],[1000,0,0],[1000,1000,0],[0,1000,0],[0,0,5000],[1000,0,5000],[1000,1000,5000],[0,1000,5000]]}`))
	f.Add([]byte(`{"type":"CityJSON","version":"2.0","transform":{"scale":[1,1,1],"translate":[0,0,0]},"CityObjects":{},"vertices":[]}` + "\n" +
		`{"type":"CityJSONFeature","id":"x","CityObjects":{"x":{"type":"BuildingPart","geometry":[{"type":"MultiSurface","lod":2,"boundaries":[[[0,1,2]]]}]}},"vertices":[[0,0,0],[1,0,0],[9,9,9]]}`))
	f.Add([]byte(`{"type":"CityJSON","version":"2.0","transform":{"scale":[0.01,0.01,0.01],"translate":[0,0,0]},
"CityObjects":{"t":{"type":"Building","geometry":[{"type":"GeometryInstance","template":0,"boundaries":[0],"transformationMatrix":[0,-2,0,0,2,0,0,0,0,0,1,5,0,0,0,1]}]}},
"vertices":[[2000,3000,100]],"geometry-templates":{"templates":[{"type":"MultiSurface","lod":"2","boundaries":[[[0,2,1]],[[3,4,5]]],
"semantics":{"surfaces":[{"type":"GroundSurface"},{"type":"RoofSurface"}],"values":[0,1]}}],"vertices-templates":[[0,0,0],[10,0,0.3],[0,10,0.1],[0,0,9],[10,0,9],[0,10,9]]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := NewScanner(bytes.NewReader(b), "fuzz")
		if err != nil {
			return
		}
		for i := 0; s.Scan() && i < 1000; i++ {
			r := s.Record()
			_ = r.Decode(r)
		}
	})
}
