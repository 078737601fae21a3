// Command genbuildings writes N synthetic building footprints as
// newline-delimited GeoJSON, for the import benchmark (make bench-import):
// rectangles and L-shapes on a street grid around a centre, with the
// buildings layer's attributes.
//
//	go run ./importers/internal/genbuildings -n 200000 -o buildings.ndjson
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
)

func main() {
	n := flag.Int("n", 200000, "number of buildings")
	out := flag.String("o", "buildings.ndjson", "output file")
	lon0 := flag.Float64("lon", 116.30, "west edge of the grid")
	lat0 := flag.Float64("lat", 39.85, "south edge of the grid")
	flag.Parse()
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	side := int(math.Ceil(math.Sqrt(float64(*n))))
	const step = 0.0006 // about 50-65 m between building origins
	uses := []string{"residential", "commercial", "office", "industrial", "school", "hospital", "retail"}
	for i := 0; i < *n; i++ {
		x := *lon0 + float64(i%side)*step
		y := *lat0 + float64(i/side)*step
		w0 := 0.00015 + r.Float64()*0.0002
		h0 := 0.00012 + r.Float64()*0.0002
		var ring string
		if i%3 == 0 {
			// An L-shape.
			ring = fmt.Sprintf("[[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f]]",
				x, y, x+w0, y, x+w0, y+h0/2, x+w0/2, y+h0/2, x+w0/2, y+h0, x, y+h0, x, y)
		} else {
			ring = fmt.Sprintf("[[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f]]",
				x, y, x+w0, y, x+w0, y+h0, x, y+h0, x, y)
		}
		floors := 1 + r.IntN(30)
		fmt.Fprintf(w, `{"type":"Feature","id":"b%d","properties":{"name":"Building %d","use":"%s","floors":%d,"height_m":%.1f,"year_built":%d},"geometry":{"type":"Polygon","coordinates":[%s]}}`+"\n",
			i, i, uses[r.IntN(len(uses))], floors, float64(floors)*3.1+1, 1950+r.IntN(75), ring)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
