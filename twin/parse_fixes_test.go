package twin

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// junkPayloads are telemetry payloads with something after the object.
var junkPayloads = []string{
	`{"time":"2026-11-25T15:31:00Z","values":{"pm25":4}}xyz`,
	`{"time":"2026-11-25T15:31:00Z","values":{"pm25":4}} {"x":1}`,
	`{"time":"2026-11-25T15:31:00Z","values":{"pm25":4}}]`,
	`{"time":"2026-11-25T15:31:00Z","values":{"pm25":4}}}`,
	`{"time":"2026-11-25T15:31:00Z","values":{"pm25":4}}{}`,
	`{"values":{"pm\u0032":4}} x`, // escapes: not the fast path's shape either
	"{\"values\":{\"pm25\":4}}\n{\"values\":{\"pm25\":5}}",
}

// TestParseTrailingJunk: a payload is one JSON value; anything but white
// space after it is refused, on every path.
func TestParseTrailingJunk(t *testing.T) {
	now := time.Date(2026, 11, 25, 15, 32, 0, 0, time.UTC)
	for _, p := range junkPayloads {
		if _, err := ParseTelemetry([]byte(p), now); err == nil {
			t.Errorf("ParseTelemetry took %s", p)
		}
		if _, err := parseTelemetry([]byte(p), now); err == nil {
			t.Errorf("parseTelemetry took %s", p)
		}
	}
	for _, p := range []string{`{"time":"2026-11-25T15:31:00Z"}junk`, `{}{}`, `{} x`, `{"time":"2026-11-25T15:31:00Z"}]`, `null null`} {
		if _, err := ParseHeartbeat([]byte(p), now); err == nil {
			t.Errorf("ParseHeartbeat took %s", p)
		}
	}
	for _, p := range []string{`{"id":3,"ok":true}xyz`, `{"id":3,"ok":true}{"id":4,"ok":false}`, `{"id":3,"ok":true}}`} {
		if _, err := ParseCommandAck([]byte(p)); err == nil {
			t.Errorf("ParseCommandAck took %s", p)
		}
	}
	// White space around the value is fine.
	if _, err := ParseTelemetry([]byte(" {\"values\":{\"pm\\u0032\":4}} \r\n\t"), now); err != nil {
		t.Errorf("white space: %v", err)
	}
	if _, err := ParseHeartbeat([]byte(" {} \n"), now); err != nil {
		t.Errorf("heartbeat white space: %v", err)
	}
	if _, err := ParseCommandAck([]byte(`{"id":3,"ok":true}` + "\n")); err != nil {
		t.Errorf("ack white space: %v", err)
	}
	// An NDJSON line is one record too.
	ps, err := ParseObservations([]byte(`{"device":"a","time":"2026-01-02T03:04:05Z","metric":"pm25","value":1} junk`+"\n"+
		`{"device":"a","time":"2026-01-02T03:04:06Z","metric":"pm25","value":2}`), true)
	if err != nil || len(ps) != 2 || ps[0].reject == nil || !strings.HasPrefix(ps[0].reject.Reason, RejectMalformed) || ps[1].reject != nil {
		t.Fatalf("NDJSON with junk after a record: %+v %v", ps, err)
	}
}

// TestParseLowerCaseTime: RFC 3339 allows "t" and "z"; every device time
// takes them, on every path, as the upper-case time.
func TestParseLowerCaseTime(t *testing.T) {
	want := time.Date(2026, 11, 25, 15, 31, 0, 500000000, time.UTC)
	for _, s := range []string{"2026-11-25t15:31:00.5z", "2026-11-25T15:31:00.5z", "2026-11-25t15:31:00.5Z", "2026-11-25t23:31:00.5+08:00"} {
		got, err := parseTime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseTime(%s) = %v, %v", s, got, err)
		}
		body := `[{"device":"a","time":"` + s + `","metric":"pm25","value":1}]`
		fast, ok := fastParse([]byte(body))
		slow, err := parseObservations([]byte(body), false)
		nd, nerr := parseObservations([]byte(body[1:len(body)-1]), true)
		if !ok || err != nil || nerr != nil || len(slow) != 1 || len(nd) != 1 || fast[0].reject != nil || slow[0].reject != nil || nd[0].reject != nil ||
			!fast[0].Time.Equal(want) || !slow[0].Time.Equal(want) || !nd[0].Time.Equal(want) {
			t.Errorf("observations with %s: fast %+v %v, slow %+v %v, ndjson %+v %v", s, fast, ok, slow, err, nd, nerr)
		}
		payload := `{"time":"` + s + `","values":{"pm25":1}}`
		if _, _, ok := fastTelemetry([]byte(payload)); !ok {
			t.Errorf("fast path left %s", payload)
		}
		ft, ferr := ParseTelemetry([]byte(payload), time.Now())
		st, serr := parseTelemetry([]byte(payload), time.Now())
		if ferr != nil || serr != nil || !ft.Time.Equal(want) || !st.Time.Equal(want) {
			t.Errorf("telemetry with %s: fast %v %v, slow %v %v", s, ft.Time, ferr, st.Time, serr)
		}
		hb, err := ParseHeartbeat([]byte(`{"time":"`+s+`"}`), time.Now())
		if err != nil || !hb.Equal(want) {
			t.Errorf("heartbeat with %s: %v %v", s, hb, err)
		}
	}
	for _, s := range []string{"2026-11-25x15:31:00z", "2026-11-25t15:31:00x", "2026-11-25 15:31:00z", "2026-11-25t15:31:00", "2026-11-25", "t", "z", "", "2026-11-25t15:31:00zz", "2026-11-25T15:31:00+08:00z"} {
		if got, err := parseTime(s); err == nil {
			t.Errorf("parseTime(%q) = %v", s, got)
		}
	}
}

// FuzzParseTime: parseTime takes what time.Parse takes, and otherwise only
// the same text with a lower-case "t" or "z", as the same time.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-11-25t15:31:00.5z", "2026-11-25T15:31:00Z", "2026-11-25t15:31:00+08:00", "zz", "2026-11-25T15:31:60z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime(s)
		want, werr := time.Parse(time.RFC3339Nano, s)
		if werr == nil {
			if err != nil || !got.Equal(want) {
				t.Fatalf("%q: %v %v, time.Parse %v", s, got, err, want)
			}
			return
		}
		if err != nil {
			return
		}
		up := []byte(s)
		if up[10] == 't' {
			up[10] = 'T'
		}
		if up[len(up)-1] == 'z' {
			up[len(up)-1] = 'Z'
		}
		if string(up) == s {
			t.Fatalf("%q: taken, time.Parse refuses it: %v", s, werr)
		}
		if want, werr := time.Parse(time.RFC3339Nano, string(up)); werr != nil || !want.Equal(got) {
			t.Fatalf("%q: %v, upper case %v %v", s, got, want, werr)
		}
	})
}

// TestParseAcceptsOnlyJSON: whatever the parsers take is one valid JSON
// value (with FuzzParseTelemetry and FuzzParseCommandAck).
func TestParseAcceptsOnlyJSON(t *testing.T) {
	now := time.Now()
	for _, p := range append(append([]string{}, junkPayloads...), telemetryBodies...) {
		if _, err := ParseTelemetry([]byte(p), now); err == nil && !json.Valid([]byte(p)) {
			t.Errorf("telemetry %s taken", p)
		}
		if _, err := ParseHeartbeat([]byte(p), now); err == nil && strings.TrimSpace(p) != "" && !json.Valid([]byte(p)) {
			t.Errorf("heartbeat %s taken", p)
		}
	}
}
