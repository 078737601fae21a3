package twin_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/twin"
)

// lampDevice answers commands like a street light controller: switch and
// dim, acknowledging with its new state.
func lampDevice(t *testing.T, c paho.Client, id string, answered *atomic.Int32) {
	t.Helper()
	tok := c.Subscribe("citytwin/devices/"+id+"/commands", 1, func(c paho.Client, m paho.Message) {
		var cmd struct {
			ID      int64
			Command string
			Args    map[string]any
		}
		if err := json.Unmarshal(m.Payload(), &cmd); err != nil {
			t.Errorf("command payload: %v", err)
			return
		}
		state := map[string]any{}
		switch cmd.Command {
		case "switch":
			state["on"] = cmd.Args["on"]
		case "dim":
			state["dim"] = cmd.Args["level"]
			state["on"] = true
		}
		ack, _ := json.Marshal(map[string]any{"id": cmd.ID, "ok": true, "state": state})
		go func() {
			c.Publish("citytwin/devices/"+id+"/commands/ack", 1, false, ack).Wait()
			answered.Add(1)
		}()
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
}

func TestCommands(t *testing.T) {
	s := mustServer(t)
	d := s.createDevice(t, `{"id":"lamp-1","kind":"lamp","lon":116.3,"lat":37.45}`)
	s.createDevice(t, `{"id":"lamp-2","kind":"lamp","lon":116.3,"lat":37.45}`)
	s.createDevice(t, `{"id":"env-1","kind":"env","lon":116.3,"lat":37.45}`)
	c := mustMQTT(t, s.Twin.MQTTAddr(), "lamp-1", d.Key)
	var answered atomic.Int32
	lampDevice(t, c, "lamp-1", &answered)

	resp, b := apptest.DoJSON(t, "POST", s.URL()+"/api/v1/devices/lamp-1/commands?timeout=5s", s.operator, `{"command":"dim","args":{"level":40}}`)
	var cmd twin.Command
	if resp.StatusCode != 200 || json.Unmarshal(b, &cmd) != nil || cmd.Status != "ok" || cmd.AckedAt == nil || cmd.Actor != "test-operator" {
		t.Fatalf("dim: %d %s", resp.StatusCode, b)
	}
	// The state changed because the device confirmed it.
	got := s.device(t, "lamp-1")
	if got.Values["dim"].Value != 40 || got.Values["on"].Value != 1 {
		t.Fatalf("state after dim: %+v", got.Values)
	}
	resp, b = apptest.DoJSON(t, "POST", s.URL()+"/api/v1/devices/lamp-1/commands", s.operator, `{"command":"switch","args":{"on":false}}`)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"status":"ok"`) {
		t.Fatalf("switch: %d %s", resp.StatusCode, b)
	}
	if got := s.device(t, "lamp-1"); got.Values["on"].Value != 0 {
		t.Fatalf("state after switch: %+v", got.Values)
	}
	// A confirmed state is settled: in device_state at once, not lazily as
	// readings are.
	if on := s.count(t, `SELECT value::int FROM device_state WHERE device_id = 'lamp-1' AND metric = 'on'`); on != 0 {
		t.Fatalf("device_state has on = %d after the switch off was confirmed", on)
	}

	// No device listening: 504, recorded as timeout, state unchanged.
	start := time.Now()
	resp, b = apptest.DoJSON(t, "POST", s.URL()+"/api/v1/devices/lamp-2/commands?timeout=300ms", s.operator, `{"command":"switch","args":{"on":true}}`)
	if code, _, _ := apptest.ErrorBody(t, b); resp.StatusCode != 504 || code != "timeout" || time.Since(start) > 5*time.Second {
		t.Fatalf("timeout: %d %s", resp.StatusCode, b)
	}
	if got := s.device(t, "lamp-2"); len(got.Values) != 0 {
		t.Fatalf("state changed without confirmation: %+v", got.Values)
	}
	resp, b = apptest.Do(t, "GET", s.URL()+"/api/v1/devices/lamp-2/commands", s.viewer, nil)
	var cs []twin.Command
	if resp.StatusCode != 200 || json.Unmarshal(b, &cs) != nil || len(cs) != 1 || cs[0].Status != "timeout" {
		t.Fatalf("history: %d %s", resp.StatusCode, b)
	}

	// Bad commands.
	for _, c := range []struct {
		path, key, body string
		status          int
	}{
		{"lamp-1", s.operator, `{"command":"dim","args":{"level":140}}`, 400},
		{"lamp-1", s.operator, `{"command":"explode","args":{}}`, 400},
		{"lamp-1", s.operator, `{"command":"switch"}`, 400},
		{"env-1", s.operator, `{"command":"switch","args":{"on":true}}`, 400},
		{"nope", s.operator, `{"command":"switch","args":{"on":true}}`, 404},
		{"lamp-1", s.viewer, `{"command":"switch","args":{"on":true}}`, 403},
		{"lamp-1/commands?timeout=forever", s.operator, `{"command":"switch","args":{"on":true}}`, 400},
	} {
		path := c.path
		if !strings.Contains(path, "/") {
			path += "/commands"
		}
		resp, b := apptest.DoJSON(t, "POST", fmt.Sprintf("%s/api/v1/devices/%s", s.URL(), path), c.key, c.body)
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d %s", c.path, c.body, resp.StatusCode, b)
		}
	}
	// A device may not subscribe to another device's commands.
	tok := c.Subscribe("citytwin/devices/lamp-2/commands", 1, func(paho.Client, paho.Message) {})
	tok.WaitTimeout(5 * time.Second)
	if st, ok := tok.(*paho.SubscribeToken); ok {
		if r := st.Result()["citytwin/devices/lamp-2/commands"]; r != 0x80 {
			t.Errorf("subscribe to another device's commands: result %#x", r)
		}
	}
}
