package swmm

import (
	"bytes"
	"os"
	"testing"
)

func FuzzScanner(f *testing.F) {
	f.Add([]byte("[OPTIONS]\nFLOW_UNITS CMS\n[JUNCTIONS]\nJ1 10 3\n[OUTFALLS]\nO1 5 FREE\n[CONDUITS]\nC1 J1 O1 100 0.01 0 0.5\n[XSECTIONS]\nC1 CIRCULAR 0.6\n[COORDINATES]\nJ1 0 0\nO1 100 0\n"))
	if b, err := os.ReadFile("../../../shared/data/drainage/swmm_Example1.inp"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := NewScanner(bytes.NewReader(b), "fuzz.inp")
		if err != nil {
			return
		}
		for s.Scan() {
			if r := s.Record(); r.Decode != nil {
				_ = r.Decode(r)
			}
		}
	})
}
