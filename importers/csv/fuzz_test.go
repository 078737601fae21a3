package csv

import (
	"bytes"
	"testing"
)

func FuzzScanner(f *testing.F) {
	for _, s := range []string{
		"id,lon,lat,name\n1,116.4,39.9,a\n2,x,39.9,b\n",
		"id;wkt\n1;POLYGON((0 0,1 0,1 1,0 0))\n2;POINT(\n",
		"\xb1\xe0\xba\xc5,\xbe\xad\xb6\xc8,\xce\xb3\xb6\xc8\n1,116,39\n",
		"a\tb\n\"unterminated\n",
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
	})
}
