package osm

import (
	"bytes"
	"context"
	"testing"
	"time"
)

func FuzzXML(f *testing.F) {
	f.Add([]byte(`<osm version="0.6"><node id="1" lat="43.73" lon="7.42" version="1"><tag k="highway" v="street_lamp"/></node>
<node id="2" lat="43.731" lon="7.42" version="1"/><node id="3" lat="43.731" lon="7.421" version="1"/>
<way id="10" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="1"/><tag k="building" v="yes"/><tag k="height" v="12 m"/></way></osm>`))
	f.Add([]byte(`<osm><relation id="5"><member type="way" ref="10" role="outer"/><tag k="type" v="multipolygon"/></relation></osm>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := NewScanner(ctx, bytes.NewReader(b), "fuzz", false)
		if err != nil {
			return
		}
		for s.Scan() {
		}
	})
}

func FuzzPBF(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x0d\x0a\x09OSMHeader\x18\x10"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := NewScanner(ctx, bytes.NewReader(b), "fuzz", true)
		if err != nil {
			return
		}
		for s.Scan() {
		}
	})
}

func FuzzParseLength(f *testing.F) {
	for _, s := range []string{"12", "12.5 m", "40 ft", `12'6"`, "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { parseLength(s) })
}
