// Package shapefile reads ESRI Shapefiles (.shp geometry, .dbf attributes,
// .prj CRS, .cpg code page) from a file, a folder or a .zip archive, as a
// stream: the .shp and .dbf are read side by side, record by record. The DBF
// text is decoded with the code page the .cpg names (UTF-8, GBK/936,
// GB18030, Latin-1) or, without one, the DBF's language driver byte, else
// value by value: as UTF-8 when valid and GB18030 otherwise (a file can hold
// ASCII for many rows before its first Chinese one, so no sample decides).
//
// The DBF is read as GDAL reads it: records flagged deleted ('*') are
// skipped (the others keep their record numbers), text ends at the first NUL,
// a date of zeros or blanks is no value, and numbers with more digits than a
// float64 holds exactly keep them all (int64, else json.Number).
package shapefile

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial/load"
)

// MaxRecordBytes bounds one .shp record.
const MaxRecordBytes = 256 << 20

// Scanner reads the features of one shapefile.
type Scanner struct {
	File string
	// PRJ is the .prj WKT ("" without one).
	PRJ string
	// CodePage is the DBF text encoding used: "UTF-8", "GB18030",
	// "Windows-1252", or "auto" when neither the .cpg nor the language
	// driver names one and each value is read as UTF-8 when valid, else as
	// GB18030.
	CodePage string

	shp     *bufio.Reader
	dbf     *bufio.Reader
	closers []io.Closer
	fields  []field
	dec     *encoding.Decoder
	auto    bool // decode value by value: UTF-8 when valid, else GB18030
	nrec    int64
	recLen  int
	n       int64
	rec     *load.Record
	err     error
	rowBuf  []byte
}

type field struct {
	name     string
	typ      byte
	len, dec int
}

// Open opens the shapefile at path: a .shp, a folder holding exactly one
// .shp, or a .zip holding exactly one. Returns EINVALID when the parts are
// missing or malformed.
func Open(path string) (*Scanner, error) {
	base := filepath.Base(path)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, errs.Invalid("file", "%s: %v", base, err)
	}
	var opener func(ext string) (io.ReadCloser, error)
	var name string
	switch {
	case fi.IsDir():
		shps, _ := filepath.Glob(filepath.Join(path, "*.[sS][hH][pP]"))
		if len(shps) != 1 {
			return nil, errs.Invalid("file", "%s: a folder must hold exactly one .shp, found %d", base, len(shps))
		}
		return Open(shps[0])
	case strings.EqualFold(filepath.Ext(path), ".zip"):
		zr, err := zip.OpenReader(path)
		if err != nil {
			return nil, errs.Invalid("file", "%s: not a readable zip: %v", base, err)
		}
		var shp *zip.File
		n := 0
		for _, f := range zr.File {
			if strings.EqualFold(filepath.Ext(f.Name), ".shp") && !strings.HasPrefix(filepath.Base(f.Name), "._") {
				shp = f
				n++
			}
		}
		if n != 1 {
			zr.Close()
			return nil, errs.Invalid("file", "%s: the zip must hold exactly one .shp, found %d", base, n)
		}
		stem := strings.TrimSuffix(shp.Name, filepath.Ext(shp.Name))
		name = filepath.Base(stem)
		opener = func(ext string) (io.ReadCloser, error) {
			for _, f := range zr.File {
				if strings.EqualFold(f.Name, stem+ext) {
					return f.Open()
				}
			}
			return nil, os.ErrNotExist
		}
		s, err := open(name+".shp", opener)
		if err != nil {
			zr.Close()
			return nil, err
		}
		s.closers = append(s.closers, zr)
		return s, nil
	default:
		stem := strings.TrimSuffix(path, filepath.Ext(path))
		name = filepath.Base(stem)
		opener = func(ext string) (io.ReadCloser, error) {
			for _, e := range []string{ext, strings.ToUpper(ext)} {
				f, err := os.Open(stem + e)
				if err == nil {
					return f, nil
				}
			}
			return nil, os.ErrNotExist
		}
	}
	return open(name+".shp", opener)
}

func readSmall(opener func(string) (io.ReadCloser, error), ext string) string {
	rc, err := opener(ext)
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
	return strings.TrimSpace(string(b))
}

func open(file string, opener func(string) (io.ReadCloser, error)) (*Scanner, error) {
	s := &Scanner{File: file}
	shp, err := opener(".shp")
	if err != nil {
		return nil, errs.Invalid(file, "cannot open the .shp: %v", err)
	}
	s.closers = append(s.closers, shp)
	dbf, err := opener(".dbf")
	if err != nil {
		s.Close()
		return nil, errs.Invalid(file, "the .dbf (attributes) is missing")
	}
	s.closers = append(s.closers, dbf)
	s.PRJ = readSmall(opener, ".prj")
	cpg := readSmall(opener, ".cpg")
	s.shp = bufio.NewReaderSize(shp, 1<<16)
	s.dbf = bufio.NewReaderSize(dbf, 1<<16)
	var hdr [100]byte
	if _, err := io.ReadFull(s.shp, hdr[:]); err != nil {
		s.Close()
		return nil, errs.Invalid(file, "truncated .shp header")
	}
	if binary.BigEndian.Uint32(hdr[0:4]) != 9994 {
		s.Close()
		return nil, errs.Invalid(file, "not a shapefile (bad file code)")
	}
	if err := s.readDBFHeader(cpg); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Scanner) readDBFHeader(cpg string) error {
	var h [32]byte
	if _, err := io.ReadFull(s.dbf, h[:]); err != nil {
		return errs.Invalid(s.File, "truncated .dbf header")
	}
	s.nrec = int64(binary.LittleEndian.Uint32(h[4:8]))
	hlen := int(binary.LittleEndian.Uint16(h[8:10]))
	s.recLen = int(binary.LittleEndian.Uint16(h[10:12]))
	ldid := h[29]
	if hlen < 33 || s.recLen < 1 {
		return errs.Invalid(s.File, "malformed .dbf header")
	}
	rest := make([]byte, hlen-32)
	if _, err := io.ReadFull(s.dbf, rest); err != nil {
		return errs.Invalid(s.File, "truncated .dbf header")
	}
	var rawNames [][]byte
	total := 1
	for i := 0; i+32 <= len(rest) && rest[i] != 0x0D; i += 32 {
		d := rest[i : i+32]
		nm := d[:11]
		if j := bytes.IndexByte(nm, 0); j >= 0 {
			nm = nm[:j]
		}
		f := field{typ: d[11], len: int(d[16]), dec: int(d[17])}
		if f.typ == 'C' {
			f.len += int(d[17]) << 8 // long character fields
		}
		total += f.len
		rawNames = append(rawNames, bytes.TrimSpace(nm))
		s.fields = append(s.fields, f)
	}
	if total > s.recLen {
		return errs.Invalid(s.File, "malformed .dbf: fields (%d bytes) longer than the record (%d)", total, s.recLen)
	}
	s.CodePage, s.dec = codePage(cpg, ldid)
	if s.dec == nil && s.CodePage == "" {
		// Nothing names it: no sample of the first rows can tell (they may
		// all be ASCII), so each value says for itself.
		s.CodePage, s.auto = "auto", true
		s.dec = simplifiedchinese.GB18030.NewDecoder()
	}
	for i, n := range rawNames {
		s.fields[i].name = s.text(n)
	}
	s.rowBuf = make([]byte, s.recLen)
	return nil
}

// codePage picks the text decoder from the .cpg or the language driver id.
func codePage(cpg string, ldid byte) (string, *encoding.Decoder) {
	switch strings.ToUpper(strings.TrimSpace(cpg)) {
	case "UTF-8", "UTF8", "65001":
		return "UTF-8", nil
	case "GBK", "936", "CP936", "GB2312", "ANSI 936", "GB18030", "54936":
		return "GB18030", simplifiedchinese.GB18030.NewDecoder()
	case "BIG5", "950":
		return "", nil
	case "ISO-8859-1", "LATIN1", "88591", "8859_1", "ISO88591", "1252", "CP1252", "ANSI 1252", "WINDOWS-1252":
		return "Windows-1252", charmap.Windows1252.NewDecoder()
	}
	switch ldid {
	case 0x4D, 0x7A:
		return "GB18030", simplifiedchinese.GB18030.NewDecoder()
	case 0x57, 0x03:
		return "Windows-1252", charmap.Windows1252.NewDecoder()
	}
	return "", nil
}

// text decodes one DBF value or field name. It ends at the first NUL, as
// GDAL reads it (some writers pad with NULs rather than blanks; no code page
// used here has a NUL inside a multi-byte character).
func (s *Scanner) text(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if s.auto {
		if n, ok := utf8Cut(b); ok {
			b = b[:n]
		}
	}
	if s.dec == nil || s.auto && utf8.Valid(b) {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	out, err := s.dec.Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(out)
}

// utf8Cut reports whether b is UTF-8 text with its last character cut by
// the field's width (writers truncate bytes, not characters), and where the
// whole characters end. Some other non-ASCII character must come before, so
// that ASCII followed by a GBK lead byte stays GBK.
func utf8Cut(b []byte) (int, bool) {
	i := len(b) - 1
	for i >= 0 && len(b)-i < utf8.UTFMax && !utf8.RuneStart(b[i]) {
		i--
	}
	if i < 0 || b[i] < 0xC2 || utf8.FullRune(b[i:]) || !utf8.Valid(b[:i]) {
		return 0, false
	}
	for _, c := range b[:i] {
		if c >= utf8.RuneSelf {
			return i, true
		}
	}
	return 0, false
}

// Scan advances to the next record.
func (s *Scanner) Scan() bool {
	for {
		ok, deleted := s.next()
		if !ok {
			return false
		}
		if !deleted {
			return true
		}
	}
}

// next reads the next record of the .shp and the .dbf. deleted reports a
// record the DBF flags deleted, which is skipped (as GDAL does) but keeps its
// place in the numbering.
func (s *Scanner) next() (ok, deleted bool) {
	if s.err != nil {
		return false, false
	}
	var rh [8]byte
	if _, err := io.ReadFull(s.shp, rh[:]); err != nil {
		if err == io.EOF {
			if s.n < s.nrec {
				s.err = errs.Invalid(s.File, "truncated: the .dbf has %d records, the .shp %d", s.nrec, s.n)
			}
			return false, false
		}
		s.err = errs.Invalid(s.File, "truncated .shp after record %d", s.n)
		return false, false
	}
	clen := int64(binary.BigEndian.Uint32(rh[4:8])) * 2
	if clen < 4 || clen > MaxRecordBytes {
		s.err = errs.Invalid(s.File, "record %d: bad content length %d", s.n+1, clen)
		return false, false
	}
	content := make([]byte, clen)
	if _, err := io.ReadFull(s.shp, content); err != nil {
		s.err = errs.Invalid(s.File, "truncated .shp in record %d", s.n+1)
		return false, false
	}
	if _, err := io.ReadFull(s.dbf, s.rowBuf); err != nil {
		s.err = errs.Invalid(s.File, "the .dbf has fewer records than the .shp (record %d)", s.n+1)
		return false, false
	}
	s.n++
	if s.rowBuf[0] == '*' {
		return true, true
	}
	props, err := s.attributes(s.rowBuf)
	rec := &load.Record{File: s.File, Num: s.n, Props: props}
	rec.Decode = func(r *load.Record) error {
		if err != nil {
			return err
		}
		g, err := Geometry(content)
		if err != nil {
			return err
		}
		r.Geom = g
		return nil
	}
	s.rec = rec
	return true, false
}

func (s *Scanner) attributes(row []byte) (map[string]any, error) {
	props := make(map[string]any, len(s.fields))
	off := 1
	for _, f := range s.fields {
		raw := row[off : off+f.len]
		off += f.len
		v := strings.TrimSpace(s.text(raw))
		switch f.typ {
		case 'N', 'F':
			if v == "" || strings.Trim(v, "*") == "" {
				props[f.name] = nil
				continue
			}
			x, err := number(v)
			if err != nil {
				return nil, errs.Invalid(f.name, "%q is not a number", v)
			}
			props[f.name] = x
		case 'L':
			switch strings.ToUpper(v) {
			case "T", "Y":
				props[f.name] = true
			case "F", "N":
				props[f.name] = false
			default:
				props[f.name] = nil
			}
		case 'D':
			// YYYYMMDD; GDAL writes no date as zeros, others as blanks.
			if len(v) == 8 && strings.Trim(v, "0123456789") == "" && v != "00000000" {
				props[f.name] = v[:4] + "-" + v[4:6] + "-" + v[6:]
			} else {
				props[f.name] = nil
			}
		default:
			props[f.name] = v
		}
	}
	return props, nil
}

// number reads a DBF numeric value. A value with more digits than a float64
// holds exactly (over 15) keeps them all: an int64 when it is a whole number
// that fits, else its decimal text as a json.Number, which the loader stores
// in jsonb as written (an N(20,0) key such as 440305001001001001 must not
// collide with its neighbours).
func number(v string) (any, error) {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return nil, err
	}
	digits := 0
	for _, c := range strings.TrimLeft(strings.TrimLeft(v, "+-"), "0.") {
		if c >= '0' && c <= '9' {
			digits++
		} else if c == 'e' || c == 'E' {
			break
		}
	}
	if digits <= 15 {
		return x, nil
	}
	if n, err := strconv.ParseInt(strings.TrimPrefix(v, "+"), 10, 64); err == nil {
		return n, nil
	}
	if j := jsonNumber(v); j != "" {
		return j, nil
	}
	return x, nil
}

// jsonNumber rewrites a decimal number as JSON writes it (no "+", no
// leading zeros, digits on both sides of a point); "" if it cannot.
func jsonNumber(v string) json.Number {
	sign := ""
	switch {
	case strings.HasPrefix(v, "-"):
		sign, v = "-", v[1:]
	case strings.HasPrefix(v, "+"):
		v = v[1:]
	}
	mant, exp := v, ""
	if i := strings.IndexAny(v, "eE"); i >= 0 {
		mant, exp = v[:i], v[i:]
	}
	ip, fp, point := strings.Cut(mant, ".")
	ip = strings.TrimLeft(ip, "0")
	if ip == "" {
		ip = "0"
	}
	out := sign + ip
	if point && fp != "" {
		out += "." + fp
	}
	out += exp
	if !json.Valid([]byte(out)) {
		return ""
	}
	return json.Number(out)
}

// Record returns the current record.
func (s *Scanner) Record() *load.Record { return s.rec }

// Err returns the error that stopped the scan.
func (s *Scanner) Err() error { return s.err }

// Close closes the parts.
func (s *Scanner) Close() error {
	for _, c := range s.closers {
		c.Close()
	}
	s.closers = nil
	return nil
}

// Geometry decodes one .shp record's content (from its shape type on).
// Returns EINVALID for malformed content; a null shape has no geometry.
func Geometry(b []byte) (orb.Geometry, error) {
	bad := func(format string, a ...any) error { return errs.Invalid("geometry", format, a...) }
	if len(b) < 4 {
		return nil, bad("short record")
	}
	le := binary.LittleEndian
	f64 := func(i int) float64 { return math.Float64frombits(le.Uint64(b[i:])) }
	typ := le.Uint32(b)
	switch typ {
	case 0:
		return nil, bad("null shape")
	case 1, 11, 21:
		if len(b) < 20 {
			return nil, bad("short point")
		}
		return orb.Point{f64(4), f64(12)}, nil
	case 8, 18, 28:
		if len(b) < 40 {
			return nil, bad("short multipoint")
		}
		n := int(le.Uint32(b[36:]))
		if n < 0 || 40+16*n > len(b) || n > len(b) {
			return nil, bad("multipoint with %d points does not fit its record", n)
		}
		mp := make(orb.MultiPoint, n)
		for i := range mp {
			mp[i] = orb.Point{f64(40 + 16*i), f64(48 + 16*i)}
		}
		return mp, nil
	case 3, 13, 23, 5, 15, 25:
		if len(b) < 44 {
			return nil, bad("short shape")
		}
		np, npt := int(le.Uint32(b[36:])), int(le.Uint32(b[40:]))
		if np <= 0 || npt <= 0 || np > len(b)/4 || npt > len(b)/16 || 44+4*np+16*npt > len(b) {
			return nil, bad("%d parts and %d points do not fit the record", np, npt)
		}
		parts := make([]int, np+1)
		for i := 0; i < np; i++ {
			parts[i] = int(le.Uint32(b[44+4*i:]))
		}
		parts[np] = npt
		base := 44 + 4*np
		var lines [][]orb.Point
		for i := 0; i < np; i++ {
			a, z := parts[i], parts[i+1]
			if a < 0 || a > z || z > npt {
				return nil, bad("part %d has bad bounds %d..%d", i, a, z)
			}
			pts := make([]orb.Point, z-a)
			for k := a; k < z; k++ {
				pts[k-a] = orb.Point{f64(base + 16*k), f64(base + 16*k + 8)}
			}
			lines = append(lines, pts)
		}
		if typ == 3 || typ == 13 || typ == 23 {
			if len(lines) == 1 {
				return orb.LineString(lines[0]), nil
			}
			mls := make(orb.MultiLineString, len(lines))
			for i, l := range lines {
				mls[i] = l
			}
			return mls, nil
		}
		return polygons(lines), nil
	}
	return nil, bad("unsupported shape type %d", typ)
}

// polygons groups rings: clockwise rings are exteriors, counter-clockwise
// ones holes of the exterior that contains them.
func polygons(rings [][]orb.Point) orb.Geometry {
	var mp orb.MultiPolygon
	var holes []orb.Ring
	for _, r := range rings {
		ring := orb.Ring(r)
		if len(ring) < 3 {
			continue
		}
		if ring.Orientation() == orb.CCW {
			holes = append(holes, ring)
		} else {
			mp = append(mp, orb.Polygon{ring})
		}
	}
	for _, h := range holes {
		placed := false
		for i := range mp {
			if planar.RingContains(mp[i][0], h[0]) {
				mp[i] = append(mp[i], h)
				placed = true
				break
			}
		}
		if !placed {
			// A lone counter-clockwise ring: an exterior written the other way.
			mp = append(mp, orb.Polygon{h})
		}
	}
	if len(mp) == 1 {
		return mp[0]
	}
	return mp
}
