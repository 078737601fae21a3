package simulate

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseFault(t *testing.T) {
	cases := []struct {
		in    string
		kind  string
		delay time.Duration
		err   string
	}{
		{"main-break", MainBreak, 0, ""},
		{"main-break@2m", MainBreak, 2 * time.Minute, ""},
		{"tunnel-flood@90s", TunnelFlood, 90 * time.Second, ""},
		{"dark-lamp", DarkLamp, 0, ""},
		{"silent-device@0s", SilentDevice, 0, ""},
		{"earthquake", "", 0, "unknown fault"},
		{"main-break@soon", "", 0, "bad delay"},
		{"main-break@-5s", "", 0, "bad delay"},
	}
	for _, tc := range cases {
		f, err := ParseFault(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || f.Kind != tc.kind || f.Delay != tc.delay {
			t.Errorf("%q: %+v %v", tc.in, f, err)
		}
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"500": 500, "500/s": 500, "600/m": 10, "3600/h": 1} {
		if v, err := ParseRate(in); err != nil || v != want {
			t.Errorf("%q: %v %v", in, v, err)
		}
	}
	for _, in := range []string{"", "fast", "-1/s", "5/day"} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func FuzzParseFault(f *testing.F) {
	for _, s := range []string{"main-break", "main-break@2m", "dark-lamp@", "@", "tunnel-flood@1h2m3s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { ParseFault(s) })
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"500", "500/s", "1e3/m", "/", "NaN/s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { ParseRate(s) })
}

func TestLampSchedule(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, cst)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	cases := []struct {
		when string
		on   bool
		dim  float64
	}{
		{"2026-06-21 12:00", false, 0},
		{"2026-06-21 20:30", true, 100}, // sunset about 19:45 in June
		{"2026-06-21 19:00", false, 0},
		{"2026-12-21 18:00", true, 100}, // sunset about 16:50 in December
		{"2026-12-21 01:00", true, 50},
		{"2026-12-21 07:30", false, 0}, // sunrise about 07:25
	}
	for _, tc := range cases {
		on, dim := lampSchedule(at(tc.when))
		if on != tc.on || dim != tc.dim {
			t.Errorf("%s: on=%v dim=%v, want %v %v", tc.when, on, dim, tc.on, tc.dim)
		}
	}
}

// memPub keeps what it is given.
type memPub struct {
	mu sync.Mutex
	rs []Reading
}

func (m *memPub) Publish(ctx context.Context, rs []Reading) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rs = append(m.rs, rs...)
	return nil
}
func (m *memPub) Close() error { return nil }

func testDevices() []Device {
	return []Device{
		{ID: "LP-1", Kind: "lamp", Lon: 116.30, Lat: 37.45},
		{ID: "PR-1", Kind: "pressure", Lon: 116.30, Lat: 37.45, Params: map[string]any{"base_mpa": 0.35}},
		{ID: "PR-2", Kind: "pressure", Lon: 116.35, Lat: 37.45},
		{ID: "PK-1", Kind: "parking", Lon: 116.30, Lat: 37.45, Params: map[string]any{"capacity": 120.0}},
		{ID: "EV-1", Kind: "env", Lon: 116.30, Lat: 37.45},
		{ID: "TW-1", Kind: "tunnel_water", Lon: 116.30, Lat: 37.45},
		{ID: "X-1", Kind: "toaster", Lon: 116.30, Lat: 37.45},
	}
}

func TestReadingsAreDeterministicAndPlausible(t *testing.T) {
	s, err := New(testDevices(), &memPub{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Devices() != 6 {
		t.Fatalf("%d devices, want the 6 with models", s.Devices())
	}
	tm := time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC) // noon in Dezhou
	a, _ := s.reading(s.byID["PK-1"], tm)
	b, _ := s.reading(s.byID["PK-1"], tm)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatalf("same moment, different readings: %s %s", ja, jb)
	}
	if a.Values["capacity"] != 120 || a.Values["occupied"] < 0 || a.Values["occupied"] > 120 {
		t.Fatalf("parking %v", a.Values)
	}
	l, _ := s.reading(s.byID["LP-1"], tm)
	if l.Values["on"] != 0 {
		t.Fatalf("lamp on at noon: %v", l.Values)
	}
	e, _ := s.reading(s.byID["EV-1"], tm)
	if e.Values["pm25"] <= 0 || e.Values["humidity"] <= 0 || e.Values["humidity"] > 100 {
		t.Fatalf("env %v", e.Values)
	}
}

func TestFaults(t *testing.T) {
	start := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	faults := []Fault{{Kind: MainBreak, Delay: time.Minute}, {Kind: DarkLamp}, {Kind: SilentDevice}, {Kind: TunnelFlood}}
	s, err := New(testDevices(), &memPub{}, Options{Start: start, Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := s.reading(s.byID["PR-1"], start.Add(30*time.Second))
	after, _ := s.reading(s.byID["PR-1"], start.Add(2*time.Minute))
	if before.Values["pressure_mpa"] < 0.25 || after.Values["pressure_mpa"] >= 0.15 {
		t.Fatalf("pressure at the break %v before, %v after", before.Values, after.Values)
	}
	// the far sensor is silent (the silent-device fault takes the one
	// farthest out) and reports nothing
	if _, ok := s.reading(s.byID["PR-2"], start.Add(time.Minute)); ok {
		t.Fatal("the silent device reported")
	}
	l, _ := s.reading(s.byID["LP-1"], start)
	if l.Values["on"] != 1 || l.Values["current_a"] != 0 {
		t.Fatalf("dark lamp %v", l.Values)
	}
	w, _ := s.reading(s.byID["TW-1"], start.Add(10*time.Minute))
	if w.Values["level_m"] < 0.5 {
		t.Fatalf("tunnel level after 10 min of flooding: %v", w.Values)
	}
	if len(s.FaultInfos()) != 4 {
		t.Fatalf("%d faults", len(s.FaultInfos()))
	}
}

func TestCommands(t *testing.T) {
	s, err := New(testDevices(), &memPub{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ack, r := s.HandleCommand("LP-1", Command{ID: 7, Command: "dim", Args: json.RawMessage(`{"level":40}`)})
	if !ack.OK || ack.ID != 7 || ack.State["on"] != 1 || ack.State["dim"] != 40 || r == nil || r.Values["dim"] != 40 {
		t.Fatalf("dim: %+v %+v", ack, r)
	}
	ack, _ = s.HandleCommand("LP-1", Command{ID: 8, Command: "switch", Args: json.RawMessage(`{"on":false}`)})
	if !ack.OK || ack.State["on"] != 0 {
		t.Fatalf("switch off: %+v", ack)
	}
	for _, c := range []struct {
		dev string
		cmd Command
	}{
		{"LP-1", Command{ID: 9, Command: "explode"}},
		{"LP-1", Command{ID: 10, Command: "dim", Args: json.RawMessage(`{"level":400}`)}},
		{"LP-1", Command{ID: 11, Command: "switch", Args: json.RawMessage(`{}`)}},
		{"PR-1", Command{ID: 12, Command: "switch", Args: json.RawMessage(`{"on":true}`)}},
		{"nope", Command{ID: 13, Command: "switch"}},
	} {
		if ack, _ := s.HandleCommand(c.dev, c.cmd); ack.OK || ack.Error == "" || ack.ID != c.cmd.ID {
			t.Errorf("%s %+v: %+v", c.dev, c.cmd, ack)
		}
	}
}

func TestRunAtRate(t *testing.T) {
	pub := &memPub{}
	s, err := New(testDevices(), pub, Options{Rate: 100, Duration: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := len(pub.rs)
	// 100 reports a second for 1.5 s
	if n < 80 || n > 200 {
		t.Fatalf("%d reports in 1.5 s at 100/s", n)
	}
}
