// Package loadgen is the live twin's load generator for make bench-live: it
// registers N devices on a running citytwin server, opens M websocket
// clients subscribed to viewports over them, publishes observations through
// HTTP (as a gateway, in batches) and MQTT (as a gateway, one telemetry
// message per reading) at a target rate, and measures what the clients get:
// ingest-to-client latency (observation time to delta receipt), messages
// lost (a client whose last state of a device in its viewport is not the
// last reading sent), sustained observations/s, and the server's peak RSS.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Config of a run.
type Config struct {
	URL      string // http://host:port of the server
	MQTT     string // host:port of its broker; empty: HTTP only
	AdminKey string // registers devices, publishes as gateway
	Devices  int
	Clients  int
	Rate     float64 // observations/s in total
	// HTTPShare is the part of the rate sent over HTTP (the rest over MQTT).
	HTTPShare float64
	Duration  time.Duration
	// Drain is how long clients may take to receive the last readings.
	Drain time.Duration
	// PID of the server, for its peak RSS (0: not measured).
	PID    int
	Logger *slog.Logger
	// BBox where devices are placed: [w,s,e,n].
	BBox [4]float64
	// Progress, when positive, logs every Progress the observations
	// accepted and the latency quantiles of that interval alone, so that a
	// long run shows whether latency drifts.
	Progress time.Duration
}

// Result of a run.
type Result struct {
	Sent, Accepted, Rejected int64
	Seconds                  float64
	ObsPerSec                float64
	Deltas                   int64
	P50, P99, Max            time.Duration
	Lost                     int64 // (client, device) pairs whose last reading never arrived
	Pairs                    int64
	PeakRSSKB                int64
	ClientsConnected         int
	// ClientsDropped counts clients the server closed during the run (a
	// write timeout or 4008 too slow); their readings count as lost.
	ClientsDropped int64
	// HubLagP50 and HubLagP99 are the server's own figures (upper bucket
	// bounds of citytwin_hub_event_lag_seconds): from an event's append in
	// the ingest transaction to its dispatch by the hub.
	HubLagP50, HubLagP99 time.Duration
	// The latency split at the event's append in the ingest transaction
	// (its "at"): reading to append (queueing, batching, the insert, the
	// wait for the state lock) and append to receipt (commit, hub,
	// websocket, the client's read).
	InServerP50, InServerP99 time.Duration
	ToClientP50, ToClientP99 time.Duration
}

const metric = "pm10" // env metric without an alarm rule, range 0..3000

type device struct {
	id  string
	lon float64
	lat float64
	mu  sync.Mutex
	// last observation time sent (µs) and how many.
	last int64
}

// next returns a fresh observation time for d (unique per device).
func (d *device) next() int64 {
	t := time.Now().UnixMicro()
	d.mu.Lock()
	if t <= d.last {
		t = d.last + 1
	}
	d.last = t
	d.mu.Unlock()
	return t
}

// Run runs the load and returns its figures.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	log := cfg.Logger
	devs := make([]*device, cfg.Devices)
	rnd := rand.New(rand.NewPCG(1, 2))
	w, s, e, n := cfg.BBox[0], cfg.BBox[1], cfg.BBox[2], cfg.BBox[3]
	for i := range devs {
		devs[i] = &device{id: fmt.Sprintf("bench-%06d", i), lon: w + rnd.Float64()*(e-w), lat: s + rnd.Float64()*(n-s)}
	}
	if err := register(ctx, cfg, devs); err != nil {
		return nil, err
	}
	log.Info("devices registered", "n", len(devs))

	// Clients: each subscribes to a viewport about a tenth of the area wide.
	res := &Result{}
	var lat, inServer, toClient latencies
	lat.windowed = cfg.Progress > 0
	var dropped atomic.Int64
	clients := make([]*wsClient, 0, cfg.Clients)
	cctx, cancelClients := context.WithCancel(ctx)
	defer cancelClients()
	var cwg sync.WaitGroup
	for i := 0; i < cfg.Clients; i++ {
		cw, ch := (e-w)/10*(0.5+rnd.Float64()), (n-s)/10*(0.5+rnd.Float64())
		x, y := w+rnd.Float64()*(e-w-cw), s+rnd.Float64()*(n-s-ch)
		c, err := dialClient(cctx, cfg, []float64{x, y, x + cw, y + ch})
		if err != nil {
			return nil, fmt.Errorf("client %d: %w", i, err)
		}
		clients = append(clients, c)
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			c.read(cctx, &lat, &inServer, &toClient)
			if cctx.Err() == nil {
				dropped.Add(1)
				log.Warn("websocket client closed by the server", "err", c.err)
			}
		}()
	}
	res.ClientsConnected = len(clients)
	log.Info("clients subscribed", "n", len(clients))

	// Publishers.
	var sent, accepted, rejected atomic.Int64
	httpRate := cfg.Rate * cfg.HTTPShare
	mqttRate := cfg.Rate - httpRate
	if cfg.MQTT == "" {
		httpRate, mqttRate = cfg.Rate, 0
	}
	start := time.Now()
	pctx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	var pwg sync.WaitGroup
	var perr atomic.Value
	if httpRate > 0 {
		const gateways = 4
		for g := 0; g < gateways; g++ {
			pwg.Add(1)
			go func(g int) {
				defer pwg.Done()
				if err := publishHTTP(pctx, cfg, devs, g, gateways, httpRate/gateways, &sent, &accepted, &rejected); err != nil {
					perr.Store(err)
				}
			}(g)
		}
	}
	if mqttRate > 0 {
		const conns = 4
		for g := 0; g < conns; g++ {
			pwg.Add(1)
			go func(g int) {
				defer pwg.Done()
				if err := publishMQTT(pctx, cfg, devs, g, conns, mqttRate/conns, &sent, &accepted, &rejected); err != nil {
					perr.Store(err)
				}
			}(g)
		}
	}
	if cfg.Progress > 0 {
		go logProgress(pctx, log, cfg.Progress, &lat, &accepted)
	}
	peak := int64(0)
	memDone := make(chan struct{})
	go func() {
		defer close(memDone)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			if v := rss(cfg.PID); v > peak {
				peak = v
			}
			select {
			case <-pctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	pwg.Wait()
	<-memDone
	res.Seconds = time.Since(start).Seconds()
	if err, _ := perr.Load().(error); err != nil {
		return nil, err
	}
	// Let the last readings reach the clients, then compare.
	deadline := time.Now().Add(cfg.Drain)
	for {
		lost, pairs := lostPairs(clients, devs)
		res.Lost, res.Pairs = lost, pairs
		if lost == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v := hwm(cfg.PID); v > peak {
		peak = v
	}
	cancelClients()
	for _, c := range clients {
		c.conn.Close()
	}
	cwg.Wait()
	res.Sent, res.Accepted, res.Rejected = sent.Load(), accepted.Load(), rejected.Load()
	res.ObsPerSec = float64(res.Accepted) / res.Seconds
	res.P50, res.P99, res.Max = lat.quantiles()
	res.InServerP50, res.InServerP99, _ = inServer.quantiles()
	res.ToClientP50, res.ToClientP99, _ = toClient.quantiles()
	res.Deltas = int64(lat.n())
	res.PeakRSSKB = peak
	res.ClientsDropped = dropped.Load()
	res.HubLagP50, res.HubLagP99 = hubLag(ctx, cfg)
	return res, nil
}

// hubLag reads the hub's lag histogram from the server's /metrics.
func hubLag(ctx context.Context, cfg Config) (p50, p99 time.Duration) {
	req, err := http.NewRequestWithContext(ctx, "GET", cfg.URL+"/metrics", nil)
	if err != nil {
		return 0, 0
	}
	req.Header.Set("Authorization", "Bearer "+cfg.AdminKey)
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	type bucket struct {
		le float64
		n  float64
	}
	var bs []bucket
	for _, line := range strings.Split(string(b), "\n") {
		const pfx = `citytwin_hub_event_lag_seconds_bucket{le="`
		if !strings.HasPrefix(line, pfx) {
			continue
		}
		rest := line[len(pfx):]
		i := strings.Index(rest, `"}`)
		if i < 0 {
			continue
		}
		le, err1 := strconv.ParseFloat(rest[:i], 64)
		n, err2 := strconv.ParseFloat(strings.TrimSpace(rest[i+2:]), 64)
		if err1 == nil && err2 == nil {
			bs = append(bs, bucket{le, n})
		}
	}
	if len(bs) == 0 || bs[len(bs)-1].n == 0 {
		return 0, 0
	}
	total := bs[len(bs)-1].n
	q := func(p float64) time.Duration {
		for _, b := range bs {
			if b.n >= p*total {
				if math.IsInf(b.le, 1) {
					return -1
				}
				return time.Duration(b.le * float64(time.Second))
			}
		}
		return -1
	}
	return q(0.5), q(0.99)
}

func register(ctx context.Context, cfg Config, devs []*device) error {
	for i := 0; i < len(devs); i += 1000 {
		var body []map[string]any
		for _, d := range devs[i:min(i+1000, len(devs))] {
			body = append(body, map[string]any{"id": d.id, "kind": "env", "lon": d.lon, "lat": d.lat, "interval_s": 3600})
		}
		b, _ := json.Marshal(body)
		code, out, err := post(ctx, cfg.URL+"/api/v1/devices", cfg.AdminKey, "application/json", b)
		if err != nil {
			return err
		}
		if code != 201 {
			return fmt.Errorf("POST /api/v1/devices: HTTP %d: %.300s", code, out)
		}
	}
	return nil
}

var httpClient = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func post(ctx context.Context, url, key, ctype string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", ctype)
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// publishHTTP sends this gateway's share of the devices' readings in
// batches, every 20 ms, at rate observations/s.
func publishHTTP(ctx context.Context, cfg Config, devs []*device, g, gateways int, rate float64, sent, accepted, rejected *atomic.Int64) error {
	mine := share(devs, g, gateways, 0)
	k := 0
	start, done := time.Now(), 0
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		// Catch up on the schedule when a request took long.
		want := int(rate * time.Since(start).Seconds())
		n := min(want-done, 20000)
		done = want
		if n <= 0 || len(mine) == 0 {
			continue
		}
		var b bytes.Buffer
		b.WriteByte('[')
		for i := 0; i < n; i++ {
			d := mine[k%len(mine)]
			k++
			if i > 0 {
				b.WriteByte(',')
			}
			ts := time.UnixMicro(d.next()).UTC().Format(time.RFC3339Nano)
			fmt.Fprintf(&b, `{"device":%q,"time":%q,"metric":%q,"value":%d}`, d.id, ts, metric, k%3000)
		}
		b.WriteByte(']')
		sent.Add(int64(n))
		code, out, err := post(context.WithoutCancel(ctx), cfg.URL+"/api/v1/observations", cfg.AdminKey, "application/json", b.Bytes())
		if err != nil {
			return fmt.Errorf("POST /api/v1/observations: %w", err)
		}
		if code != 200 {
			return fmt.Errorf("POST /api/v1/observations: HTTP %d: %.300s", code, out)
		}
		var r struct {
			Accepted, Duplicates int64
			Rejected             []json.RawMessage
		}
		if err := json.Unmarshal(out, &r); err != nil {
			return fmt.Errorf("POST /api/v1/observations: %w", err)
		}
		accepted.Add(r.Accepted)
		rejected.Add(int64(len(r.Rejected)) + r.Duplicates)
	}
}

// share is the devices of publisher g of n on the HTTP (side 0) or MQTT
// (side 1) path: HTTP takes even devices, MQTT odd ones, so that every
// device has one publisher and its readings stay in order.
func share(devs []*device, g, n, side int) []*device {
	var out []*device
	for i, d := range devs {
		if i%2 == side && (i/2)%n == g {
			out = append(out, d)
		}
	}
	return out
}

// publishMQTT publishes one telemetry message per reading (QoS 1) as a
// gateway; a reading counts as accepted once PUBACKed (that is, stored).
func publishMQTT(ctx context.Context, cfg Config, devs []*device, g, conns int, rate float64, sent, accepted, rejected *atomic.Int64) error {
	mine := share(devs, g, conns, 1)
	if len(mine) == 0 {
		return nil
	}
	c, err := dialMQTT(ctx, cfg.MQTT, fmt.Sprintf("loadgen-%d-%d", os.Getpid(), g), "gateway", cfg.AdminKey, accepted)
	if err != nil {
		return err
	}
	defer func() { rejected.Add(int64(c.close(30 * time.Second))) }()
	k := 0
	start, done := time.Now(), 0
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	var payload []byte
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		want := int(rate * time.Since(start).Seconds())
		n := want - done
		done = want
		for i := 0; i < n; i++ {
			d := mine[k%len(mine)]
			k++
			// The in-flight slot is taken before the reading's time: a
			// reading whose time was taken is always published (the lost
			// count compares with it).
			if err := c.reserve(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			payload = append(payload[:0], `{"time":"`...)
			payload = time.UnixMicro(d.next()).UTC().AppendFormat(payload, time.RFC3339Nano)
			payload = append(payload, `","values":{"`+metric+`":`...)
			payload = strconv.AppendInt(payload, int64(k%3000), 10)
			payload = append(payload, "}}"...)
			sent.Add(1)
			if err := c.publish("citytwin/devices/"+d.id+"/telemetry", payload); err != nil {
				return fmt.Errorf("mqtt publish: %w", err)
			}
		}
	}
}

// wsClient is one websocket client: the devices its snapshot held and the
// last observation time it received for each.
type wsClient struct {
	conn *websocket.Conn
	err  error
	mu   sync.Mutex
	last map[string]int64 // device id → last observation time (µs) received
}

func dialClient(ctx context.Context, cfg Config, bbox []float64) (*wsClient, error) {
	u := "ws" + strings.TrimPrefix(cfg.URL, "http") + "/ws?access_token=" + cfg.AdminKey
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 64 << 10}
	conn, _, err := d.DialContext(ctx, u, nil)
	if err != nil {
		return nil, err
	}
	if err := conn.WriteJSON(map[string]any{"type": "subscribe", "layers": []string{"devices"}, "bbox": bbox}); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	var snap struct {
		Type     string
		Entities []struct {
			Entity string
			Data   deviceData
		}
	}
	if err := conn.ReadJSON(&snap); err != nil || snap.Type != "snapshot" {
		conn.Close()
		return nil, fmt.Errorf("snapshot: %v (%s)", err, snap.Type)
	}
	_ = conn.SetReadDeadline(time.Time{})
	c := &wsClient{conn: conn, last: map[string]int64{}}
	for _, e := range snap.Entities {
		c.last[e.Data.ID] = e.Data.obsTime()
	}
	return c, nil
}

// deviceData is the part of a device's state the clients check: its id and
// the time of its pm10 reading (decoded into a struct, not a map of every
// metric: the load generator shares the machine with the server).
type deviceData struct {
	ID     string `json:"id"`
	Values struct {
		PM10 *struct {
			Time time.Time `json:"time"`
		} `json:"pm10"`
	} `json:"values"`
}

func (d deviceData) obsTime() int64 {
	if d.Values.PM10 == nil {
		return 0
	}
	return d.Values.PM10.Time.UnixMicro()
}

// The clients find each device delta's id and pm10 time by scanning the
// frame for the server's layout of a device's state ({…, "at": "…",
// "data": {"id": "…", …, "values": {…, "pm10": {"value": …, "time": "…"}}}})
// rather than decoding it all: the load generator shares the machine with
// the server it measures. A frame in another layout counts nothing, which
// shows as lost.
var (
	keyData = []byte(`"data":`)
	keyID   = []byte(`{"id":"`)
	keyPM10 = []byte(metric + `":{"value":`) // after the key's opening quote
	keyTime = []byte(`"time":"`)
	keyAt   = []byte(`"at":"`)
)

// scanDeltas calls fn with the device id, the pm10 time (µs, 0 if none)
// and the event's append time ("at", µs, 0 if none) of every device state in
// frame b, in one pass front to back. The keys it looks for start with a
// byte that is rare in the frame ('{', 'p'): bytes.Index then runs on
// IndexByte's vector loop, where a key starting with '"' (every few bytes
// of JSON) sent it to a compare at every position, four times slower.
func scanDeltas(b []byte, fn func(id []byte, t, at int64)) {
	var tc timeCache
	lo := 0
	i := nextDeviceData(b, 0)
	for i >= 0 {
		at := atBefore(&tc, b, lo, i-len(keyID)-len(keyData))
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return
		}
		id := b[i : i+j]
		lo = i + j
		next := nextDeviceData(b, lo)
		end := len(b)
		if next >= 0 {
			end = next
		}
		var t int64
		if k := keyAfterQuote(b[lo:end], keyPM10); k >= 0 {
			rest := b[lo+k+len(keyPM10) : end]
			if m := bytes.Index(rest, keyTime); m >= 0 {
				t = tc.micros(rest[m+len(keyTime):])
			}
		}
		fn(id, t, at)
		i = next
	}
}

// nextDeviceData returns the index after the next `"data":{"id":"` in b
// from i on, or -1.
func nextDeviceData(b []byte, i int) int {
	for {
		k := bytes.Index(b[i:], keyID)
		if k < 0 {
			return -1
		}
		k += i
		if k >= len(keyData) && bytes.Equal(b[k-len(keyData):k], keyData) {
			return k + len(keyID)
		}
		i = k + 1
	}
}

// keyAfterQuote returns the index of key in b where a '"' comes before it.
func keyAfterQuote(b, key []byte) int {
	for i := 0; ; {
		k := bytes.Index(b[i:], key)
		if k < 0 {
			return -1
		}
		k += i
		if k > 0 && b[k-1] == '"' {
			return k
		}
		i = k + 1
	}
}

// atBefore reads the "at" time of the item whose "data" key is at b[d]:
// in the server's layout "at" comes right before it (…,"at":"T","data":…),
// else it is searched for back to lo.
func atBefore(tc *timeCache, b []byte, lo, d int) int64 {
	if d-2 > lo && b[d-1] == ',' && b[d-2] == '"' {
		if q := bytes.LastIndexByte(b[lo:d-2], '"'); q >= 0 {
			q += lo
			if q+1 >= len(keyAt) && bytes.Equal(b[q+1-len(keyAt):q+1], keyAt) {
				return tc.micros(b[q+1 : d])
			}
		}
	}
	if k := bytes.LastIndex(b[lo:d], keyAt); k >= 0 {
		return tc.micros(b[lo+k+len(keyAt) : d])
	}
	return 0
}

// timeMicros reads the RFC 3339 time that b starts with (up to its closing
// quote) as µs since the epoch, 0 if there is none.
func timeMicros(b []byte) int64 {
	var c timeCache
	return c.micros(b)
}

// timeCache reads times; it keeps the last date it read, which the times
// of one frame share. The server writes UTC times with a Z, which are read
// here without time.Parse; any other form goes through it.
type timeCache struct {
	date     [10]byte
	midnight int64 // µs; 0: no date kept
}

func (c *timeCache) micros(b []byte) int64 {
	n := bytes.IndexByte(b, '"')
	if n <= 0 {
		return 0
	}
	b = b[:n]
	if len(b) >= 20 && b[len(b)-1] == 'Z' && b[4] == '-' && b[7] == '-' && b[10] == 'T' && b[13] == ':' && b[16] == ':' {
		ok := true
		num := func(p []byte) int {
			v := 0
			for _, ch := range p {
				if ch < '0' || ch > '9' {
					ok = false
				}
				v = v*10 + int(ch-'0')
			}
			return v
		}
		h, mi, sec := num(b[11:13]), num(b[14:16]), num(b[17:19])
		frac := 0
		if len(b) > 20 {
			digits := b[20 : len(b)-1]
			if b[19] != '.' || len(digits) == 0 || len(digits) > 9 {
				ok = false
			} else {
				frac = num(digits)
				for k := len(digits); k < 9; k++ {
					frac *= 10
				}
			}
		}
		if ok && h < 24 && mi < 60 && sec < 60 {
			if c.midnight == 0 || string(b[:10]) != string(c.date[:]) {
				c.midnight = 0
				y, mo, d := num(b[0:4]), num(b[5:7]), num(b[8:10])
				if ok && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 {
					if tm := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC); tm.Day() == d {
						copy(c.date[:], b[:10])
						c.midnight = tm.UnixMicro()
					}
				}
			}
			if c.midnight != 0 {
				return c.midnight + int64((h*60+mi)*60+sec)*1e6 + int64(frac/1000)
			}
		}
	}
	tm, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return 0
	}
	return tm.UnixMicro()
}

// read receives frames until the connection ends, adding to lat the time
// from each reading to its receipt, and splitting it at the event's append
// in the server (inServer: reading to append; toClient: append to receipt).
func (c *wsClient) read(ctx context.Context, lat, inServer, toClient *latencies) {
	var buf bytes.Buffer
	var samples, in, out []time.Duration
	for {
		_, r, err := c.conn.NextReader()
		if err != nil {
			c.err = err
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			c.err = err
			return
		}
		now := time.Now()
		samples, in, out = samples[:0], in[:0], out[:0]
		c.mu.Lock()
		scanDeltas(buf.Bytes(), func(id []byte, t, at int64) {
			last, ok := c.last[string(id)]
			if !ok || t == 0 {
				return
			}
			if t > last {
				c.last[string(id)] = t
			}
			samples = append(samples, now.Sub(time.UnixMicro(t)))
			if at != 0 {
				in = append(in, time.UnixMicro(at).Sub(time.UnixMicro(t)))
				out = append(out, now.Sub(time.UnixMicro(at)))
			}
		})
		c.mu.Unlock()
		lat.add(samples...)
		inServer.add(in...)
		toClient.add(out...)
	}
}

// lostPairs counts (client, device) pairs in a client's viewport whose last
// reading sent has not arrived.
func lostPairs(clients []*wsClient, devs []*device) (lost, pairs int64) {
	last := map[string]int64{}
	for _, d := range devs {
		d.mu.Lock()
		last[d.id] = d.last
		d.mu.Unlock()
	}
	for _, c := range clients {
		c.mu.Lock()
		for id, t := range c.last {
			pairs++
			if want := last[id]; want != 0 && t < want {
				lost++
			}
		}
		c.mu.Unlock()
	}
	return lost, pairs
}

// latencies keeps a reservoir of samples.
type latencies struct {
	mu    sync.Mutex
	count int
	s     []time.Duration
	rnd   *rand.Rand
	// windowed: win samples the latencies since the last window call
	// (winCount of them, maxWindow at most kept, a uniform sample).
	windowed bool
	win      []time.Duration
	winCount int
}

const maxWindow = 1 << 18

func (l *latencies) add(ds ...time.Duration) {
	if len(ds) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rnd == nil {
		l.rnd = rand.New(rand.NewPCG(3, 4))
	}
	const max = 1 << 20
	for _, d := range ds {
		l.count++
		if len(l.s) < max {
			l.s = append(l.s, d)
		} else if j := l.rnd.IntN(l.count); j < max {
			l.s[j] = d
		}
		if !l.windowed {
			continue
		}
		l.winCount++
		if len(l.win) < maxWindow {
			l.win = append(l.win, d)
		} else if j := l.rnd.IntN(l.winCount); j < maxWindow {
			l.win[j] = d
		}
	}
}

// window returns the p50 and p99 of the latencies added since its last
// call, and how many of them it saw.
func (l *latencies) window() (n int, p50, p99 time.Duration) {
	l.mu.Lock()
	w, n := l.win, l.winCount
	l.win, l.winCount = make([]time.Duration, 0, len(w)), 0
	l.mu.Unlock()
	if len(w) == 0 {
		return 0, 0, 0
	}
	slices.Sort(w)
	q := func(p float64) time.Duration { return w[min(len(w)-1, int(p*float64(len(w))))] }
	return n, q(0.50), q(0.99)
}

// logProgress logs, every d until ctx ends, the observations accepted and
// the deltas' latency in that interval.
func logProgress(ctx context.Context, log *slog.Logger, d time.Duration, lat *latencies, accepted *atomic.Int64) {
	t := time.NewTicker(d)
	defer t.Stop()
	start, last := time.Now(), accepted.Load()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		acc := accepted.Load()
		n, p50, p99 := lat.window()
		log.Info("progress", "at", time.Since(start).Round(time.Second), "obs_per_s", float64(acc-last)/d.Seconds(),
			"deltas", n, "p50", p50.Round(100*time.Microsecond), "p99", p99.Round(100*time.Microsecond))
		last = acc
	}
}

func (l *latencies) n() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}

func (l *latencies) quantiles() (p50, p99, mx time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.s) == 0 {
		return 0, 0, 0
	}
	sort.Slice(l.s, func(i, j int) bool { return l.s[i] < l.s[j] })
	q := func(p float64) time.Duration { return l.s[int(math.Min(float64(len(l.s)-1), p*float64(len(l.s))))] }
	return q(0.50), q(0.99), l.s[len(l.s)-1]
}

// rss and hwm read the server's resident and peak resident memory (KiB).
func rss(pid int) int64 { return procStatus(pid, "VmRSS:") }
func hwm(pid int) int64 { return procStatus(pid, "VmHWM:") }

func procStatus(pid int, key string) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, key) {
			f := strings.Fields(line)
			if len(f) >= 2 {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				return v
			}
		}
	}
	return 0
}
