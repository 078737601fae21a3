package twin

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
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
