package tiles_test

import (
	"testing"

	"github.com/citytwin/citytwin/tiles"
)

func FuzzParseTilePath(f *testing.F) {
	f.Add("14", "13487", "6220.pbf")
	f.Add("23", "0", "0.pbf")
	f.Add("-1", "x", ".pbf")
	f.Add("99999999999999999999", "1", "1.png")
	f.Fuzz(func(t *testing.T, z, x, y string) {
		zz, xx, yy, err := tiles.ParseTilePath(z, x, y)
		if err == nil && (zz < 0 || zz > tiles.MaxZoom || xx > 1<<32 || yy > 1<<32) {
			t.Fatalf("accepted %q %q %q as %d %d %d", z, x, y, zz, xx, yy)
		}
	})
}

func FuzzParseBBox(f *testing.F) {
	f.Add(116.0, 37.0, 117.0, 38.0)
	f.Add(10.0, 0.0, 5.0, 1.0)
	f.Fuzz(func(t *testing.T, w, s, e, n float64) {
		b, err := tiles.ParseBBox([]float64{w, s, e, n})
		if err == nil && (b.Min[0] > b.Max[0] || b.Min[1] > b.Max[1]) {
			t.Fatalf("accepted an inverted bbox %v", b)
		}
	})
}
