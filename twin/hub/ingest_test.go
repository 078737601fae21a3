package hub_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"

	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/auth"
)

// TestIngestToWebsocket: end to end, HTTP ingest and MQTT telemetry become
// deltas of the device on a websocket subscribed to its viewport, after a
// snapshot holding the registered device.
func TestIngestToWebsocket(t *testing.T) {
	a := apptest.MustRun(t)
	admin := apptest.Key(t, a, auth.Admin)
	operator := apptest.Key(t, a, auth.Operator)
	resp, b := apptest.DoJSON(t, "POST", a.URL()+"/api/v1/devices", admin,
		`[{"id":"e2e-env","kind":"env","lon":116.30,"lat":37.45},{"id":"e2e-far","kind":"env","lon":117.30,"lat":37.45}]`)
	if resp.StatusCode != 201 {
		t.Fatalf("create devices: %d %s", resp.StatusCode, b)
	}
	c, _, err := websocket.DefaultDialer.Dial(wsURL(a, operator), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteJSON(map[string]any{"type": "subscribe", "layers": []string{"devices", "alarms"}, "bbox": []float64{116.2, 37.4, 116.4, 37.5}}); err != nil {
		t.Fatal(err)
	}
	var snap struct {
		Seq      int64
		Entities []struct{ Entity string }
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if err := c.ReadJSON(&snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Entities) != 1 || snap.Entities[0].Entity != "device:e2e-env" {
		t.Fatalf("snapshot = %+v, want the registered device inside the bbox", snap)
	}

	// HTTP.
	at := time.Now().UTC().Add(-time.Second).Format(time.RFC3339Nano)
	resp, b = apptest.DoJSON(t, "POST", a.URL()+"/api/v1/observations", operator,
		fmt.Sprintf(`[{"device":"e2e-env","time":%q,"metric":"pm25","value":42.5},{"device":"e2e-far","time":%q,"metric":"pm25","value":1}]`, at, at))
	if resp.StatusCode != 200 {
		t.Fatalf("ingest: %d %s", resp.StatusCode, b)
	}
	value := func(m serverMsg) float64 {
		var d struct {
			Values map[string]struct{ Value float64 }
		}
		_ = json.Unmarshal(m.Data, &d)
		return d.Values["pm25"].Value
	}
	r := newReader(c)
	m := readUntil(t, r, func(m serverMsg) bool { return m.Type == "delta" && value(m) == 42.5 })
	if m.Entity != "device:e2e-env" || m.Seq <= snap.Seq {
		t.Fatalf("delta = %+v", m)
	}

	// MQTT, through the embedded broker as a gateway; PM2.5 over 75 also
	// raises an alarm event.
	opts := paho.NewClientOptions().AddBroker("tcp://" + a.Twin.MQTTAddr()).SetClientID("hub-e2e").
		SetUsername("gateway").SetPassword(operator).SetConnectTimeout(10 * time.Second)
	mc := paho.NewClient(opts)
	if tok := mc.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt connect: %v", tok.Error())
	}
	defer mc.Disconnect(100)
	payload := fmt.Sprintf(`{"time":%q,"values":{"pm25":88}}`, time.Now().UTC().Format(time.RFC3339Nano))
	if tok := mc.Publish("citytwin/devices/e2e-env/telemetry", 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt publish: %v", tok.Error())
	}
	var ev serverMsg
	gotDelta := false
	readUntil(t, r, func(m serverMsg) bool {
		if m.Type == "delta" && value(m) == 88 {
			gotDelta = true
		}
		if m.Type == "event" {
			ev = m
		}
		return gotDelta && ev.Type != ""
	})
	var al struct {
		Device, Type string
		Active       bool
	}
	if err := json.Unmarshal(ev.Data, &al); err != nil || al.Device != "e2e-env" || al.Type != "pm25_high" || !al.Active {
		t.Fatalf("alarm event = %+v (%s)", al, ev.Data)
	}
}
