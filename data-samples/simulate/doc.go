// Package simulate reports telemetry for a city's devices with believable
// daily patterns, and injects faults. It is what `citytwin demo` runs in
// the process and what `citytwin simulate` runs against any citytwin:
//
//	citytwin simulate --url http://127.0.0.1:8080 --key KEY [--mqtt tcp://127.0.0.1:1883]
//	    [--rate 5000/s] [--duration 10m] [--fault main-break@2m]... [--kinds lamp,pressure]
//	    [--since 10m --speed 20]
//
// The devices are listed from GET /api/v1/devices. Over MQTT it connects as
// the user "gateway" with the key as password and publishes QoS 1
// {"time": RFC 3339, "values": {...}} on citytwin/devices/{id}/telemetry;
// over HTTP it posts [{"device","time","metric","value"}] to
// /api/v1/observations. Street lights answer {"id","command":"switch"|"dim",
// "args":{"on":bool}|{"level":0-100}} on citytwin/devices/{id}/commands with
// {"id","ok":true,"state":{"on","dim"}} on .../commands/ack (the override
// lasts two hours of simulated time, then the schedule takes over).
//
// Models (Dezhou time, UTC+8):
//   - lamp: on from a quarter hour after sunset to a quarter hour before
//     sunrise (from the solar declination at 37.45 N), dimmed to 50 % from
//     23:00 to 05:00; power_w and current_a follow.
//   - env, weather_station: air quality, temperature, humidity, wind and
//     pressure replayed from a profile derived from a month of real hourly
//     measurements at 12 Beijing stations (airprofile.json: hour-of-day means
//     and each day's departure; regenerate with go test -run TestAirProfile
//     -update), each device on one station, temperature shifted by season.
//   - pressure, flow: the city's water demand (night low, peaks at 07:30 and
//     19:30): pressure falls a little as demand rises, flow follows it.
//   - parking: residential lots fill at night, others by day; energy_meter:
//     load by use and hour, kWh rising steadily.
//   - gas_leak, tunnel_*: quiet background levels.
//
// Faults (--fault KIND[@DELAY], --faults DELAY:KIND[:TARGET],..., on demand
// through the control API (Control, --control ADDR) or Simulator.Inject;
// Simulator.Repair ends them): main-break (every pressure sensor within
// 1.2 km of the break drops, more the closer it is, below the 0.15 MPa
// alarm mark near the break; flow meters within 2 km rise), dark-lamp (a
// street light reports on with no current: the lamp-fault rule),
// silent-device (a device stops reporting: it goes offline), tunnel-flood
// (water rises in the utility tunnel, 10 cm a minute at the inflow). A
// fault acts at its target: a device id, or a pipe, network node or
// building source id located through the citytwin's OGC API
// (LocateFeature); without one, at the pressure sensor nearest the middle
// of the district (main-break), the central street light (dark-lamp), the
// pressure sensor farthest out (silent-device). The faults and the devices
// they affect are printed.
//
// Every reading is a pure function of the device, the metric and the
// simulated time, so a replay (--since with --speed) gives the same values.
package simulate
