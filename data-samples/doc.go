// Package samples builds sample twins to run citytwin on at once: the
// generated Dezhou district (package dezhou) or a real OpenStreetMap
// extract with generated networks along its streets (SetupOSM), loads them
// through importers.Run (the path users take), registers their devices with
// the twin, and feeds the simulator (package simulate).
//
// # The demo
//
//	citytwin demo                      # the default district (about 20,000 buildings)
//	citytwin demo --scale small        # a few hundred buildings, loads in seconds
//	citytwin demo --seed 7             # another city, the same way every time
//	citytwin demo --osm monaco.osm.pbf # a real extract + networks, poles, devices along its streets
//	citytwin demo --simulate=false     # no telemetry
//
// The demo generates into DATA_DIR/samples/dezhou-SCALE-SEED/ (one NDJSON
// GeoJSON file per layer, devices.ndjson, manifest.json), imports the layers
// when the database holds no feature of source "dezhou-sample" yet (a
// second start reuses them), registers the devices it does not know yet,
// creates an operator key "demo simulator", and runs the simulator in the
// process: over the embedded MQTT broker as the gateway (HTTP ingest when
// the broker is off). It answers lamp commands, so the web app's light
// switch works.
//
// With --osm FILE the extract is imported with source "osm-NAME" (buildings,
// roads, water, landuse, street lamps, parking lots), and the same kinds of
// networks as the district's (water, gas, district heating supply and
// return, drainage flowing by gravity to outfalls, a utility tunnel with
// its cables and sensors), smart poles and devices are generated along its
// streets into DATA_DIR/samples/osm-NAME-twin/ and imported with source
// "osm-NAME-twin" (see SetupOSM).
//
// With --sim-control HOST:PORT the demo's simulator serves its control
// API for faults on demand (see simulate.Control and README.md).
//
// # The network model (what traces read)
//
// Pipes are graph edges; from_node and to_node are node source ids of the
// same source. Graph vertices are nodes of kind junction (street
// intersections, and every 50 m along a water main), source (the
// treatment plant 德州市第三水厂 W-SRC, the gas gate station G-SRC, the heat
// plant H-SRC), tank (the elevated tank W-TANK), hydrant, connection,
// manhole and outfall.
//
// Valves are NOT graph vertices: they follow WNTR's valve layer. A node of
// kind "valve" sits on a pipe (on_pipe = the pipe's source id) a few metres
// from one of its end nodes (near_node); closing it cuts that pipe at that
// end. Every water pipe leaving an intersection has one, next to the
// intersection, so isolation segments are the 200 m of main between two
// intersections (four pipes and three junctions). About 3 % of valves have
// status "broken" and 2 % "inaccessible": they cannot be closed, and an
// isolation has to go on to the next ones. Gas valves sit on the gas mains
// of the arterials the same way.
//
// Buildings are served by pipes of kind "service" (W-S{building id}) from a
// junction of the nearest water main to a node of kind "connection"
// (W-C{building id}) on the building's footprint. At the large scale the
// networks are laid at trunk level (see package dezhou) and the service
// connection is an attribute of the building instead (service_pipe,
// service_diameter_mm). Hydrants hang off the
// middle junction of each street segment by a short pipe of kind "pipe".
//
// Drainage flows by gravity: every pipe has from_invert_m > to_invert_m,
// north-south sewers flow south and east-west ones west, to an outfall on
// the river bank (岔河) below every north-south street.
//
// District heating runs along the arterials as pairs of pipes of kind
// "supply" and "return" (separate junctions HS-J… and HR-J…). The utility
// tunnel (综合管廊, pipes with tunnel = "新湖大街综合管廊") carries the water
// main, both heating pipes, a power and a telecom cable along the middle
// arterial, with water-level, gas and temperature sensors every 200 m.
//
// # Devices
//
// devices.ndjson holds one registration per line, the body of
// POST /api/v1/devices with the feature named by source id:
// {"id","kind","name","lon","lat","interval_s","feature":{"layer","source_id"},"params"}.
// Kinds: lamp (LP-…, one per smart pole), env (EV-…, on poles with an
// environment sensor), weather_station (WS-r-c, a lattice under 5 km apart
// over the municipal area with one deliberate 3x3 hole in the north-east),
// pressure (PR-…, at arterial intersections and every other arterial
// segment), flow (FL-…, plant and tank outlets and some mains), gas_leak
// (GL-…), tunnel_water/tunnel_gas/tunnel_temp (TW-/TG-/TT-…), parking
// (PK-…, one per lot, params.capacity) and energy_meter (EM-…, every
// non-residential building and one per housing estate).
package samples
