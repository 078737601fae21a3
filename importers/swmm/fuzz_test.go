package swmm

import (
	"bytes"
	"os"
	"testing"
)

func FuzzScanner(f *testing.F) {
	f.Add([]byte("[OPTIONS]\nFLOW_UNITS CMS\n[JUNCTIONS]\nJ1 10 3\n[OUTFALLS]\nO1 5 FREE\n[CONDUITS]\nC1 J1 O1 100 0.01 0 0.5\n[XSECTIONS]\nC1 CIRCULAR 0.6\n[COORDINATES]\nJ1 0 0\nO1 100 0\n"))
	f.Add([]byte("[OPTIONS]\nLINK_OFFSETS ELEVATION\n[JUNCTIONS]\nJ1 10 3\n[STORAGE]\nS1 8 4\n[OUTFALLS]\nO1 5 FREE\n[CONDUITS]\nC1 J1 S1 100 0.01 * 9\n[ORIFICES]\nR1 S1 O1 SIDE * 0.6\n[WEIRS]\nW1 S1 O1 TRANSVERSE 9 3.3\n[OUTLETS]\nL1 S1 O1 8.5 FUNCTIONAL/DEPTH 10 0.5\n[PUMPS]\nP1 S1 O1 * OFF\n[XSECTIONS]\nR1 RECT_CLOSED 0.5 0.5 0 0\n[COORDINATES]\nJ1 0 0\nS1 50 0\n[VERTICES]\nW1 60 10\n"))
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
