package twin

import (
	"encoding/json"
	"testing"
	"time"
)

// TestDeviceEventJSON: the hand-written device state is exactly what
// json.Marshal writes for the same device, and the cached cell is the cell.
func TestDeviceEventJSON(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	for _, d := range []*device{
		{ID: "env-1", Kind: "env", Lon: 116.3, Lat: 37.45, Status: StatusOnline, LastSeen: at, Version: 4,
			Values: map[string]Value{"pm25": {88.5, at}, "temp_c": {-3, at.Add(time.Second)}, "no2": {1e-7, at}, "o3": {2.5e21, at}, "humidity": {0, at}}},
		{ID: "lamp-1", Kind: "lamp", Name: `pole "7" <north> & é`, Feature: &FeatureRef{Layer: "smart_poles", ID: 42}, Status: StatusUnknown, Values: map[string]Value{}},
		{ID: "x", Kind: "flow", Lon: -0.000001, Lat: 1e-9, Status: StatusOffline, Values: nil},
	} {
		want, err := json.Marshal(d.data())
		if err != nil {
			t.Fatal(err)
		}
		if got := d.appendData(nil); string(got) != string(want) {
			t.Errorf("device %s:\ngot  %s\nwant %s", d.ID, got, want)
		}
		want0 := d.cell()
		d.cacheCell()
		if d.h3 != want0 || d.cell() != want0 {
			t.Errorf("device %s: cached cell %x, want %x", d.ID, d.h3, want0)
		}
		d.Lon += 1
		if d.cell() == want0 {
			t.Errorf("device %s: cell did not follow the point", d.ID)
		}
	}
}
