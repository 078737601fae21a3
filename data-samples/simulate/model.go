package simulate

import (
	"hash/fnv"
	"math"
	"time"
)

// Dezhou's place and clock (China Standard Time, UTC+8).
const (
	siteLat = 37.45
	siteLon = 116.30
)

var cst = time.FixedZone("CST", 8*3600)

// localHour is the fractional hour of day in Dezhou.
func localHour(t time.Time) float64 {
	l := t.In(cst)
	return float64(l.Hour()) + float64(l.Minute())/60 + float64(l.Second())/3600
}

// sunTimes returns sunrise and sunset as local hours for t's date, from
// the solar declination (good to a few minutes, enough for street lights).
func sunTimes(t time.Time) (rise, set float64) {
	n := float64(t.In(cst).YearDay())
	decl := -23.44 * math.Cos(2*math.Pi*(n+10)/365) * math.Pi / 180
	phi := siteLat * math.Pi / 180
	w0 := math.Acos(-math.Tan(phi)*math.Tan(decl)) * 180 / math.Pi
	noon := 12 + (120-siteLon)/15
	return noon - w0/15, noon + w0/15
}

// lampSchedule is what a street light does at t by itself: on from a
// quarter hour after sunset until a quarter hour before sunrise, dimmed to
// half from 23:00 to 05:00.
func lampSchedule(t time.Time) (on bool, dim float64) {
	h := localHour(t)
	rise, set := sunTimes(t)
	if h > rise-0.25 && h < set+0.25 {
		return false, 0
	}
	if h >= 23 || h < 5 {
		return true, 50
	}
	return true, 100
}

// gauss is a bump of width w (hours) centred on c, over the 24-hour circle.
func gauss(h, c, w float64) float64 {
	d := math.Abs(h - c)
	d = math.Min(d, 24-d)
	return math.Exp(-d * d / (2 * w * w))
}

// waterDemand is the city's water demand relative to the daily mean: low at
// night, a morning peak at 7:30 and an evening peak at 19:30.
func waterDemand(h float64) float64 {
	return 0.55 + 0.75*gauss(h, 7.5, 1.3) + 0.35*gauss(h, 12, 1.5) + 0.6*gauss(h, 19.5, 1.8)
}

// parkingOccupancy is the occupied share of a lot: residential lots fill at
// night, the others by day.
func parkingOccupancy(h float64, residential bool) float64 {
	if residential {
		return 0.35 + 0.55*(1-gauss(h, 13, 3.5))
	}
	return 0.08 + 0.8*gauss(h, 14, 3.5) + 0.1*gauss(h, 19.5, 1.5)
}

// energyLoad is a building's power relative to its base, by use.
func energyLoad(h float64, use string) float64 {
	switch use {
	case "residential", "retail":
		return 0.35 + 0.4*gauss(h, 8, 1.2) + 0.9*gauss(h, 20, 2.2)
	case "industrial":
		return 0.3 + 0.7*gauss(h, 13, 5)
	case "hospital":
		return 0.7 + 0.4*gauss(h, 11, 4)
	default:
		return 0.2 + 0.9*gauss(h, 13, 3.5)
	}
}

// seasonalTemp is the offset of the temperature from February's, by day of
// year (Dezhou: about -2 °C in February, 27 °C in July).
func seasonalTemp(t time.Time) float64 {
	n := float64(t.In(cst).YearDay())
	return 14.5 * (1 - math.Cos(2*math.Pi*(n-40)/365))
}

func hash64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// noise is a deterministic value in [-1, 1] for a device, metric and time
// step: the same simulated moment gives the same reading.
func noise(id, metric string, step int64) float64 {
	h := hash64(id) ^ hash64(metric)*0x9e3779b97f4a7c15 ^ uint64(step)*0xbf58476d1ce4e5b9
	h ^= h >> 31
	h *= 0x94d049bb133111eb
	h ^= h >> 29
	return float64(h%20001)/10000 - 1
}

func param(p map[string]any, k string, def float64) float64 {
	if v, ok := p[k].(float64); ok {
		return v
	}
	if v, ok := p[k].(int); ok {
		return float64(v)
	}
	return def
}

func paramString(p map[string]any, k, def string) string {
	if v, ok := p[k].(string); ok {
		return v
	}
	return def
}

func round(v float64, digits int) float64 {
	f := math.Pow(10, float64(digits))
	return math.Round(v*f) / f
}

// metres between two points (equirectangular).
func metres(lon1, lat1, lon2, lat2 float64) float64 {
	x := (lon2 - lon1) * 111320 * math.Cos((lat1+lat2)/2*math.Pi/180)
	y := (lat2 - lat1) * 110574
	return math.Hypot(x, y)
}
