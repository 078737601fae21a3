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
		`"data":{"id":"bench-000002","kind":"env","values":{"no2":{"value":1,"time":"2026-01-02T03:04:01Z"}}}},` +
		// Another layout: "at" not next to "data", a nested {"id":…}, a
		// metric whose name ends in pm10.
		`{"type":"delta","at":"2026-01-02T03:04:05Z","seq":10,"data":{"id":"bench-000003","feature":{"id":"f-1"},` +
		`"values":{"xpm10":{"value":1,"time":"2026-01-02T03:04:01Z"},"pm10":{"value":2,"time":"2026-01-02T03:04:06Z"}}}}]}`
	got := map[string]int64{}
	ats := map[string]int64{}
	scanDeltas([]byte(frame), func(id []byte, t, at int64) { got[string(id)], ats[string(id)] = t, at })
	want := map[string]int64{
		"bench-000001": time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC).UnixMicro(),
		"bench-000002": 0,
		"bench-000003": time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC).UnixMicro(),
	}
	if len(got) != len(want) || got["bench-000001"] != want["bench-000001"] || got["bench-000002"] != 0 || got["bench-000003"] != want["bench-000003"] {
		t.Fatalf("scan = %v, want %v", got, want)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMicro()
	if ats["bench-000001"] != at || ats["bench-000002"] != at || ats["bench-000003"] != at {
		t.Fatalf("at = %v, want %d for both", ats, at)
	}
}

// timeMicros agrees with time.Parse on the server's form and on others.
func TestTimeMicros(t *testing.T) {
	for _, s := range []string{
		"2026-01-02T03:04:05Z", "2026-01-02T03:04:05.1Z", "2026-01-02T03:04:05.123456Z",
		"2026-01-02T03:04:05.123456789Z", "2024-02-29T23:59:59.999999Z", "1999-12-31T00:00:00Z",
		"2026-01-02T03:04:05+08:00", "2026-01-02T03:04:05.5-03:30",
	} {
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		if got := timeMicros([]byte(s + `"`)); got != want.UnixMicro() {
			t.Errorf("%s: %d, want %d", s, got, want.UnixMicro())
		}
	}
	for _, s := range []string{"", "x", "2026-13-02T03:04:05Z", "2026-01-02T03:04:05.Z", "2026-02-30T03:04:05Z", "2026-01-02T24:00:00Z"} {
		if got := timeMicros([]byte(s + `"`)); got != 0 {
			t.Errorf("%q: %d, want 0", s, got)
		}
	}
	if got := timeMicros([]byte("2026-01-02T03:04:05Z")); got != 0 {
		t.Errorf("unterminated: %d, want 0", got)
	}
	// One cache across dates, valid and not, as in a frame.
	var c timeCache
	for _, s := range []string{"2026-01-02T03:04:05.5Z", "2026-01-02T23:59:59Z", "2026-02-30T03:04:05Z", "2026-01-03T00:00:00.000001Z", "2026-01-02T03:04:05.5Z"} {
		want := int64(0)
		if tm, err := time.Parse(time.RFC3339Nano, s); err == nil {
			want = tm.UnixMicro()
		}
		if got := c.micros([]byte(s + `"`)); got != want {
			t.Errorf("cached %s: %d, want %d", s, got, want)
		}
	}
}

func BenchmarkScanDeltas(b *testing.B) {
	var frame []byte
	frame = append(frame, `{"type":"batch","epoch":"e","seq":9,"items":[`...)
	for i := range 12 {
		if i > 0 {
			frame = append(frame, ',')
		}
		frame = append(frame, `{"type":"delta","epoch":"e","seq":7,"entity":"device:bench-000001","kind":"device","layer":"devices","cell":"8a","version":3,"at":"2026-01-02T03:04:05.654321Z",`+
			`"data":{"id":"bench-000001","kind":"env","name":"","lon":116.3,"lat":37.4,"feature":null,"status":"online","last_seen":"2026-01-02T03:04:05Z",`+
			`"values":{"no2":{"value":1,"time":"2026-01-02T03:04:01Z"},"pm10":{"value":12,"time":"2026-01-02T03:04:05.123456Z"}}}}`...)
	}
	frame = append(frame, "]}"...)
	b.SetBytes(int64(len(frame)))
	n := 0
	for b.Loop() {
		scanDeltas(frame, func(id []byte, t, at int64) { n++ })
	}
	if n == 0 {
		b.Fatal("no deltas")
	}
}

func TestLatencyWindow(t *testing.T) {
	l := latencies{windowed: true}
	for i := 1; i <= 100; i++ {
		l.add(time.Duration(i) * time.Millisecond)
	}
	n, p50, p99 := l.window()
	if n != 100 || p50 != 51*time.Millisecond || p99 != 100*time.Millisecond {
		t.Fatalf("window: n %d p50 %v p99 %v, want 100 51ms 100ms", n, p50, p99)
	}
	// The next window holds only what came after.
	l.add(5*time.Second, 5*time.Second)
	if n, p50, _ := l.window(); n != 2 || p50 != 5*time.Second {
		t.Fatalf("second window: n %d p50 %v, want 2 5s", n, p50)
	}
	if n, _, _ := l.window(); n != 0 {
		t.Fatalf("empty window has %d", n)
	}
	// The whole run keeps every one of them.
	if l.n() != 102 {
		t.Fatalf("run count %d, want 102", l.n())
	}
	// Past maxWindow the window keeps a uniform sample and counts them all.
	for i := 0; i < 2*maxWindow; i++ {
		l.add(time.Duration(i%1000) * time.Millisecond)
	}
	n, p50, _ = l.window()
	if n != 2*maxWindow || p50 < 450*time.Millisecond || p50 > 550*time.Millisecond {
		t.Fatalf("sampled window: n %d p50 %v, want %d and about 500ms", n, p50, 2*maxWindow)
	}
}
