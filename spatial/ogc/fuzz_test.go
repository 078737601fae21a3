package ogc_test

import (
	"net/url"
	"testing"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial"
	"github.com/citytwin/citytwin/spatial/ogc"
)

// FuzzParseQuery checks that no query string makes the items parameter
// parser panic, and that what it refuses is EINVALID.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"bbox=1,2,3,4&limit=10&offset=5", "bbox=37,116,38,117&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4326",
		"datetime=2020-01-01T00:00:00Z/..", "sortby=-floors,name&properties=name,colour", "floors=3&use=office",
		"filter=floors>3 AND S_INTERSECTS(geometry, BBOX(1,2,3,4))&filter-lang=cql2-text", "crs=EPSG:3857", "bbox=a,b,c,d",
	} {
		f.Add(s)
	}
	l, err := spatial.NewRegistry().Layer("buildings")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		q, err := ogc.ParseQuery(l, v)
		if err != nil {
			if errs.Code(err) != errs.EINVALID {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		_ = q.SQL()
	})
}
