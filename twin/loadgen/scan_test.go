package loadgen

import (
	"testing"
	"time"
)

// TestScanDeltas: the clients' scan finds every device state of a frame
// (a delta or a batch, beside alarm events) with its pm10 time.
func TestScanDeltas(t *testing.T) {
	frame := `{"type":"batch","epoch":"e","seq":9,"items":[` +
		`{"type":"delta","epoch":"e","seq":7,"entity":"device:bench-000001","kind":"device","layer":"devices","cell":"8a","version":3,"at":"2026-01-02T03:04:05Z",` +
		`"data":{"id":"bench-000001","kind":"env","name":"","lon":116.3,"lat":37.4,"feature":null,"status":"online","last_seen":"2026-01-02T03:04:05Z",` +
		`"values":{"no2":{"value":1,"time":"2026-01-02T03:04:01Z"},"pm10":{"value":12,"time":"2026-01-02T03:04:05.123456Z"}}}},` +
		`{"type":"event","epoch":"e","seq":8,"entity":"alarm:3","kind":"alarm","layer":"alarms","version":1,"at":"2026-01-02T03:04:05Z","data":{"id":3,"device":"bench-000001"}},` +
		`{"type":"delta","epoch":"e","seq":9,"entity":"device:bench-000002","kind":"device","layer":"devices","version":1,"at":"2026-01-02T03:04:05Z",` +
		`"data":{"id":"bench-000002","kind":"env","values":{"no2":{"value":1,"time":"2026-01-02T03:04:01Z"}}}}]}`
	got := map[string]int64{}
	ats := map[string]int64{}
	scanDeltas([]byte(frame), func(id []byte, t, at int64) { got[string(id)], ats[string(id)] = t, at })
	want := map[string]int64{
		"bench-000001": time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC).UnixMicro(),
		"bench-000002": 0,
	}
	if len(got) != len(want) || got["bench-000001"] != want["bench-000001"] || got["bench-000002"] != 0 {
		t.Fatalf("scan = %v, want %v", got, want)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMicro()
	if ats["bench-000001"] != at || ats["bench-000002"] != at {
		t.Fatalf("at = %v, want %d for both", ats, at)
	}
}
