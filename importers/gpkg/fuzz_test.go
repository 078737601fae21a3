package gpkg

import "testing"

func FuzzGeometry(f *testing.F) {
	// GP header (little-endian, no envelope, srs 4326) + WKB point.
	f.Add([]byte{'G', 'P', 0, 1, 0xE6, 0x10, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0, 0, 0, 0, 0, 0, 0, 0x40})
	f.Add([]byte{'G', 'P', 0, 3, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = Geometry(b) })
}
