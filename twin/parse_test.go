package twin

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func FuzzParseObservations(f *testing.F) {
	f.Add([]byte(`[{"device":"a","time":"2026-01-02T03:04:05Z","metric":"pm25","value":1.5}]`), false)
	f.Add([]byte(`{"device":"a","time":"2026-01-02T03:04:05Z","metric":"pm25","value":"x"}`), false)
	f.Add([]byte("{\"device\":\"a\"}\n\n{\"value\":1e400}\n"), true)
	f.Add([]byte(`[1, null, {"extra": true}]`), false)
	f.Fuzz(func(t *testing.T, body []byte, nd bool) {
		ps, err := ParseObservations(body, nd)
		if err != nil {
			return
		}
		for i, p := range ps {
			if p.reject == nil && (p.Device == "" || p.Metric == "") {
				t.Fatalf("record %d accepted without device or metric", i)
			}
		}
	})
}

func FuzzParseTelemetry(f *testing.F) {
	f.Add([]byte(`{"time":"2026-01-02T03:04:05Z","values":{"pm25":12}}`))
	f.Add([]byte(`{"values":{"on":true}}`))
	f.Add([]byte(`{"time":5}`))
	f.Add([]byte(`{"time":"2026-01-02T03:04:05Z","values":{"pm25":12}}}`))
	f.Add([]byte(`{}{}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		tm, err := ParseTelemetry(payload, time.Now())
		if err == nil && len(tm.Values) == 0 {
			t.Fatal("telemetry without values accepted")
		}
		if err == nil && !json.Valid(payload) {
			t.Fatal("telemetry that is not one JSON value accepted")
		}
		if _, err := ParseHeartbeat(payload, time.Now()); err == nil && len(bytes.TrimSpace(payload)) > 0 && !json.Valid(payload) {
			t.Fatal("heartbeat that is not one JSON value accepted")
		}
	})
}

func FuzzParseCommandAck(f *testing.F) {
	f.Add([]byte(`{"id":3,"ok":true,"state":{"on":true,"dim":40}}`))
	f.Add([]byte(`{"id":-1}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		a, err := ParseCommandAck(payload)
		if err == nil && a.ID <= 0 {
			t.Fatal("ack without id accepted")
		}
		if err == nil && !json.Valid(payload) {
			t.Fatal("ack that is not one JSON value accepted")
		}
		for _, raw := range a.State {
			stateValue(raw)
		}
	})
}

func FuzzParseTopic(f *testing.F) {
	f.Add("citytwin/devices/lamp-1/telemetry")
	f.Add("citytwin/devices/+/commands")
	f.Add("citytwin/devices//heartbeat")
	f.Fuzz(func(t *testing.T, topic string) {
		id, rest, ok := ParseTopic(topic)
		if ok && (id == "" || rest == "" || TopicPrefix+id+"/"+rest != topic) {
			t.Fatalf("%q -> %q %q", topic, id, rest)
		}
	})
}

func TestParseTopic(t *testing.T) {
	cases := []struct {
		topic, id, rest string
		ok              bool
	}{
		{"citytwin/devices/lamp-1/telemetry", "lamp-1", "telemetry", true},
		{"citytwin/devices/lamp-1/commands/ack", "lamp-1", "commands/ack", true},
		{"citytwin/devices/+/telemetry", "", "", false},
		{"citytwin/devices/lamp-1/other", "", "", false},
		{"other/devices/lamp-1/telemetry", "", "", false},
	}
	for _, c := range cases {
		id, rest, ok := ParseTopic(c.topic)
		if ok != c.ok || (ok && (id != c.id || rest != c.rest)) {
			t.Errorf("%s: %q %q %v", c.topic, id, rest, ok)
		}
	}
}
