package epanet

import (
	"bytes"
	"os"
	"testing"
)

func FuzzScanner(f *testing.F) {
	f.Add([]byte("[JUNCTIONS]\n 10 710 0\n[RESERVOIRS]\n 9 800\n[PIPES]\n 1 9 10 100 12 100 0 Closed\n[COORDINATES]\n 10 1 2\n 9 3 4\n[VERTICES]\n 1 2 3\n"))
	f.Add([]byte("[JUNCTIONS]\n J1 1\n J2 2\n[PIPES]\n P1 J1 J2 10 100 100 CV\n P2 J2 J1 10 100 100 Closed\n P3 J1 J1 1 1 1 0 Open\n[COORDINATES]\n J1 0 0\n"))
	f.Add([]byte("[VALVES]\n v 1 2 8 PRV 50\n[STATUS]\n v Closed\n"))
	if b, err := os.ReadFile("../../../shared/data/epanet/Net1.inp"); err == nil {
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
