package twin

import (
	"sort"
	"time"
)

// Metric describes one quantity a device reports: its unit and the range of
// values accepted at ingest (a value outside it is rejected, not stored).
type Metric struct {
	Unit string  `json:"unit"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

// Valid reports whether v lies in the metric's range.
func (m Metric) Valid(v float64) bool { return v >= m.Min && v <= m.Max }

// Kind is a type of device: its default metrics, expected reporting interval
// and the commands it accepts.
type Kind struct {
	Name     string
	Title    string
	Metrics  map[string]Metric
	Interval time.Duration
	Commands []string
}

// kinds is the table of device kinds. Ranges are the physically plausible
// ones: a reading outside them is a broken sensor or a bad payload.
var kinds = map[string]Kind{
	"lamp": {Title: "street light controller", Interval: 60 * time.Second, Commands: []string{"switch", "dim"}, Metrics: map[string]Metric{
		"on":        {"", 0, 1},
		"dim":       {"%", 0, 100},
		"current_a": {"A", 0, 50},
		"power_w":   {"W", 0, 5000},
	}},
	"env": {Title: "environment sensor", Interval: 60 * time.Second, Metrics: map[string]Metric{
		"pm25":     {"µg/m³", 0, 2000},
		"pm10":     {"µg/m³", 0, 3000},
		"no2":      {"µg/m³", 0, 2000},
		"o3":       {"µg/m³", 0, 2000},
		"temp_c":   {"°C", -60, 70},
		"humidity": {"%", 0, 100},
	}},
	"weather_station": {Title: "weather station", Interval: 60 * time.Second, Metrics: map[string]Metric{
		"temp_c":       {"°C", -60, 70},
		"humidity":     {"%", 0, 100},
		"wind_ms":      {"m/s", 0, 120},
		"wind_dir":     {"°", 0, 360},
		"rain_mm":      {"mm", 0, 500},
		"pressure_hpa": {"hPa", 800, 1100},
	}},
	"pressure": {Title: "pipe pressure sensor", Interval: 30 * time.Second, Metrics: map[string]Metric{
		"pressure_mpa": {"MPa", 0, 5},
	}},
	"flow": {Title: "pipe flow meter", Interval: 30 * time.Second, Metrics: map[string]Metric{
		"flow_m3h": {"m³/h", -100000, 100000},
	}},
	"gas_leak": {Title: "gas leak detector", Interval: 30 * time.Second, Metrics: map[string]Metric{
		"ch4_ppm": {"ppm", 0, 1000000},
		"lel_pct": {"%LEL", 0, 100},
	}},
	"tunnel_water": {Title: "utility tunnel water level", Interval: 30 * time.Second, Metrics: map[string]Metric{
		"level_m": {"m", 0, 20},
	}},
	"tunnel_gas": {Title: "utility tunnel gas detector", Interval: 30 * time.Second, Metrics: map[string]Metric{
		"ch4_ppm": {"ppm", 0, 1000000},
		"o2_pct":  {"%", 0, 100},
		"h2s_ppm": {"ppm", 0, 1000},
	}},
	"tunnel_temp": {Title: "utility tunnel temperature", Interval: 60 * time.Second, Metrics: map[string]Metric{
		"temp_c":   {"°C", -40, 120},
		"humidity": {"%", 0, 100},
	}},
	"parking": {Title: "parking counter", Interval: 60 * time.Second, Metrics: map[string]Metric{
		"occupied": {"", 0, 100000},
		"capacity": {"", 0, 100000},
	}},
	"energy_meter": {Title: "building energy meter", Interval: 300 * time.Second, Metrics: map[string]Metric{
		"kwh":      {"kWh", 0, 1e12},
		"power_kw": {"kW", -1e6, 1e6},
	}},
}

func init() {
	for name, k := range kinds {
		k.Name = name
		kinds[name] = k
	}
}

// Kinds returns the device kinds sorted by name.
func Kinds() []Kind {
	out := make([]Kind, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupKind returns the named kind.
func LookupKind(name string) (Kind, bool) {
	k, ok := kinds[name]
	return k, ok
}
