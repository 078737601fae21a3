package simulate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/geojson"
)

// ParseSchedule reads a fault schedule: comma-separated DELAY:KIND[:TARGET]
// items, e.g. "10m:main-break:W-PE4-8-1,30m:dark-lamp,45m:silent-device:PR-J4-4".
// DELAY is a duration of simulated time after the start; TARGET a device
// id or a feature's source id (see Fault.Target).
func ParseSchedule(s string) ([]Fault, error) {
	var out []Fault
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		parts := strings.SplitN(item, ":", 3)
		if len(parts) < 2 {
			return nil, fmt.Errorf("fault %q: want DELAY:KIND[:TARGET] (e.g. 10m:main-break:W-PE4-8-1)", item)
		}
		d, err := time.ParseDuration(parts[0])
		if err != nil || d < 0 {
			return nil, fmt.Errorf("fault %q: bad delay %q (a duration such as 90s or 5m)", item, parts[0])
		}
		f, err := ParseFault(parts[1])
		if err != nil {
			return nil, err
		}
		if strings.Contains(parts[1], "@") {
			return nil, fmt.Errorf("fault %q: give the delay before the kind, not with @", item)
		}
		f.Delay = d
		if len(parts) == 3 {
			if f.Target = strings.TrimSpace(parts[2]); f.Target == "" {
				return nil, fmt.Errorf("fault %q: empty target", item)
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// Locator finds the place (lon, lat) of a fault target that is not a
// simulated device.
type Locator func(ctx context.Context, target string) (lon, lat float64, err error)

// ErrNoFeature is returned by LocateFeature when no feature has the id.
var ErrNoFeature = errors.New("simulate: no pipe, network node or building has this source id")

// LocateFeature returns a Locator that asks the citytwin at base for the
// pipe, network node or building whose source id is the target (OGC API
// property filter), and takes the middle of a pipe, the point of a node
// and the centre of a building.
func LocateFeature(base, key string) Locator {
	h := NewHTTP(base, key, nil)
	return func(ctx context.Context, target string) (float64, float64, error) {
		for _, layer := range []string{"pipes", "network_nodes", "buildings"} {
			var fc geojson.FeatureCollection
			path := "/ogc/collections/" + layer + "/items?limit=1&f=json&source_id=" + url.QueryEscape(target)
			if err := h.do(ctx, http.MethodGet, path, nil, &fc); err != nil {
				return 0, 0, fmt.Errorf("simulate: locating %s: %w", target, err)
			}
			if len(fc.Features) == 0 || fc.Features[0].Geometry == nil {
				continue
			}
			p := middle(fc.Features[0].Geometry)
			return p[0], p[1], nil
		}
		return 0, 0, fmt.Errorf("%w: %q", ErrNoFeature, target)
	}
}

// middle is the point half-way along a line, else the centre of g's bound.
func middle(g orb.Geometry) orb.Point {
	if ml, ok := g.(orb.MultiLineString); ok && len(ml) == 1 {
		g = ml[0]
	}
	if ls, ok := g.(orb.LineString); ok && len(ls) > 1 {
		half := geo.Length(ls) / 2
		for i := 1; i < len(ls); i++ {
			d := geo.Distance(ls[i-1], ls[i])
			if half <= d && d > 0 {
				f := half / d
				return orb.Point{ls[i-1][0] + f*(ls[i][0]-ls[i-1][0]), ls[i-1][1] + f*(ls[i][1]-ls[i-1][1])}
			}
			half -= d
		}
		return ls[len(ls)-1]
	}
	return g.Bound().Center()
}

// Resolve fills in Lon and Lat of the faults whose target is not one of
// devs, with locate.
func Resolve(ctx context.Context, faults []Fault, devs []Device, locate Locator) error {
	ids := make(map[string]bool, len(devs))
	for _, d := range devs {
		ids[d.ID] = true
	}
	for i := range faults {
		f := &faults[i]
		if f.Target == "" || ids[f.Target] || (f.Lon != 0 || f.Lat != 0) {
			continue
		}
		if locate == nil {
			return fmt.Errorf("simulate: fault target %q is not a simulated device", f.Target)
		}
		lon, lat, err := locate(ctx, f.Target)
		if err != nil {
			return err
		}
		f.Lon, f.Lat = lon, lat
	}
	return nil
}

// Control is the simulator's control API, for faults on demand:
//
//	GET    /faults  the faults injected so far (FaultInfo, with until once repaired)
//	POST   /faults  {"kind":"main-break","target":"W-PE4-8-1","delay":"0s"} -> 201 FaultInfo
//	                (target, lon/lat and delay are optional)
//	DELETE /faults  repairs every fault acting now -> {"repaired": n}
type Control struct {
	Sim *Simulator
	// Locate resolves targets that are not simulated devices (nil: only
	// device ids and lon/lat are accepted).
	Locate Locator
}

var _ http.Handler = (*Control)(nil)

// faultRequest is the body of POST /faults.
type faultRequest struct {
	Kind   string   `json:"kind"`
	Target string   `json:"target"`
	Lon    *float64 `json:"lon"`
	Lat    *float64 `json:"lat"`
	Delay  string   `json:"delay"`
}

func (c *Control) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/faults" {
		controlError(w, http.StatusNotFound, "not found: the control API is GET, POST and DELETE /faults")
		return
	}
	switch r.Method {
	case http.MethodGet:
		c.handleFaultList(w, r)
	case http.MethodPost:
		c.handleFaultCreate(w, r)
	case http.MethodDelete:
		writeJSON(w, http.StatusOK, map[string]int{"repaired": c.Sim.Repair()})
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		controlError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

// handleFaultList handles the "GET /faults" route.
func (c *Control) handleFaultList(w http.ResponseWriter, r *http.Request) {
	list := c.Sim.FaultInfos()
	if list == nil {
		list = []*FaultInfo{}
	}
	writeJSON(w, http.StatusOK, list)
}

// handleFaultCreate handles the "POST /faults" route.
func (c *Control) handleFaultCreate(w http.ResponseWriter, r *http.Request) {
	var req faultRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil {
		controlError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	f, err := ParseFault(req.Kind)
	if err != nil || strings.Contains(req.Kind, "@") {
		controlError(w, http.StatusBadRequest, fmt.Sprintf("kind %q: want main-break, dark-lamp, silent-device or tunnel-flood", req.Kind))
		return
	}
	if req.Delay != "" {
		if f.Delay, err = time.ParseDuration(req.Delay); err != nil || f.Delay < 0 {
			controlError(w, http.StatusBadRequest, fmt.Sprintf("delay %q: want a duration such as 90s", req.Delay))
			return
		}
	}
	f.Target = req.Target
	if req.Lon != nil && req.Lat != nil {
		if math.Abs(*req.Lon) > 180 || math.Abs(*req.Lat) > 90 {
			controlError(w, http.StatusBadRequest, "lon/lat out of range")
			return
		}
		f.Lon, f.Lat = *req.Lon, *req.Lat
		if f.Target == "" {
			f.Target = fmt.Sprintf("%.6f,%.6f", f.Lon, f.Lat)
		}
	}
	fs := []Fault{f}
	if err := Resolve(r.Context(), fs, c.Sim.deviceList(), c.Locate); err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, ErrNoFeature) || c.Locate == nil {
			status = http.StatusNotFound
		}
		controlError(w, status, err.Error())
		return
	}
	info, err := c.Sim.Inject(fs[0])
	if err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, info)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func controlError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"message": msg}})
}

// deviceList is the simulated devices (ids and places).
func (s *Simulator) deviceList() []Device {
	out := make([]Device, len(s.devices))
	for i, d := range s.devices {
		out[i] = d.Device
	}
	return out
}

// ServeControl serves c on addr (HOST:PORT; port 0 takes a free one) until
// ctx ends, and returns the address it listens on.
func ServeControl(ctx context.Context, addr string, c *Control, logger *slog.Logger) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("simulate: control listener: %w", err)
	}
	srv := &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && logger != nil {
			logger.Warn("simulate: control listener stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
	}()
	return ln.Addr(), nil
}
