package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Topics of the citytwin MQTT interface.
const (
	topicPrefix = "citytwin/devices/"
	// GatewayUser is the MQTT user name that, with an operator or admin
	// API key as password, may publish for any device.
	GatewayUser = "gateway"
)

const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// MQTT publishes readings as citytwin/devices/{id}/telemetry messages
// ({"time": RFC 3339, "values": {...}}, QoS 1) and answers commands on
// citytwin/devices/{id}/commands with an ack on .../commands/ack.
type MQTT struct {
	c   mqtt.Client
	log *slog.Logger
	sim atomic.Pointer[Simulator]
}

var _ Publisher = (*MQTT)(nil)

// DialMQTT connects to the broker at addr (tcp://host:port or host:port) as
// the gateway with key.
func DialMQTT(ctx context.Context, addr, key string, logger *slog.Logger) (*MQTT, error) {
	if !strings.Contains(addr, "://") {
		addr = "tcp://" + addr
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &MQTT{log: logger}
	o := mqtt.NewClientOptions().AddBroker(addr).SetUsername(GatewayUser).SetPassword(key).
		SetClientID(fmt.Sprintf("citytwin-sim-%d", time.Now().UnixNano())).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second).
		SetOrderMatters(false).SetCleanSession(true).SetConnectTimeout(10 * time.Second).
		SetWriteTimeout(30 * time.Second)
	o.SetOnConnectHandler(func(c mqtt.Client) {
		// (re)subscribe to the devices' commands
		tok := c.Subscribe(topicPrefix+"+/commands", 1, m.onCommand)
		go func() {
			if tok.WaitTimeout(10*time.Second) && tok.Error() != nil {
				logger.Warn("simulate: cannot subscribe to commands", "err", tok.Error())
			}
		}()
	})
	m.c = mqtt.NewClient(o)
	tok := m.c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		m.c.Disconnect(0)
		return nil, ctx.Err()
	case <-time.After(15 * time.Second):
		m.c.Disconnect(0)
		return nil, fmt.Errorf("simulate: MQTT %s: no connection within 15 s", addr)
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("simulate: MQTT %s: %w", addr, err)
	}
	return m, nil
}

// Attach makes the simulator answer the commands this connection receives.
func (m *MQTT) Attach(s *Simulator) { m.sim.Store(s) }

func (m *MQTT) onCommand(c mqtt.Client, msg mqtt.Message) {
	id, ok := strings.CutPrefix(msg.Topic(), topicPrefix)
	if !ok {
		return
	}
	id, ok = strings.CutSuffix(id, "/commands")
	s := m.sim.Load()
	if !ok || s == nil {
		return
	}
	var cmd Command
	if err := json.Unmarshal(msg.Payload(), &cmd); err != nil {
		m.log.Warn("simulate: bad command", "device", id, "err", err)
		return
	}
	ack, r := s.HandleCommand(id, cmd)
	b, _ := json.Marshal(ack)
	// The ack goes first (the server waits for it), then the new state.
	// Neither may block the client's message handler.
	go func() {
		t := c.Publish(topicPrefix+id+"/commands/ack", 1, false, b)
		t.WaitTimeout(10 * time.Second)
		if r != nil {
			c.Publish(topicPrefix+id+"/telemetry", 1, false, telemetryPayload(*r)).WaitTimeout(10 * time.Second)
		}
	}()
}

func telemetryPayload(r Reading) []byte {
	b, _ := json.Marshal(struct {
		Time   string             `json:"time"`
		Values map[string]float64 `json:"values"`
	}{r.Time.UTC().Format(timeFormat), r.Values})
	return b
}

// Publish sends each reading as one QoS 1 message and waits until the
// broker has acknowledged them all (citytwin acknowledges once the values
// are stored).
func (m *MQTT) Publish(ctx context.Context, rs []Reading) error {
	toks := make([]mqtt.Token, 0, len(rs))
	for _, r := range rs {
		toks = append(toks, m.c.Publish(topicPrefix+r.Device+"/telemetry", 1, false, telemetryPayload(r)))
	}
	deadline := time.Now().Add(30 * time.Second)
	failed := 0
	var first error
	for _, t := range toks {
		select {
		case <-t.Done():
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(deadline)):
			return fmt.Errorf("simulate: MQTT: no acknowledgement within 30 s")
		}
		if err := t.Error(); err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("simulate: MQTT: %d of %d messages failed: %w", failed, len(rs), first)
	}
	return nil
}

// Close disconnects.
func (m *MQTT) Close() error {
	m.c.Disconnect(250)
	return nil
}

// HTTP publishes readings to POST /api/v1/observations as a JSON array of
// {"device","time","metric","value"}.
type HTTP struct {
	base, key string
	client    *http.Client
	log       *slog.Logger
}

var _ Publisher = (*HTTP)(nil)

// NewHTTP returns a publisher to the citytwin at base (http://host:port)
// with an operator or admin key.
func NewHTTP(base, key string, logger *slog.Logger) *HTTP {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &HTTP{base: strings.TrimRight(base, "/"), key: key, client: &http.Client{Timeout: 60 * time.Second}, log: logger}
}

type observation struct {
	Device string  `json:"device"`
	Time   string  `json:"time"`
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
}

// Publish posts the readings; it fails when the server refuses the batch
// or rejects any value.
func (h *HTTP) Publish(ctx context.Context, rs []Reading) error {
	var obs []observation
	for _, r := range rs {
		t := r.Time.UTC().Format(timeFormat)
		for _, m := range sortedKeys(r.Values) {
			obs = append(obs, observation{r.Device, t, m, r.Values[m]})
		}
	}
	for len(obs) > 0 {
		n := min(len(obs), 10000)
		if err := h.post(ctx, obs[:n]); err != nil {
			return err
		}
		obs = obs[n:]
	}
	return nil
}

func (h *HTTP) post(ctx context.Context, obs []observation) error {
	body, err := json.Marshal(obs)
	if err != nil {
		return err
	}
	var res struct {
		Accepted   int               `json:"accepted"`
		Duplicates int               `json:"duplicates"`
		Rejected   []json.RawMessage `json:"rejected"`
	}
	if err := h.do(ctx, http.MethodPost, "/api/v1/observations", body, &res); err != nil {
		return err
	}
	if len(res.Rejected) > 0 {
		return fmt.Errorf("simulate: %d observations rejected, first: %s", len(res.Rejected), res.Rejected[0])
	}
	return nil
}

func (h *HTTP) do(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if h.key != "" {
		req.Header.Set("Authorization", "Bearer "+h.key)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("simulate: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("simulate: %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("simulate: %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("simulate: %s %s: %w", method, path, err)
		}
	}
	return nil
}

// Close does nothing.
func (h *HTTP) Close() error { return nil }

// FetchDevices lists the devices of the citytwin at base (GET
// /api/v1/devices), with what the simulator can learn of them: a parking
// lot's capacity from its last report.
func FetchDevices(ctx context.Context, base, key string) ([]Device, error) {
	h := NewHTTP(base, key, nil)
	var list []struct {
		ID        string  `json:"id"`
		Kind      string  `json:"kind"`
		Lon       float64 `json:"lon"`
		Lat       float64 `json:"lat"`
		IntervalS float64 `json:"interval_s"`
		Values    map[string]struct {
			Value float64 `json:"value"`
		} `json:"values"`
	}
	if err := h.do(ctx, http.MethodGet, "/api/v1/devices?limit=100000", nil, &list); err != nil {
		return nil, err
	}
	out := make([]Device, 0, len(list))
	for _, d := range list {
		dv := Device{ID: d.ID, Kind: d.Kind, Lon: d.Lon, Lat: d.Lat, Interval: time.Duration(d.IntervalS * float64(time.Second))}
		if c, ok := d.Values["capacity"]; ok && d.Kind == "parking" {
			dv.Params = map[string]any{"capacity": c.Value}
		}
		out = append(out, dv)
	}
	return out, nil
}

// ValidateURL checks a citytwin base URL.
func ValidateURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("bad URL %q: want http://HOST:PORT", s)
	}
	return nil
}

func sortedKeys(m map[string]float64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	return ks
}
