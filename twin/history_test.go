package twin_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/twin"
)

func TestHistory(t *testing.T) {
	t.Setenv("CITYTWIN_DEVICE_BURST", "100000")
	s := mustServer(t)
	s.createDevice(t, `{"id":"t-1","kind":"tunnel_water","lon":116.3,"lat":37.45}`)
	// One reading an hour over 90 days (three or four month partitions).
	to := time.Now().UTC().Truncate(time.Hour)
	from := to.Add(-90 * 24 * time.Hour)
	var lines []string
	n := 0
	for tm := from; tm.Before(to); tm = tm.Add(time.Hour) {
		lines = append(lines, fmt.Sprintf(`{"device":"t-1","time":%q,"metric":"level_m","value":%d}`, rfc(tm), n%10))
		n++
	}
	resp, b := apptest.Do(t, "POST", s.URL()+"/api/v1/observations", s.operator, strings.NewReader(strings.Join(lines, "\n")), "Content-Type", "application/x-ndjson")
	if resp.StatusCode != 200 || !strings.Contains(string(b), fmt.Sprintf(`"accepted":%d`, n)) {
		t.Fatalf("load: %d %.300s", resp.StatusCode, b)
	}
	url := fmt.Sprintf("%s/api/v1/devices/t-1/observations?metric=level_m&from=%s&to=%s&points=9", s.URL(), rfc(from), rfc(to))
	resp, b = apptest.Do(t, "GET", url, s.viewer, nil)
	var h twin.History
	if resp.StatusCode != 200 || json.Unmarshal(b, &h) != nil {
		t.Fatalf("history: %d %s", resp.StatusCode, b)
	}
	pts := h.Metrics["level_m"]
	if len(pts) != 9 {
		t.Fatalf("%d points", len(pts))
	}
	var total int64
	for _, p := range pts {
		total += p.Count
		if p.Min != 0 || p.Max != 9 || p.Mean < 4 || p.Mean > 5 {
			t.Errorf("bucket %+v", p)
		}
	}
	if total != int64(n) || !pts[0].Time.Equal(from) {
		t.Fatalf("total %d of %d, first at %s", total, n, pts[0].Time)
	}
	// Fewer points than buckets of data; all metrics when none is named.
	resp, b = apptest.Do(t, "GET", fmt.Sprintf("%s/api/v1/devices/t-1/observations?from=%s&to=%s&points=1000", s.URL(), rfc(to.Add(-3*time.Hour)), rfc(to)), s.viewer, nil)
	if resp.StatusCode != 200 || json.Unmarshal(b, &h) != nil || len(h.Metrics["level_m"]) != 3 {
		t.Fatalf("short range: %d %s", resp.StatusCode, b)
	}
	for _, bad := range []string{"points=0", "points=x", "from=yesterday", "metric=pm25", "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z"} {
		resp, b := apptest.Do(t, "GET", s.URL()+"/api/v1/devices/t-1/observations?"+bad, s.viewer, nil)
		if resp.StatusCode != 400 {
			t.Errorf("%s: %d %s", bad, resp.StatusCode, b)
		}
	}
	resp, _ = apptest.Do(t, "GET", s.URL()+"/api/v1/devices/nope/observations", s.viewer, nil)
	if resp.StatusCode != 404 {
		t.Errorf("unknown device: %d", resp.StatusCode)
	}
}
