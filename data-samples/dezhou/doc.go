// Package dezhou generates the Dezhou sample district: the old city and the
// new districts along the Grand Canal (南运河) around 116.30 E, 37.45 N,
// WGS84. Same seed, same city: every part of the city draws from its own
// random stream (math/rand/v2 PCG seeded by the seed and the part), files
// are written in a fixed order and never by ranging over a map, so the
// same Options give byte-identical files.
//
// The city is a street grid (a block every 200 m, an arterial every fourth
// street) named with real Dezhou arterial names (东风大街 Dongfeng Dajie,
// 新湖大街 Xinhu Dajie, 湖滨大道 Hubin Dadao, ...) and common street-name
// stems, in Chinese and pinyin. West of it runs the canal, south of it the
// river 岔河; 新湖 lies in the old town. Blocks are zoned: the low-rise old
// town (courtyard houses of 1-2 floors) in the north-west, residential
// towers (18-33 floors) and 1990s mid-rise estates with street-front shops,
// commercial blocks at arterial crossings, industrial sheds in the south-
// east, schools, hospitals, parks and about 40 major project sites of
// varied type, stage, investment, progress and dates. Every building has a
// name or estate name, an address (山东省德州市…路N号), use, floors, height and
// year built. The networks, poles and devices are described in the parent
// package samples.
//
// Scales: "small" (6x5 blocks, about 500 buildings, for tests), "default"
// (40x30 blocks, about 20,000 buildings, the demo) and "large" (280x220
// blocks, about a million buildings and 105,000 pipes, for benchmarks;
// streamed to disk). Large lays its networks at trunk level (Scale.Trunk),
// as a utility models a whole city: a pipe per arterial segment and per
// local street between two arterials, gas and heating along the
// arterials, trunk sewers under the north-south streets, and each
// building's service connection as attributes (service_pipe, the water
// pipe it taps; service_diameter_mm) instead of a service pipe and a
// connection node per building (which alone would be a million pipes).
// Network isolation then finds a building by its nearest main (see
// spatial/network). With Options.Dir "" Generate writes nothing and only
// counts: TestLargeCounts checks the large scale's counts that way in a
// few seconds.
//
//	m, err := dezhou.Generate(ctx, dezhou.Options{Scale: s, Seed: 1, Dir: dir})
//
// writes dir/{layer}.ndjson for each of LayerOrder (GeoJSON features, one
// per line, the source id as the feature id and properties named like the
// layer's attributes), dir/devices.ndjson and dir/manifest.json.
package dezhou
