package twin

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fastBodies are ingest bodies in and out of fastParse's shape.
var fastBodies = []string{
	`[{"device":"a","time":"2026-01-02T03:04:05Z","metric":"pm25","value":1.5}]`,
	` [ { "value" : -0.25e+2 , "metric":"pm25","device":"env-1", "time":"2026-01-02T03:04:05.123456789+08:00" } ,
	   {"device":"b","time":"2026-01-02T03:04:05Z","metric":"no2","value":0} ] `,
	`[]`, ` [ ] `, `[{}]`, `[{"device":"a"}]`,
	`[{"device":"","time":"x","metric":"m","value":1}]`,
	`[{"device":"a","time":"2026-01-02T03:04:05Z","metric":"pm25","value":1e400}]`,
	`[{"device":"a","time":"2026-01-02T03:04:05Z","metric":"pm25","value":"1"}]`,
	`[{"device":"a","time":"2026-01-02T03:04:05Z","metric":"pm25","value":null}]`,
	`[{"device":"a","time":"2026-01-02T03:04:05Z","metric":"pm25","value":01}]`,
	`[{"device":"a","time":"2026-01-02T03:04:05Z","metric":"pm25","value":1.}]`,
	`[{"device":"a","time":"2026-01-02T03:04:05Z","metric":"pm25","value":1,"extra":2}]`,
	`[{"device":"a","device":"b","time":"2026-01-02T03:04:05Z","metric":"pm25","value":1}]`,
	`[{"device":"a\u0062","time":"2026-01-02T03:04:05Z","metric":"pm25","value":1}]`,
	`[{"device":"é","time":"2026-01-02T03:04:05Z","metric":"pm25","value":1}]`,
	`[{"device":"a","time":"2026-01-02T03:04:05Z","metric":"pm25","value":1}`,
	`[{"device":"a","time":"2026-01-02T03:04:05Z","metric":"pm25","value":1},]`,
	`[{"device":"a","time":"2026-01-02T03:04:05Z","metric":"pm25","value":1}] x`,
	`[1, null, {"extra": true}]`, `{"device":"a","time":"2026-01-02T03:04:05Z","metric":"pm25","value":1}`, ``, `[`,
	`[{"device":"a","time":"2026-01-02t03:04:05.5z","metric":"pm25","value":1}]`,
	`[{"device":"a","time":"2026-01-02t03:04:05+08:00","metric":"pm25","value":1}]`,
}

// TestFastParse: whenever fastParse takes a body, it gives exactly what the
// encoding/json path gives; and it takes the usual bodies.
func TestFastParse(t *testing.T) {
	took := 0
	for _, body := range fastBodies {
		fast, ok := fastParse([]byte(body))
		slow, err := parseObservations([]byte(body), false)
		if !ok {
			continue
		}
		took++
		if err != nil {
			t.Fatalf("%s: fast path took a body the slow path refuses: %v", body, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%s:\nfast %+v\nslow %+v", body, fast, slow)
		}
	}
	if took < 8 {
		t.Fatalf("the fast path took only %d bodies", took)
	}
	var sb strings.Builder
	sb.WriteByte('[')
	for i := 0; i < 1000; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"device":"env-%d","time":"2026-01-02T03:04:05.%06dZ","metric":"pm25","value":%d.5}`, i%7, i, i)
	}
	sb.WriteByte(']')
	fast, ok := fastParse([]byte(sb.String()))
	slow, _ := parseObservations([]byte(sb.String()), false)
	if !ok || !reflect.DeepEqual(fast, slow) {
		t.Fatalf("a gateway's batch: fast path %v, same %v", ok, reflect.DeepEqual(fast, slow))
	}
}

// FuzzFastParse: on any body, the fast path agrees with encoding/json or
// leaves the body to it.
func FuzzFastParse(f *testing.F) {
	for _, b := range fastBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := fastParse(body)
		if !ok {
			return
		}
		slow, err := parseObservations(body, false)
		if err != nil || !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nfast %+v\nslow %+v (%v)", body, fast, slow, err)
		}
	})
}

func BenchmarkParseObservations(b *testing.B) {
	var sb strings.Builder
	sb.WriteByte('[')
	for i := 0; i < 1000; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"device":"env-%05d","time":"2026-01-02T03:04:05.%06dZ","metric":"pm10","value":%d}`, i%100, i, i)
	}
	sb.WriteByte(']')
	body := []byte(sb.String())
	for _, tc := range []struct {
		name string
		fn   func() ([]parsed, error)
	}{
		{"fast", func() ([]parsed, error) { return ParseObservations(body, false) }},
		{"encoding-json", func() ([]parsed, error) { return parseObservations(body, false) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := tc.fn(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "obs/s")
		})
	}
}

// telemetryBodies are telemetry payloads in and out of fastTelemetry's shape.
var telemetryBodies = []string{
	`{"time":"2026-01-02T03:04:05.123456Z","values":{"pm25":12.5}}`,
	` { "values" : { "pm25" : -1e2 , "no2":0 } , "time" : "2026-01-02T03:04:05+08:00" } `,
	`{"values":{"pm25":1}}`, `{"values":{}}`, `{"time":"2026-01-02T03:04:05Z"}`, `{}`, ``,
	`{"time":"yesterday","values":{"pm25":1}}`,
	`{"time":null,"values":{"pm25":1}}`,
	`{"Time":"2026-01-02T03:04:05Z","values":{"pm25":1}}`,
	`{"time":"2026-01-02T03:04:05Z","values":{"pm25":1},"extra":1}`,
	`{"time":"2026-01-02T03:04:05Z","values":{"pm25":1,"pm25":2}}`,
	`{"time":"2026-01-02T03:04:05Z","time":"2026-01-02T03:04:06Z","values":{"pm25":1}}`,
	`{"time":"2026-01-02T03:04:05Z","values":{"pm25":"1"}}`,
	`{"time":"2026-01-02T03:04:05Z","values":{"pm\u0032":1}}`,
	`{"time":"2026-01-02T03:04:05Z","values":{"pm25":01}}`,
	`{"time":"2026-01-02T03:04:05Z","values":{"pm25":1}} {}`,
	`{"time":"2026-01-02T03:04:05Z","values":{"pm25":1}`,
	`{"time":"2026-01-02T03:04:05Z","values":{"pm25":1,}}`,
	`[{"values":{"pm25":1}}]`,
	`{"time":"2026-11-25t15:31:00z","values":{"pm25":4}}`,
	`{"time":"2026-11-25T15:31:00Z","values":{"pm25":4}}xyz`,
	`{"time":"2026-11-25T15:31:00Z","values":{"pm25":4}} {"x":1}`,
	`{"time":"2026-11-25T15:31:00Z","values":{"pm25":4}}]`,
	`{"time":"2026-11-25T15:31:00Z","values":{"pm25":4}}}`,
}

// TestFastTelemetry: whenever fastTelemetry takes a payload, ParseTelemetry
// gives exactly what the encoding/json path gives; and it takes the usual
// payloads.
func TestFastTelemetry(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	took := 0
	for _, body := range telemetryBodies {
		if _, _, ok := fastTelemetry([]byte(body)); !ok {
			continue
		}
		took++
		fast, ferr := ParseTelemetry([]byte(body), now)
		slow, serr := parseTelemetry([]byte(body), now)
		if (ferr == nil) != (serr == nil) || (ferr != nil && ferr.Error() != serr.Error()) || !sameTelemetry(fast, slow) {
			t.Fatalf("%s:\nfast %+v (%v)\nslow %+v (%v)", body, fast, ferr, slow, serr)
		}
	}
	if took < 6 {
		t.Fatalf("the fast path took only %d payloads", took)
	}
}

// FuzzFastTelemetry: on any payload, the fast path agrees with
// encoding/json or leaves the payload to it.
func FuzzFastTelemetry(f *testing.F) {
	for _, b := range telemetryBodies {
		f.Add([]byte(b))
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, _, ok := fastTelemetry(body); !ok {
			return
		}
		fast, ferr := ParseTelemetry(body, now)
		slow, serr := parseTelemetry(body, now)
		if (ferr == nil) != (serr == nil) || !sameTelemetry(fast, slow) {
			t.Fatalf("%q:\nfast %+v (%v)\nslow %+v (%v)", body, fast, ferr, slow, serr)
		}
	})
}

func sameTelemetry(a, b Telemetry) bool {
	if !a.Time.Equal(b.Time) || len(a.Values) != len(b.Values) {
		return false
	}
	for k, v := range a.Values {
		if w, ok := b.Values[k]; !ok || string(v) != string(w) {
			return false
		}
	}
	return true
}

func BenchmarkParseTelemetry(b *testing.B) {
	body := []byte(`{"time":"2026-01-02T03:04:05.123456Z","values":{"pm25":12.5}}`)
	now := time.Now()
	for _, tc := range []struct {
		name string
		fn   func([]byte, time.Time) (Telemetry, error)
	}{{"fast", ParseTelemetry}, {"encoding-json", parseTelemetry}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.fn(body, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
