package shapefile

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"os"
	"testing"
)

func polygonRecord() []byte {
	b := make([]byte, 44+4+16*4)
	le := binary.LittleEndian
	le.PutUint32(b, 5)
	le.PutUint32(b[36:], 1)
	le.PutUint32(b[40:], 4)
	pts := [][2]float64{{0, 0}, {0, 1}, {1, 1}, {0, 0}}
	for i, p := range pts {
		le.PutUint64(b[48+16*i:], math.Float64bits(p[0]))
		le.PutUint64(b[56+16*i:], math.Float64bits(p[1]))
	}
	return b
}

func FuzzGeometry(f *testing.F) {
	f.Add(polygonRecord())
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{8, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Geometry(b)
	})
}

type nopCloser struct{ io.Reader }

func (nopCloser) Close() error { return nil }

func FuzzOpen(f *testing.F) {
	shp := make([]byte, 100)
	binary.BigEndian.PutUint32(shp, 9994)
	rec := polygonRecord()
	h := make([]byte, 8)
	binary.BigEndian.PutUint32(h, 1)
	binary.BigEndian.PutUint32(h[4:], uint32(len(rec)/2))
	shp = append(append(shp, h...), rec...)
	dbf := make([]byte, 32)
	binary.LittleEndian.PutUint32(dbf[4:], 1)
	binary.LittleEndian.PutUint16(dbf[8:], 65)
	binary.LittleEndian.PutUint16(dbf[10:], 6)
	fd := make([]byte, 32)
	copy(fd, "NAME")
	fd[11], fd[16] = 'C', 5
	dbf = append(append(append(dbf, fd...), 0x0D), []byte(" hello")...)
	f.Add(shp, dbf)
	// A deleted record, NUL padding, a null date, a long key, GBK text.
	shp, dbf = testShapefile(f, []dbfField{{"bid", 'N', 20, 0}, {"name", 'C', 6, 0}, {"built", 'D', 8, 0}}, [][]byte{
		[]byte("   440305001001001001a\x00\x00\x00\x00\x0020190501"),
		[]byte("*  440305001001001002\xb9\xfa\xc3\xb3  00000000"),
		[]byte(" 123456789012345678.5      00000000"),
	}, 0)
	f.Add(shp, dbf)
	f.Fuzz(func(t *testing.T, shp, dbf []byte) {
		s, err := open("fuzz.shp", func(ext string) (io.ReadCloser, error) {
			switch ext {
			case ".shp":
				return nopCloser{bytes.NewReader(shp)}, nil
			case ".dbf":
				return nopCloser{bytes.NewReader(dbf)}, nil
			}
			return nil, os.ErrNotExist
		})
		if err != nil {
			return
		}
		defer s.Close()
		for i := 0; s.Scan() && i < 1000; i++ {
			r := s.Record()
			_ = r.Decode(r)
		}
	})
}
