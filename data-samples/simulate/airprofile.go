package simulate

import (
	_ "embed"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
)

// The air-quality profile is derived from one month (February 2017) of
// hourly measurements at 12 Beijing stations (UCI Beijing Multi-Site Air
// Quality, CC BY 4.0): for each station and metric, the mean by hour of day
// and each day's departure from the month's mean (a ratio for pollutants,
// an offset for temperature, humidity, wind and pressure). Replaying the
// days in turn reproduces the real episodes (a week of clean north wind,
// then a smog build-up) without shipping the measurements themselves.
// TestAirProfile regenerates it with -update.
//
//go:embed airprofile.json
var airProfileJSON []byte

// AirProfile is the derived profile.
type AirProfile struct {
	Source   string       `json:"source"`
	Days     int          `json:"days"`
	Stations []AirStation `json:"stations"`
}

// AirStation is one station's profile.
type AirStation struct {
	Name string `json:"name"`
	// Hourly is the mean of each metric by hour of day (Beijing time).
	Hourly map[string][]float64 `json:"hourly"`
	// Daily is each day's ratio to (pollutants) or offset from (the rest)
	// the month's mean.
	Daily map[string][]float64 `json:"daily"`
}

// airMetrics maps the profile's metrics to their CSV columns; ratio says
// whether the daily departure is a ratio (else an offset).
var airMetrics = []struct {
	name, column string
	ratio        bool
}{
	{"pm25", "PM2.5", true}, {"pm10", "PM10", true}, {"no2", "NO2", true}, {"o3", "O3", true},
	{"temp_c", "TEMP", false}, {"humidity", "", false}, {"wind_ms", "WSPM", false}, {"pressure_hpa", "PRES", false},
}

// DeriveAirProfile reads the Beijing CSV and derives the profile.
func DeriveAirProfile(r io.Reader) (*AirProfile, error) {
	cr := csv.NewReader(r)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("air profile: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	for _, c := range []string{"day", "hour", "station", "TEMP", "DEWP", "PM2.5", "PM10", "NO2", "O3", "WSPM", "PRES"} {
		if _, ok := col[c]; !ok {
			return nil, fmt.Errorf("air profile: column %q missing", c)
		}
	}
	type acc struct{ sum, n float64 }
	type st struct {
		hourly map[string]*[24]acc
		daily  map[string]*[31]acc
		all    map[string]*acc
	}
	stations := map[string]*st{}
	var order []string
	maxDay := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("air profile: %w", err)
		}
		name := rec[col["station"]]
		s := stations[name]
		if s == nil {
			s = &st{hourly: map[string]*[24]acc{}, daily: map[string]*[31]acc{}, all: map[string]*acc{}}
			for _, m := range airMetrics {
				s.hourly[m.name], s.daily[m.name], s.all[m.name] = &[24]acc{}, &[31]acc{}, &acc{}
			}
			stations[name] = s
			order = append(order, name)
		}
		day, err1 := strconv.Atoi(rec[col["day"]])
		hour, err2 := strconv.Atoi(rec[col["hour"]])
		if err1 != nil || err2 != nil || day < 1 || day > 31 || hour < 0 || hour > 23 {
			continue
		}
		maxDay = max(maxDay, day)
		num := func(c string) (float64, bool) {
			v, err := strconv.ParseFloat(rec[col[c]], 64)
			return v, err == nil && !math.IsNaN(v)
		}
		for _, m := range airMetrics {
			var v float64
			var ok bool
			if m.name == "humidity" {
				t, ok1 := num("TEMP")
				td, ok2 := num("DEWP")
				ok = ok1 && ok2
				v = 100 * math.Exp(17.625*td/(243.04+td)) / math.Exp(17.625*t/(243.04+t))
			} else {
				v, ok = num(m.column)
			}
			if !ok {
				continue
			}
			h, d, a := &s.hourly[m.name][hour], &s.daily[m.name][day-1], s.all[m.name]
			h.sum, h.n = h.sum+v, h.n+1
			d.sum, d.n = d.sum+v, d.n+1
			a.sum, a.n = a.sum+v, a.n+1
		}
	}
	round := func(v float64) float64 { return math.Round(v*100) / 100 }
	p := &AirProfile{Source: "derived from UCI Beijing Multi-Site Air Quality, February 2017, 12 stations (CC BY 4.0)", Days: maxDay}
	for _, name := range order {
		s := stations[name]
		as := AirStation{Name: name, Hourly: map[string][]float64{}, Daily: map[string][]float64{}}
		for _, m := range airMetrics {
			mean := s.all[m.name].sum / math.Max(1, s.all[m.name].n)
			hs := make([]float64, 24)
			for h := range hs {
				a := s.hourly[m.name][h]
				hs[h] = mean
				if a.n > 0 {
					hs[h] = a.sum / a.n
				}
				hs[h] = round(hs[h])
			}
			ds := make([]float64, maxDay)
			for d := range ds {
				a := s.daily[m.name][d]
				v := mean
				if a.n > 0 {
					v = a.sum / a.n
				}
				if m.ratio {
					ds[d] = round(v / math.Max(mean, 1e-9))
				} else {
					ds[d] = round(v - mean)
				}
			}
			as.Hourly[m.name], as.Daily[m.name] = hs, ds
		}
		p.Stations = append(p.Stations, as)
	}
	return p, nil
}

func loadAirProfile() (*AirProfile, error) {
	var p AirProfile
	if err := json.Unmarshal(airProfileJSON, &p); err != nil {
		return nil, fmt.Errorf("air profile: %w", err)
	}
	if len(p.Stations) == 0 || p.Days == 0 {
		return nil, fmt.Errorf("air profile: empty")
	}
	return &p, nil
}

// value returns metric m at station s on day d (cycling through the
// profile's days) and hour h (fractional, Beijing time), interpolating
// between hours.
func (p *AirProfile) value(s int, m string, day int, h float64) float64 {
	st := p.Stations[s%len(p.Stations)]
	hs, ds := st.Hourly[m], st.Daily[m]
	if len(hs) != 24 || len(ds) == 0 {
		return 0
	}
	h0 := int(math.Floor(h)) % 24
	f := h - math.Floor(h)
	v := hs[h0]*(1-f) + hs[(h0+1)%24]*f
	dv := ds[((day%len(ds))+len(ds))%len(ds)]
	for _, am := range airMetrics {
		if am.name == m {
			if am.ratio {
				return v * dv
			}
			return v + dv
		}
	}
	return v
}
