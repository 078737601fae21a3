package geojson

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/citytwin/citytwin/spatial/load"
)

// decodeStd is what Decode did before it used fastjson: encoding/json and
// orb's GeoJSON types, except that whole numbers of more than 15 digits
// keep their digits. Decode must give the same records.
func decodeStd(raw []byte, r *load.Record) error {
	var f struct {
		Type       string          `json:"type"`
		ID         json.RawMessage `json:"id"`
		Geometry   json.RawMessage `json:"geometry"`
		Properties map[string]any  `json:"properties"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&f); err != nil {
		return err
	}
	var numbers func(v any) any
	numbers = func(v any) any {
		switch x := v.(type) {
		case json.Number:
			if wholeNumber([]byte(x)) && len(x) > 15 {
				return x
			}
			f, _ := x.Float64()
			return f
		case []any:
			for i := range x {
				x[i] = numbers(x[i])
			}
		case map[string]any:
			for k := range x {
				x[k] = numbers(x[k])
			}
		}
		return v
	}
	numbers(f.Properties)
	g, err := geojson.UnmarshalGeometry(f.Geometry)
	if err != nil {
		return err
	}
	r.Geom = g.Geometry()
	r.Props = f.Properties
	if r.Props == nil {
		r.Props = map[string]any{}
	}
	if len(f.ID) > 0 && string(f.ID) != "null" {
		var s string
		if json.Unmarshal(f.ID, &s) == nil {
			r.SourceID = s
		} else if wholeNumber(f.ID) {
			r.SourceID = string(f.ID)
		} else if n, err := strconv.ParseFloat(string(f.ID), 64); err == nil {
			r.SourceID = strconv.FormatFloat(n, 'f', -1, 64)
		}
	}
	return nil
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		`{"type":"Feature","id":"b1","properties":{"name":"楼 1","height":12.5,"floors":3,"tags":["a",1,null,true],"nested":{"x":{"y":[1.5e3,-0.0,2E-7]}}},"geometry":{"type":"Polygon","coordinates":[[[116.3001234,39.85],[116.3002,39.85],[116.3002,39.8501],[116.3001234,39.85]]]}}`,
		`{"geometry":{"coordinates":[[[[0,0,5],[1,0,5],[1,1,5],[0,0,5]]],[[[2,2],[3,2],[3,3],[2,2]]]],"type":"MultiPolygon"},"type":"Feature","id":42,"properties":null}`,
		`{"type":"Feature","id":1.5e2,"geometry":{"type":"Point","coordinates":[0.1,0.2]},"properties":{}}`,
		`{"type":"Feature","id":1734567890123456789,"geometry":{"type":"Point","coordinates":[0.1,0.2]},"properties":{"code":110101199003071234,"n":-9007199254740993,"f":1.5}}`,
		`{"type":"Feature","geometry":{"type":"LineString","coordinates":[[1,2],[3,4],[5.000000000000001,6]]}}`,
		`{"type":"Feature","geometry":{"type":"MultiLineString","coordinates":[[[1,2],[3,4]],[[5,6],[7,8]]]},"properties":{"s":"tab\there \"quoted\" \u00e9 \ud83d\ude00"}}`,
		`{"type":"Feature","geometry":{"type":"MultiPoint","coordinates":[[1,2],[3,4]]},"properties":{"big":12345678901234567890,"tiny":4.9e-324}}`,
		`{"type":"Feature","geometry":{"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[1,2]},{"type":"LineString","coordinates":[[1,2],[3,4]]}]}}`,
		`  {"type":"Feature","properties":{"a":1,"a":2},"geometry":{"type":"Point","coordinates":[1,2]}}  `,
	} {
		var got, want load.Record
		if err := Decode([]byte(s), &got); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if err := decodeStd([]byte(s), &want); err != nil {
			t.Fatalf("%s: encoding/json: %v", s, err)
		}
		if !reflect.DeepEqual(got.Geom, want.Geom) || !reflect.DeepEqual(got.Props, want.Props) || got.SourceID != want.SourceID {
			t.Errorf("%s:\n got %#v %#v %q\nwant %#v %#v %q", s, got.Geom, got.Props, got.SourceID, want.Geom, want.Props, want.SourceID)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, s := range []string{
		``, `[]`, `{"type":"Feature"`, `{"type":"Feature","geometry":null}`,
		`{"type":"Topology","geometry":{"type":"Point","coordinates":[1,2]}}`,
		`{"type":"Feature","geometry":{"type":"Point","coordinates":[1]}}`,
		`{"type":"Feature","geometry":{"type":"Point","coordinates":[1,"2"]}}`,
		`{"type":"Feature","geometry":{"type":"Point","coordinates":[NaN,2]}}`,
		`{"type":"Feature","geometry":{"type":"Point","coordinates":[1e999,2]}}`,
		`{"type":"Feature","geometry":{"type":"Point","coordinates":[01,2]}}`,
		`{"type":"Feature","geometry":{"type":"Point"}}`,
		`{"type":"Feature","geometry":{"type":"Circle","coordinates":[1,2]}}`,
		`{"type":"Feature","geometry":{"type":"Polygon","coordinates":{}}}`,
		`{"type":"Feature","geometry":{"type":"GeometryCollection","geometries":[]}}`,
		`{"type":"Feature","properties":[1],"geometry":{"type":"Point","coordinates":[1,2]}}`,
		`{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]}} x`,
		`{"type":"Feature","properties":{"a":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `},"geometry":{"type":"Point","coordinates":[1,2]}}`,
	} {
		var r load.Record
		if err := Decode([]byte(s), &r); err == nil {
			t.Errorf("%s: decoded as %#v", s, r.Geom)
		}
	}
}

// Invalid UTF-8 becomes U+FFFD, never bytes PostgreSQL would refuse.
func TestDecodeInvalidUTF8(t *testing.T) {
	var r load.Record
	if err := Decode([]byte("{\"type\":\"Feature\",\"id\":\"a\xffb\",\"properties\":{\"k\xfe\":\"v\xff\"},\"geometry\":{\"type\":\"Point\",\"coordinates\":[1,2]}}"), &r); err != nil {
		t.Fatal(err)
	}
	if r.SourceID != "a\uFFFDb" || r.Props["k\uFFFD"] != "v\uFFFD" {
		t.Fatalf("got %q %v", r.SourceID, r.Props)
	}
	if p := r.Geom.(orb.Point); p != (orb.Point{1, 2}) || math.IsNaN(p[0]) {
		t.Fatalf("geometry %v", r.Geom)
	}
}
