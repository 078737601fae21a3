package simulate

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Device is one simulated device.
type Device struct {
	ID       string
	Kind     string
	Lon, Lat float64
	// Interval is how often it reports (simulated time); 0 means its
	// kind's default.
	Interval time.Duration
	// Params tune its model: capacity (parking), base_mpa (pressure),
	// base_m3h (flow), base_kw and use (energy_meter), watts (lamp).
	Params map[string]any
}

// Fault kinds.
const (
	MainBreak    = "main-break"    // a water main bursts: pressure falls around it, flow rises
	DarkLamp     = "dark-lamp"     // a street light is switched on but draws no current
	SilentDevice = "silent-device" // a device stops reporting
	TunnelFlood  = "tunnel-flood"  // water rises in the utility tunnel
)

// Fault is a fault to inject, Delay after the simulation starts (by
// simulated time).
type Fault struct {
	Kind  string
	Delay time.Duration
	// Target, if set, says where: a simulated device's id (the fault acts
	// there), or a feature's source id (a pipe, a node, a building) whose
	// place the caller resolved into Lon and Lat (see LocateFeature).
	// Without a target a fault acts at the middle of the district.
	Target   string
	Lon, Lat float64
}

// ParseFault reads KIND or KIND@DELAY (e.g. "main-break@2m").
func ParseFault(s string) (Fault, error) {
	kind, delay, hasDelay := strings.Cut(strings.TrimSpace(s), "@")
	f := Fault{Kind: kind}
	switch kind {
	case MainBreak, DarkLamp, SilentDevice, TunnelFlood:
	default:
		return f, fmt.Errorf("unknown fault %q (main-break, dark-lamp, silent-device or tunnel-flood, optionally @DELAY)", kind)
	}
	if hasDelay {
		d, err := time.ParseDuration(delay)
		if err != nil || d < 0 {
			return f, fmt.Errorf("fault %q: bad delay %q (a duration such as 90s or 5m)", s, delay)
		}
		f.Delay = d
	}
	return f, nil
}

// Publisher sends a device's readings and command acks somewhere.
type Publisher interface {
	// Publish sends one batch of readings.
	Publish(ctx context.Context, rs []Reading) error
	Close() error
}

// Reading is what one device reports at one time.
type Reading struct {
	Device string
	Time   time.Time
	Values map[string]float64
}

// Options configure a simulation.
type Options struct {
	// Rate, if > 0, is the total number of device reports per second
	// (real time), spread evenly over the devices, instead of each device
	// reporting at its own interval: the simulator as a load generator.
	Rate float64
	// Duration, if > 0, stops the simulation after that long (real time).
	Duration time.Duration
	// Faults are injected on schedule.
	Faults []Fault
	// Start is the simulated time the run begins at (zero: now). With a
	// Start in the past and Speed > 1 the simulation replays the past
	// faster than real time until it catches up with the clock.
	Start time.Time
	Speed float64
	// Spread is the window over which every device sends its first report
	// (default: 20 s, or its interval if shorter), so a fresh twin fills
	// at once.
	Spread time.Duration
	Logger *slog.Logger
}

// Stats count what a simulation did.
type Stats struct {
	Reports, Values, Errors, Commands atomic.Int64
}

// Simulator runs devices' telemetry models and faults.
type Simulator struct {
	opts    Options
	devices []*dev
	byID    map[string]*dev
	pub     Publisher
	air     *AirProfile
	log     *slog.Logger
	Stats   Stats

	realStart time.Time
	live      bool // simulated time is the clock's

	mu     sync.Mutex // guards faults and overrides
	faults []activeFault
}

type dev struct {
	Device
	idx      int
	station  int
	next     time.Time // next report, simulated time
	interval time.Duration
	// lamp override by command
	override    bool
	ovOn        bool
	ovDim       float64
	ovUntil     time.Time
	kwhBase     float64
	silentSince time.Time
}

type activeFault struct {
	Fault
	info   *FaultInfo
	at     time.Time // simulated time it starts
	until  time.Time // simulated time it was repaired (zero: not yet)
	target *dev
	// devices the fault acts on, with a weight (1 at the centre)
	affected map[*dev]float64
}

var defaultIntervals = map[string]time.Duration{
	"lamp": 300 * time.Second, "env": 300 * time.Second, "weather_station": 300 * time.Second,
	"pressure": 30 * time.Second, "flow": 60 * time.Second, "gas_leak": 60 * time.Second,
	"tunnel_water": 30 * time.Second, "tunnel_gas": 30 * time.Second, "tunnel_temp": 60 * time.Second,
	"parking": 120 * time.Second, "energy_meter": 900 * time.Second,
}

// Kinds are the device kinds the simulator has models for.
func Kinds() []string {
	var ks []string
	for k := range defaultIntervals {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// New returns a simulator of devices publishing through pub. Devices of
// kinds without a model are left out.
func New(devices []Device, pub Publisher, opts Options) (*Simulator, error) {
	air, err := loadAirProfile()
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Speed < 1 {
		opts.Speed = 1
	}
	if opts.Spread <= 0 {
		opts.Spread = 20 * time.Second
	}
	s := &Simulator{opts: opts, pub: pub, air: air, log: opts.Logger, byID: map[string]*dev{}}
	sorted := append([]Device(nil), devices...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	for _, d := range sorted {
		def, ok := defaultIntervals[d.Kind]
		if !ok {
			continue
		}
		if _, dup := s.byID[d.ID]; dup {
			return nil, fmt.Errorf("simulate: device %q twice", d.ID)
		}
		dv := &dev{Device: d, idx: len(s.devices), interval: d.Interval, station: int(hash64(d.ID) % uint64(len(air.Stations)))}
		if dv.interval <= 0 {
			dv.interval = def
		}
		if opts.Rate > 0 {
			dv.interval = 0 // set in Run
		}
		s.devices = append(s.devices, dv)
		s.byID[d.ID] = dv
	}
	if len(s.devices) == 0 {
		return nil, errors.New("simulate: no devices to simulate")
	}
	if s.opts.Start.IsZero() {
		s.opts.Start, s.live = time.Now(), true
	}
	for _, f := range s.opts.Faults {
		if _, err := s.inject(f, s.opts.Start.Add(f.Delay)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Devices is the number of simulated devices.
func (s *Simulator) Devices() int { return len(s.devices) }

// now is the simulated time: it runs Speed times faster than the clock
// from Start until it catches up with the clock, then with it.
func (s *Simulator) now() time.Time {
	real := time.Now()
	if s.live || s.realStart.IsZero() {
		return real
	}
	t := s.opts.Start.Add(time.Duration(float64(real.Sub(s.realStart)) * s.opts.Speed))
	if t.After(real) {
		return real
	}
	return t
}

// Run simulates until ctx ends or Duration passes. It returns nil then;
// publishing errors are logged and counted, not fatal.
func (s *Simulator) Run(ctx context.Context) error {
	if s.opts.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.Duration)
		defer cancel()
	}
	s.realStart = time.Now()
	start := s.opts.Start
	// first reports spread over the start window, in a fixed order
	q := make(devQueue, 0, len(s.devices))
	n := len(s.devices)
	for _, d := range s.devices {
		iv := d.interval
		if s.opts.Rate > 0 {
			iv = time.Duration(float64(n) / s.opts.Rate * float64(time.Second) * s.opts.Speed)
			d.interval = iv
		}
		spread := min(s.opts.Spread, iv)
		if s.opts.Rate > 0 {
			spread = iv
		}
		d.next = start.Add(time.Duration(float64(hash64(d.ID)%10000) / 10000 * float64(spread)))
		d.kwhBase = float64(hash64(d.ID)%50000) + 1000
		q = append(q, d)
	}
	heap.Init(&q)
	tick := 100 * time.Millisecond
	if s.opts.Rate > 2000 {
		tick = 20 * time.Millisecond
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	lastLog := time.Now()
	var lastReports int64
	for {
		select {
		case <-ctx.Done():
			s.log.Info("simulation stopped", "reports", s.Stats.Reports.Load(), "errors", s.Stats.Errors.Load())
			return nil
		case <-t.C:
		}
		now := s.now()
		var batch []Reading
		for len(q) > 0 && !q[0].next.After(now) {
			d := q[0]
			at := d.next
			d.next = d.next.Add(d.interval)
			heap.Fix(&q, 0)
			if r, ok := s.reading(d, at); ok {
				batch = append(batch, r)
			}
			if len(batch) >= 5000 {
				s.publish(ctx, batch)
				batch = nil
			}
		}
		if len(batch) > 0 {
			s.publish(ctx, batch)
		}
		if time.Since(lastLog) >= 30*time.Second {
			r := s.Stats.Reports.Load()
			s.log.Info("simulating", "devices", len(s.devices), "reports", r,
				"per_s", math.Round(float64(r-lastReports)/time.Since(lastLog).Seconds()), "errors", s.Stats.Errors.Load(), "sim_time", now.Format(time.RFC3339))
			lastLog, lastReports = time.Now(), r
		}
	}
}

func (s *Simulator) publish(ctx context.Context, batch []Reading) {
	if err := s.pub.Publish(ctx, batch); err != nil {
		if ctx.Err() != nil {
			return
		}
		s.Stats.Errors.Add(1)
		s.log.Warn("simulate: publish failed", "readings", len(batch), "err", err)
		return
	}
	s.Stats.Reports.Add(int64(len(batch)))
	for _, r := range batch {
		s.Stats.Values.Add(int64(len(r.Values)))
	}
}

// Inject starts a fault now, or f.Delay from now (on demand). It fails
// when f.Target is neither a simulated device nor resolved into Lon and
// Lat.
func (s *Simulator) Inject(f Fault) (*FaultInfo, error) {
	return s.inject(f, s.now().Add(f.Delay))
}

// Repair ends every fault acting now (a repaired main, a relamped light)
// and returns how many it ended. Faults scheduled for later stay.
func (s *Simulator) Repair() int {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for i := range s.faults {
		f := &s.faults[i]
		if !now.Before(f.at) && f.until.IsZero() {
			f.until = now
			f.info.Until = &now
			n++
		}
	}
	return n
}

// FaultInfo says where a fault acts.
type FaultInfo struct {
	Kind     string    `json:"kind"`
	At       time.Time `json:"at"`
	Device   string    `json:"device"`
	Lon      float64   `json:"lon"`
	Lat      float64   `json:"lat"`
	Affected []string  `json:"affected"`
	// Target is the fault's target as asked (empty: the district's
	// middle); Until when it was repaired.
	Target string     `json:"target,omitempty"`
	Until  *time.Time `json:"until,omitempty"`
}

func (s *Simulator) inject(f Fault, at time.Time) (*FaultInfo, error) {
	switch f.Kind {
	case MainBreak, DarkLamp, SilentDevice, TunnelFlood:
	default:
		return nil, fmt.Errorf("simulate: unknown fault %q", f.Kind)
	}
	af := activeFault{Fault: f, at: at, affected: map[*dev]float64{}}
	// the fault's centre: the target, else the device of the right kind
	// nearest the middle of all devices (the busy centre of the
	// district), deterministic
	var lon, lat float64
	var targetDev *dev
	switch {
	case f.Target != "" && s.byID[f.Target] != nil:
		targetDev = s.byID[f.Target]
		lon, lat = targetDev.Lon, targetDev.Lat
	case f.Target != "" && f.Lon == 0 && f.Lat == 0:
		return nil, fmt.Errorf("simulate: fault target %q is not a simulated device, and its place is unknown", f.Target)
	case f.Target != "":
		lon, lat = f.Lon, f.Lat
	default:
		for _, d := range s.devices {
			lon, lat = lon+d.Lon, lat+d.Lat
		}
		lon, lat = lon/float64(len(s.devices)), lat/float64(len(s.devices))
	}
	pick := func(kind string, far bool) *dev {
		if targetDev != nil && targetDev.Kind == kind {
			return targetDev
		}
		var best *dev
		bd := math.Inf(1)
		if far {
			bd = -1
		}
		for _, d := range s.devices {
			if d.Kind != kind {
				continue
			}
			m := metres(lon, lat, d.Lon, d.Lat)
			if (!far && m < bd) || (far && m > bd) {
				best, bd = d, m
			}
		}
		return best
	}
	switch f.Kind {
	case MainBreak:
		af.target = pick("pressure", false)
		if af.target != nil {
			// around the break: the target's place when one was given,
			// else the nearest pressure sensor to the middle
			clon, clat := af.target.Lon, af.target.Lat
			if f.Target != "" {
				clon, clat = lon, lat
			}
			for _, d := range s.devices {
				m := metres(clon, clat, d.Lon, d.Lat)
				switch {
				case d.Kind == "pressure" && m < 1200:
					af.affected[d] = 1 - m/1200
				case d.Kind == "flow" && m < 2000:
					af.affected[d] = 1 - m/2000
				}
			}
		}
	case DarkLamp:
		af.target = pick("lamp", false)
		if af.target != nil {
			af.affected[af.target] = 1
		}
	case SilentDevice:
		af.target = pick("pressure", true)
		if targetDev != nil {
			af.target = targetDev // any device can fall silent
		}
		if af.target == nil {
			af.target = s.devices[len(s.devices)-1]
		}
		af.affected[af.target] = 1
	case TunnelFlood:
		af.target = pick("tunnel_water", false)
		if af.target != nil {
			for _, d := range s.devices {
				if d.Kind == "tunnel_water" {
					af.affected[d] = math.Max(0.3, 1-metres(af.target.Lon, af.target.Lat, d.Lon, d.Lat)/1500)
				}
			}
		}
	}
	info := &FaultInfo{Kind: f.Kind, At: at, Target: f.Target}
	if af.target == nil {
		s.log.Warn("simulate: no device for fault", "fault", f.Kind)
		return info, nil
	}
	info.Device, info.Lon, info.Lat = af.target.ID, af.target.Lon, af.target.Lat
	for d := range af.affected {
		info.Affected = append(info.Affected, d.ID)
	}
	sort.Strings(info.Affected)
	af.info = info
	s.mu.Lock()
	s.faults = append(s.faults, af)
	s.mu.Unlock()
	s.log.Info("simulate: fault scheduled", "fault", f.Kind, "at", at.Format(time.RFC3339), "device", info.Device, "affected", len(info.Affected))
	return info, nil
}

// FaultInfos lists the faults injected so far.
func (s *Simulator) FaultInfos() []*FaultInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*FaultInfo
	for _, f := range s.faults {
		if f.info != nil {
			c := *f.info
			out = append(out, &c)
		}
	}
	return out
}

// faultOn returns the weight of the strongest fault of kind acting on d at
// t and how long it has been acting.
func (s *Simulator) faultOn(d *dev, kind string, t time.Time) (float64, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, since := 0.0, time.Duration(0)
	for _, f := range s.faults {
		if f.Kind != kind || t.Before(f.at) || (!f.until.IsZero() && !t.Before(f.until)) {
			continue
		}
		if v, ok := f.affected[d]; ok && v > w {
			w, since = v, t.Sub(f.at)
		}
	}
	return w, since
}

// reading is device d's report at simulated time t; false when it is
// silent.
func (s *Simulator) reading(d *dev, t time.Time) (Reading, bool) {
	if w, _ := s.faultOn(d, SilentDevice, t); w > 0 {
		return Reading{}, false
	}
	t = t.Truncate(time.Millisecond).UTC()
	h := localHour(t)
	step := t.UnixMilli() / 1000
	nz := func(m string) float64 { return noise(d.ID, m, step) }
	v := map[string]float64{}
	day := int(t.In(cst).Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, cst)).Hours() / 24)
	air := func(m string) float64 { return s.air.value(d.station, m, day, h) }
	switch d.Kind {
	case "lamp":
		on, dim := lampSchedule(t)
		s.mu.Lock()
		if d.override && t.Before(d.ovUntil) {
			on, dim = d.ovOn, d.ovDim
		} else {
			d.override = false
		}
		s.mu.Unlock()
		watts := param(d.Params, "watts", 120)
		v["on"], v["dim"] = 0, 0
		v["current_a"], v["power_w"] = 0.01, 2.2
		if on {
			p := watts * dim / 100 * (1 + 0.02*nz("p"))
			v["on"], v["dim"] = 1, dim
			v["power_w"], v["current_a"] = round(p, 1), round(p/220, 3)
		}
		if w, _ := s.faultOn(d, DarkLamp, t); w > 0 {
			v["on"] = 1
			if v["dim"] == 0 {
				v["dim"] = 100
			}
			v["power_w"], v["current_a"] = 0, 0
		}
	case "env":
		v["pm25"] = round(math.Max(1, air("pm25")*(1+0.08*nz("pm25"))), 1)
		v["pm10"] = round(math.Max(1, air("pm10")*(1+0.08*nz("pm10"))), 1)
		v["no2"] = round(math.Max(1, air("no2")*(1+0.08*nz("no2"))), 1)
		v["o3"] = round(math.Max(1, air("o3")*(1+0.08*nz("o3"))), 1)
		v["temp_c"] = round(air("temp_c")+seasonalTemp(t)+0.3*nz("t"), 1)
		v["humidity"] = round(math.Min(100, math.Max(5, air("humidity")+2*nz("rh"))), 1)
	case "weather_station":
		v["temp_c"] = round(air("temp_c")+seasonalTemp(t)+0.2*nz("t"), 1)
		v["humidity"] = round(math.Min(100, math.Max(5, air("humidity")+1.5*nz("rh"))), 1)
		v["wind_ms"] = round(math.Max(0, air("wind_ms")*(1+0.2*nz("w"))), 1)
		v["wind_dir"] = round(math.Mod(360+200+40*nz("wd")+float64(day*37%360), 360), 0)
		v["pressure_hpa"] = round(air("pressure_hpa")-0.4*seasonalTemp(t)+0.3*nz("p"), 1)
		v["rain_mm"] = 0
	case "pressure":
		base := param(d.Params, "base_mpa", 0.32)
		p := base - 0.06*(waterDemand(h)-1) + 0.003*nz("p")
		if w, since := s.faultOn(d, MainBreak, t); w > 0 {
			// the drop builds over half a minute
			ramp := math.Min(1, since.Seconds()/30+0.5)
			p *= 1 - ramp*(0.45+0.5*w)
		}
		v["pressure_mpa"] = round(math.Max(0, p), 3)
	case "flow":
		base := param(d.Params, "base_m3h", 200)
		f := base * waterDemand(h) * (1 + 0.03*nz("f"))
		if w, _ := s.faultOn(d, MainBreak, t); w > 0 {
			f *= 1 + 0.8*w
		}
		v["flow_m3h"] = round(f, 1)
	case "gas_leak":
		v["ch4_ppm"] = round(2.1+0.4*math.Abs(nz("c")), 2)
		v["lel_pct"] = 0
	case "tunnel_water":
		l := 0.02 + 0.005*math.Abs(nz("l"))
		if w, since := s.faultOn(d, TunnelFlood, t); w > 0 {
			// 10 cm a minute at the inflow, less farther along
			l += w * 0.1 * since.Minutes()
		}
		v["level_m"] = round(math.Min(l, 3), 3)
	case "tunnel_gas":
		v["ch4_ppm"] = round(3+math.Abs(nz("c")), 2)
		v["o2_pct"] = round(20.9+0.05*nz("o"), 2)
		v["h2s_ppm"] = 0
	case "tunnel_temp":
		v["temp_c"] = round(16+0.3*seasonalTemp(t)+0.3*nz("t"), 1)
		v["humidity"] = round(62+3*nz("h"), 1)
	case "parking":
		c := param(d.Params, "capacity", 100)
		res := hash64(d.ID)%3 == 0
		occ := parkingOccupancy(h, res) + 0.04*nz("o")
		v["capacity"] = c
		v["occupied"] = math.Max(0, math.Min(c, math.Round(c*occ)))
	case "energy_meter":
		base := param(d.Params, "base_kw", 40)
		use := paramString(d.Params, "use", "office")
		p := base * energyLoad(h, use) * (1 + 0.05*nz("p"))
		v["power_kw"] = round(p, 2)
		// energy since the start of the year at the mean load: rises
		// steadily and never goes back
		v["kwh"] = round(d.kwhBase+base*0.6*t.Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).Hours(), 1)
	}
	return Reading{Device: d.ID, Time: t, Values: v}, true
}

// Command is a command sent to a device (MQTT citytwin/devices/{id}/commands).
type Command struct {
	ID      int64           `json:"id"`
	Command string          `json:"command"`
	Args    json.RawMessage `json:"args"`
}

// Ack is a device's answer (citytwin/devices/{id}/commands/ack).
type Ack struct {
	ID    int64              `json:"id"`
	OK    bool               `json:"ok"`
	State map[string]float64 `json:"state,omitempty"`
	Error string             `json:"error,omitempty"`
}

// HandleCommand carries out a command for a device and returns its ack and
// the reading that follows (street lights switch and dim; the override
// lasts two hours, then the schedule takes over again).
func (s *Simulator) HandleCommand(deviceID string, c Command) (Ack, *Reading) {
	s.Stats.Commands.Add(1)
	d := s.byID[deviceID]
	if d == nil {
		return Ack{ID: c.ID, OK: false, Error: "unknown device " + deviceID}, nil
	}
	if d.Kind != "lamp" {
		return Ack{ID: c.ID, OK: false, Error: fmt.Sprintf("a %s takes no commands", d.Kind)}, nil
	}
	var args struct {
		On    *bool    `json:"on"`
		Level *float64 `json:"level"`
	}
	if len(c.Args) > 0 {
		if err := json.Unmarshal(c.Args, &args); err != nil {
			return Ack{ID: c.ID, OK: false, Error: "bad args: " + err.Error()}, nil
		}
	}
	now := s.now()
	s.mu.Lock()
	on, dim := lampSchedule(now)
	if d.override && now.Before(d.ovUntil) {
		on, dim = d.ovOn, d.ovDim
	}
	switch c.Command {
	case "switch":
		if args.On == nil {
			s.mu.Unlock()
			return Ack{ID: c.ID, OK: false, Error: `switch needs {"on": true|false}`}, nil
		}
		on = *args.On
		if on && dim == 0 {
			dim = 100
		}
	case "dim":
		if args.Level == nil || *args.Level < 0 || *args.Level > 100 {
			s.mu.Unlock()
			return Ack{ID: c.ID, OK: false, Error: `dim needs {"level": 0..100}`}, nil
		}
		dim = *args.Level
		on = dim > 0
	default:
		s.mu.Unlock()
		return Ack{ID: c.ID, OK: false, Error: fmt.Sprintf("unknown command %q", c.Command)}, nil
	}
	d.override, d.ovOn, d.ovDim, d.ovUntil = true, on, dim, now.Add(2*time.Hour)
	s.mu.Unlock()
	r, _ := s.reading(d, now)
	st := map[string]float64{"on": 0, "dim": 0}
	if on {
		st["on"], st["dim"] = 1, dim
	}
	return Ack{ID: c.ID, OK: true, State: st}, &r
}

// devQueue orders devices by their next report.
type devQueue []*dev

func (q devQueue) Len() int { return len(q) }
func (q devQueue) Less(i, j int) bool {
	if q[i].next.Equal(q[j].next) {
		return q[i].idx < q[j].idx
	}
	return q[i].next.Before(q[j].next)
}
func (q devQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *devQueue) Push(x any)   { *q = append(*q, x.(*dev)) }
func (q *devQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
