package simulate

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/citytwin/citytwin/internal/dbtest"
)

var update = flag.Bool("update", false, "regenerate airprofile.json from ../shared/data")

// TestAirProfile checks that the committed profile is what the Beijing
// measurements give (and regenerates it with -update).
func TestAirProfile(t *testing.T) {
	root, err := dbtest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(root, "..", "shared", "data", "sensors", "beijing_air_2017-02_12stations.csv"))
	if err != nil {
		t.Fatalf("test data: %v", err)
	}
	defer f.Close()
	p, err := DeriveAirProfile(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *update {
		if err := os.WriteFile("airprofile.json", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(b, airProfileJSON) {
		t.Fatal("airprofile.json is not what the measurements give; run go test -run TestAirProfile -update")
	}
	if len(p.Stations) != 12 || p.Days != 28 {
		t.Fatalf("%d stations, %d days", len(p.Stations), p.Days)
	}
	ap, err := loadAirProfile()
	if err != nil {
		t.Fatal(err)
	}
	// Beijing in February 2017: PM2.5 from clean days to heavy smog.
	lo, hi := 1e9, 0.0
	for d := 0; d < 28; d++ {
		v := ap.value(0, "pm25", d, 20)
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo > 30 || hi < 100 {
		t.Fatalf("pm25 at 20:00 ranges %.0f..%.0f over the month", lo, hi)
	}
}

func FuzzDeriveAirProfile(f *testing.F) {
	head := "No,year,month,day,hour,PM2.5,PM10,SO2,NO2,CO,O3,TEMP,PRES,DEWP,RAIN,wd,WSPM,station\n"
	f.Add(head + "1,2017,2,1,0,5,18,4,13,400,77,0.3,1029.4,-22,0,NNE,2.3,A\n")
	f.Add(head + "1,2017,2,40,99,NA,NA,NA,NA,NA,NA,NA,NA,NA,0,NNE,NA,B\n")
	f.Add("a,b\n1,2\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) { DeriveAirProfile(strings.NewReader(s)) })
}
