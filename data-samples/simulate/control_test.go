package simulate

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	fs, err := ParseSchedule("10m:main-break:W-PE4-8-1, 30s:dark-lamp,1h:silent-device:PR-J4-4")
	if err != nil {
		t.Fatal(err)
	}
	want := []Fault{{Kind: MainBreak, Delay: 10 * time.Minute, Target: "W-PE4-8-1"}, {Kind: DarkLamp, Delay: 30 * time.Second}, {Kind: SilentDevice, Delay: time.Hour, Target: "PR-J4-4"}}
	if len(fs) != len(want) {
		t.Fatalf("%+v", fs)
	}
	for i := range want {
		if fs[i] != want[i] {
			t.Errorf("item %d: %+v, want %+v", i, fs[i], want[i])
		}
	}
	for _, bad := range []string{"main-break", "soon:main-break", "-1m:main-break", "1m:flood", "1m:main-break@2m", "1m:main-break:"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"10m:main-break:W-P1", "1s:dark-lamp,2s:tunnel-flood", ":", ",,", "1m:silent-device:a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { ParseSchedule(s) })
}

// TestFaultTargets: a fault acts where its target is, a device or a place.
func TestFaultTargets(t *testing.T) {
	start := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	faults := []Fault{
		{Kind: MainBreak, Target: "W-P9", Lon: 116.35, Lat: 37.45}, // a pipe next to PR-2
		{Kind: SilentDevice, Target: "EV-1"},
	}
	s, err := New(testDevices(), &memPub{}, Options{Start: start, Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	infos := s.FaultInfos()
	if infos[0].Device != "PR-2" || strings.Join(infos[0].Affected, ",") != "PR-2" || infos[0].Target != "W-P9" {
		t.Fatalf("main break at W-P9: %+v", infos[0])
	}
	if r, _ := s.reading(s.byID["PR-2"], start.Add(time.Minute)); r.Values["pressure_mpa"] >= 0.15 {
		t.Fatalf("pressure next to the break %v", r.Values)
	}
	if r, _ := s.reading(s.byID["PR-1"], start.Add(time.Minute)); r.Values["pressure_mpa"] < 0.25 {
		t.Fatalf("pressure 4 km from the break %v", r.Values)
	}
	if _, ok := s.reading(s.byID["EV-1"], start); ok {
		t.Fatal("EV-1 reported")
	}
	if _, err := New(testDevices(), &memPub{}, Options{Faults: []Fault{{Kind: MainBreak, Target: "W-P404"}}}); err == nil {
		t.Fatal("an unresolved target was accepted")
	}
}

// TestControl injects, lists and repairs faults through the control API
// while the simulator runs.
func TestControl(t *testing.T) {
	pub := &memPub{}
	s, err := New(testDevices(), pub, Options{Spread: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	located := ""
	c := &Control{Sim: s, Locate: func(ctx context.Context, target string) (float64, float64, error) {
		if target != "W-P9" {
			return 0, 0, ErrNoFeature
		}
		located = target
		return 116.35, 37.45, nil
	}}
	srv := httptest.NewServer(c)
	defer srv.Close()
	do := func(method, body string, want int) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/faults", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var raw json.RawMessage
		json.NewDecoder(resp.Body).Decode(&raw)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, body, resp.StatusCode, raw, want)
		}
		return raw
	}
	var info FaultInfo
	json.Unmarshal(do("POST", `{"kind":"main-break","target":"W-P9"}`, 201), &info)
	if info.Device != "PR-2" || located != "W-P9" {
		t.Fatalf("main break: %+v", info)
	}
	json.Unmarshal(do("POST", `{"kind":"dark-lamp","target":"LP-1"}`, 201), &info)
	if info.Device != "LP-1" {
		t.Fatalf("dark lamp: %+v", info)
	}
	do("POST", `{"kind":"main-break","target":"W-P404"}`, 404)
	do("POST", `{"kind":"earthquake"}`, 400)
	do("POST", `{"kind":"main-break","delay":"soon"}`, 400)
	do("PUT", `{}`, 405)
	var list []FaultInfo
	json.Unmarshal(do("GET", "", 200), &list)
	if len(list) != 2 {
		t.Fatalf("faults %+v", list)
	}
	// the lamp is dark now; repaired, it draws current again
	if r, _ := s.reading(s.byID["LP-1"], s.now().Add(time.Second)); r.Values["current_a"] != 0 {
		t.Fatalf("dark lamp reading %v", r.Values)
	}
	var rep map[string]int
	json.Unmarshal(do("DELETE", "", 200), &rep)
	if rep["repaired"] != 2 {
		t.Fatalf("repaired %v", rep)
	}
	s.HandleCommand("LP-1", Command{ID: 1, Command: "switch", Args: json.RawMessage(`{"on":true}`)})
	if r, _ := s.reading(s.byID["LP-1"], s.now().Add(time.Second)); r.Values["current_a"] == 0 {
		t.Fatalf("repaired lamp reading %v", r.Values)
	}
	json.Unmarshal(do("GET", "", 200), &list)
	if list[0].Until == nil {
		t.Fatalf("repaired fault without until: %+v", list[0])
	}
	time.Sleep(200 * time.Millisecond)
	pub.mu.Lock()
	n := len(pub.rs)
	pub.mu.Unlock()
	if n == 0 {
		t.Fatal("the simulator did not run while faults were injected")
	}
}
