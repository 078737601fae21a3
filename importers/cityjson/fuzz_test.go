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
