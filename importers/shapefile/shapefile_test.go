package shapefile

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"os"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// dbfField is one DBF column: name, type and width (decimals for N).
type dbfField struct {
	name     string
	typ      byte
	len, dec int
}

// testShapefile builds a point shapefile's .shp and .dbf in memory. Each row
// is the record's raw bytes, deletion flag first, already padded to the
// fields' widths.
func testShapefile(tb testing.TB, fields []dbfField, rows [][]byte, ldid byte) (shp, dbf []byte) {
	tb.Helper()
	be, le := binary.BigEndian, binary.LittleEndian
	hdr := make([]byte, 100)
	be.PutUint32(hdr, 9994)
	be.PutUint32(hdr[24:], uint32((100+28*len(rows))/2))
	le.PutUint32(hdr[28:], 1000)
	le.PutUint32(hdr[32:], 1)
	shp = hdr
	for i := range rows {
		rec := make([]byte, 28)
		be.PutUint32(rec, uint32(i+1))
		be.PutUint32(rec[4:], 10)
		le.PutUint32(rec[8:], 1)
		le.PutUint64(rec[12:], math.Float64bits(116.4+float64(i)/1000))
		le.PutUint64(rec[20:], math.Float64bits(39.9))
		shp = append(shp, rec...)
	}
	recLen := 1
	for _, f := range fields {
		recLen += f.len
	}
	h := make([]byte, 32)
	h[0] = 3
	le.PutUint32(h[4:], uint32(len(rows)))
	le.PutUint16(h[8:], uint16(32+32*len(fields)+1))
	le.PutUint16(h[10:], uint16(recLen))
	h[29] = ldid
	dbf = h
	for _, f := range fields {
		d := make([]byte, 32)
		copy(d, f.name)
		d[11], d[16], d[17] = f.typ, byte(f.len), byte(f.dec)
		dbf = append(dbf, d...)
	}
	dbf = append(dbf, 0x0D)
	for i, r := range rows {
		if len(r) != recLen {
			tb.Fatalf("row %d is %d bytes, the record %d", i, len(r), recLen)
		}
		dbf = append(dbf, r...)
	}
	return shp, append(dbf, 0x1A)
}

// openBytes opens a shapefile from its parts; cpg "" means no .cpg.
func openBytes(tb testing.TB, shp, dbf []byte, cpg string) *Scanner {
	tb.Helper()
	s, err := open("t.shp", func(ext string) (io.ReadCloser, error) {
		switch {
		case ext == ".shp":
			return nopCloser{bytes.NewReader(shp)}, nil
		case ext == ".dbf":
			return nopCloser{bytes.NewReader(dbf)}, nil
		case ext == ".cpg" && cpg != "":
			return nopCloser{strings.NewReader(cpg)}, nil
		}
		return nil, os.ErrNotExist
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// readAll scans every record, failing on a decode or scan error, and
// returns their numbers and properties.
func readAll(tb testing.TB, s *Scanner) ([]int64, []map[string]any) {
	tb.Helper()
	var nums []int64
	var props []map[string]any
	for s.Scan() {
		r := s.Record()
		if err := r.Decode(r); err != nil {
			tb.Fatalf("record %d: %v", r.Num, err)
		}
		nums = append(nums, r.Num)
		props = append(props, r.Props)
	}
	if err := s.Err(); err != nil {
		tb.Fatal(err)
	}
	return nums, props
}

func pad(s string, n int) string { return s + strings.Repeat(" ", n-len(s)) }

func lpad(s string, n int) string { return strings.Repeat(" ", n-len(s)) + s }

// A record the DBF flags deleted ('*') is skipped, as GDAL does; the others
// keep their record numbers.
func TestDeletedRecordsSkipped(t *testing.T) {
	fields := []dbfField{{"id", 'N', 9, 0}}
	rows := [][]byte{[]byte(" " + lpad("11", 9)), []byte("*" + lpad("20", 9)), []byte(" " + lpad("31", 9))}
	shp, dbf := testShapefile(t, fields, rows, 0x57)
	nums, props := readAll(t, openBytes(t, shp, dbf, ""))
	if len(nums) != 2 || nums[0] != 1 || nums[1] != 3 || props[0]["id"] != 11.0 || props[1]["id"] != 31.0 {
		t.Fatalf("records %v %v, want 1 (id 11) and 3 (id 31)", nums, props)
	}
	// A last deleted record ends the scan cleanly.
	shp, dbf = testShapefile(t, fields, rows[:2], 0x57)
	if nums, _ := readAll(t, openBytes(t, shp, dbf, "")); len(nums) != 1 || nums[0] != 1 {
		t.Fatalf("records %v, want 1", nums)
	}
}

// Text padded with NULs rather than blanks ends at the first NUL, as GDAL
// reads it, in every code page.
func TestNULPaddedText(t *testing.T) {
	fields := []dbfField{{"name", 'C', 10, 0}, {"n", 'N', 6, 0}}
	rows := [][]byte{
		[]byte(" a\x00\x00\x00\x00\x00\x00\x00\x00\x00" + lpad("7", 6)),
		[]byte(" bc\x00junk\x00\x00\x00" + "\x00\x00\x00\x00\x00\x00"),
	}
	for _, cpg := range []string{"", "UTF-8", "GBK", "1252"} {
		shp, dbf := testShapefile(t, fields, rows, 0)
		_, props := readAll(t, openBytes(t, shp, dbf, cpg))
		if len(props) != 2 || props[0]["name"] != "a" || props[0]["n"] != 7.0 || props[1]["name"] != "bc" || props[1]["n"] != nil {
			t.Errorf("cpg %q: %v", cpg, props)
		}
	}
}

// A null date, as GDAL writes it (zeros) or as blanks, is no value.
func TestNullDates(t *testing.T) {
	fields := []dbfField{{"built", 'D', 8, 0}}
	rows := [][]byte{[]byte(" 20190501"), []byte(" 00000000"), []byte("         "), []byte(" \x00\x00\x00\x00\x00\x00\x00\x00")}
	shp, dbf := testShapefile(t, fields, rows, 0x57)
	_, props := readAll(t, openBytes(t, shp, dbf, ""))
	want := []any{"2019-05-01", nil, nil, nil}
	for i, p := range props {
		if v, ok := p["built"]; !ok || v != want[i] {
			t.Errorf("record %d: built = %#v, want %#v", i+1, v, want[i])
		}
	}
}

// Numbers with more digits than a float64 holds keep them all: an
// N(20,0) key such as 440305001001001001 must not collide with its
// neighbours.
func TestLongNumbersExact(t *testing.T) {
	fields := []dbfField{{"bid", 'N', 30, 0}}
	cases := []struct {
		raw  string
		want any
	}{
		{"440305001001001001", int64(440305001001001001)},
		{"440305001001001002", int64(440305001001001002)},
		{"-9223372036854775808", int64(math.MinInt64)},
		{"+0440305001001001003", int64(440305001001001003)},
		{"123456789012345678901234", json.Number("123456789012345678901234")},
		{"-00123456789012345678.25", json.Number("-123456789012345678.25")},
		{"1234567890123456.", json.Number("1234567890123456")},
		{"12345", 12345.0},
		{"12.50", 12.5},
		{"0.000000000000000000001", 1e-21},
	}
	var rows [][]byte
	for _, tc := range cases {
		rows = append(rows, []byte(" "+lpad(tc.raw, 30)))
	}
	shp, dbf := testShapefile(t, fields, rows, 0x57)
	_, props := readAll(t, openBytes(t, shp, dbf, ""))
	for i, tc := range cases {
		if got := props[i]["bid"]; got != tc.want {
			t.Errorf("%s: %#v, want %#v", tc.raw, got, tc.want)
		}
	}
	// As the loader stores props: every digit survives encoding/json.
	b, err := json.Marshal(props[0])
	if err != nil || string(b) != `{"bid":440305001001001001}` {
		t.Errorf("json %s, %v", b, err)
	}
	b, err = json.Marshal(props[5])
	if err != nil || string(b) != `{"bid":-123456789012345678.25}` {
		t.Errorf("json %s, %v", b, err)
	}
}

// Without a .cpg or a language driver that names the code page, each value
// is read as UTF-8 when valid, else as GB18030: a GBK row after more than
// 64 KiB of ASCII ones (more than any sample of the first rows) reads right.
// A .cpg stays authoritative.
func TestEncodingDetectedPerValue(t *testing.T) {
	gbk, err := simplifiedchinese.GBK.NewEncoder().String("国贸大厦")
	if err != nil {
		t.Fatal(err)
	}
	fields := []dbfField{{"name", 'C', 40, 0}}
	var rows [][]byte
	for i := 0; i < 2000; i++ { // 82 KB
		rows = append(rows, []byte(" "+pad("building "+strings.Repeat("x", i%20), 40)))
	}
	rows = append(rows, []byte(" "+pad(gbk, 40)), []byte(" "+pad("中关村", 40)))
	shp, dbf := testShapefile(t, fields, rows, 0)
	if len(dbf) < 80<<10 {
		t.Fatalf("the DBF is only %d bytes", len(dbf))
	}
	s := openBytes(t, shp, dbf, "")
	_, props := readAll(t, s)
	n := len(props)
	if props[0]["name"] != "building" || props[n-2]["name"] != "国贸大厦" || props[n-1]["name"] != "中关村" {
		t.Errorf("code page %s: %q, %q, %q", s.CodePage, props[0]["name"], props[n-2]["name"], props[n-1]["name"])
	}
	// A field name in GBK is read the same way.
	fields = []dbfField{{gbk[:8], 'C', 4, 0}, {"名称", 'C', 4, 0}}
	shp, dbf = testShapefile(t, fields, [][]byte{[]byte(" abcdefgh")}, 0)
	if _, props := readAll(t, openBytes(t, shp, dbf, "")); props[0]["国贸大厦"] != "abcd" || props[0]["名称"] != "efgh" {
		t.Errorf("field names: %v", props[0])
	}
	// UTF-8 cut by the field's width mid-character is still UTF-8; ASCII
	// then a GBK character so cut is not.
	fields = []dbfField{{"name", 'C', 8, 0}}
	shp, dbf = testShapefile(t, fields, [][]byte{[]byte(" 中关村"[:9]), []byte(" ABCDEF" + gbk[:2])}, 0)
	if _, props := readAll(t, openBytes(t, shp, dbf, "")); props[0]["name"] != "中关" || props[1]["name"] != "ABCDEF国" {
		t.Errorf("cut values: %q, %q", props[0]["name"], props[1]["name"])
	}
	// A .cpg decides: UTF-8 text in a file that says GBK is read as GBK.
	shp, dbf = testShapefile(t, []dbfField{{"name", 'C', 40, 0}}, rows[len(rows)-1:], 0)
	if _, props := readAll(t, openBytes(t, shp, dbf, "GBK")); props[0]["name"] == "中关村" {
		t.Error("the .cpg was not followed")
	}
}
