// Package inp reads the section structure shared by EPANET and SWMM input
// files: "[SECTION]" headers, then whitespace-separated fields, ";" comments.
package inp

import (
	"bufio"
	"io"
	"strings"

	"github.com/citytwin/citytwin/internal/errs"
)

// Line is one data line of a section.
type Line struct {
	Num    int // line number in the file, from 1
	Fields []string
}

// File holds the data lines of each section, by upper-case section name.
type File struct {
	Sections map[string][]Line
}

// MaxLines bounds the lines of one file.
const MaxLines = 20_000_000

// Parse reads an .inp file. Returns EINVALID when it has no section at all or
// a line is too long.
func Parse(r io.Reader, file string) (*File, error) {
	f := &File{Sections: map[string][]Line{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	section := ""
	n := 0
	for sc.Scan() {
		n++
		if n > MaxLines {
			return nil, errs.Invalid(file, "more than %d lines", MaxLines)
		}
		l := sc.Text()
		if i := strings.IndexByte(l, ';'); i >= 0 {
			l = l[:i]
		}
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if l[0] == '[' {
			end := strings.IndexByte(l, ']')
			if end < 0 {
				return nil, errs.Invalid(file, "line %d: unterminated section header %q", n, l)
			}
			section = strings.ToUpper(strings.TrimSpace(l[1:end]))
			if _, ok := f.Sections[section]; !ok {
				f.Sections[section] = nil
			}
			continue
		}
		if section == "" {
			return nil, errs.Invalid(file, "line %d: data before the first [SECTION]", n)
		}
		f.Sections[section] = append(f.Sections[section], Line{Num: n, Fields: strings.Fields(l)})
	}
	if err := sc.Err(); err != nil {
		return nil, errs.Invalid(file, "line %d: %v", n+1, err)
	}
	if len(f.Sections) == 0 {
		return nil, errs.Invalid(file, "no [SECTION] found: not an .inp file")
	}
	return f, nil
}

// Coords returns [COORDINATES] by node id and [VERTICES] by link id.
func (f *File) Coords() (map[string][2]float64, map[string][][2]float64, error) {
	nodes := map[string][2]float64{}
	for _, l := range f.Sections["COORDINATES"] {
		if len(l.Fields) < 3 {
			return nil, nil, errs.Invalid("COORDINATES", "line %d: node X Y expected", l.Num)
		}
		x, y, err := xy(l.Fields[1], l.Fields[2])
		if err != nil {
			return nil, nil, errs.Invalid("COORDINATES", "line %d: %v", l.Num, err)
		}
		nodes[l.Fields[0]] = [2]float64{x, y}
	}
	verts := map[string][][2]float64{}
	for _, l := range f.Sections["VERTICES"] {
		if len(l.Fields) < 3 {
			return nil, nil, errs.Invalid("VERTICES", "line %d: link X Y expected", l.Num)
		}
		x, y, err := xy(l.Fields[1], l.Fields[2])
		if err != nil {
			return nil, nil, errs.Invalid("VERTICES", "line %d: %v", l.Num, err)
		}
		verts[l.Fields[0]] = append(verts[l.Fields[0]], [2]float64{x, y})
	}
	return nodes, verts, nil
}

func xy(a, b string) (float64, float64, error) {
	x, err := Float(a)
	if err != nil {
		return 0, 0, err
	}
	y, err := Float(b)
	return x, y, err
}

// Float parses a numeric field.
func Float(s string) (float64, error) {
	var f float64
	var err error
	f, err = parseFloat(s)
	if err != nil {
		return 0, errs.Invalid("", "%q is not a number", s)
	}
	return f, nil
}

// Option returns an [OPTIONS] value by upper-case key ("" when absent).
func (f *File) Option(key string) string {
	for _, l := range f.Sections["OPTIONS"] {
		if len(l.Fields) >= 2 && strings.EqualFold(l.Fields[0], key) {
			return strings.ToUpper(l.Fields[1])
		}
		// EPANET writes "Units GPM" and also two-word keys ("Headloss H-W").
	}
	return ""
}
