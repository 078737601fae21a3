// Package load is the bulk loader behind citytwin import and the import
// jobs API: it takes the records a reader yields, checks and repairs their
// geometry (spatial.GeomChecker), computes their H3 cells and writes them in
// one transaction, then tells the store (and so the tile caches) what
// changed.
//
// # Pipeline
//
// One goroutine reads records (next is only ever called from it) into
// batches of 256; Options.Workers goroutines (GOMAXPROCS by default) decode
// them (Record.Decode: parsing runs in parallel), reproject, check, compute
// the h3 column and the cover cells, and encode the rows; the calling
// goroutine takes the batches in reading order and streams them to
// PostgreSQL with COPY on the transaction's connection.
//
// # Two ways into a table
//
// A first load, the common bulk case, is one whose first record's source has
// no feature in its layer yet (checked under a transaction-scoped advisory
// lock on the layer and source). Its records are copied straight into the
// layer's table: the workers encode each row in PostgreSQL's binary COPY
// format (geometry as EWKB, which PostGIS's binary input reads as is), the
// ids come from the table's sequence, reserved a block at a time, and the
// cover cells go into feature_cells with a second COPY after each chunk. No
// staging table, no INSERT ... SELECT, no ON CONFLICT. When the table is
// empty, its plain (non-unique) indexes are dropped and built again after
// the COPY, in the same transaction: a GiST index built over all rows costs
// a third of inserting them one by one. Readers of that table then wait for
// the load to commit.
//
// The direct path also writes each row's OGC item text (column ogc_json):
// the workers render it in Go exactly as the table's trigger function would
// (ogcjson.go), and the transaction sets citytwin.loader_json so that the
// trigger keeps it instead of computing it again in the single database
// backend. A value the renderer is not sure of gets NULL, which the trigger
// computes; a plan whose sample rendering differs from the function's (a
// later migration changed it) leaves every row to the trigger.
//
// Everything else is staged: records of other layers or sources, and every
// record of a load whose source already has features. They are copied into
// a temporary table and upserted on (source, source_id) per layer; their
// cells replace the old ones. Both ways give the same rows, cells and
// report (TestDirectMatchesStaging).
//
// Within one load a (layer, source, source id) names one feature: a record
// that repeats an earlier one's is rejected (so a non-unique --id-field, or
// two files of one source whose ids overlap, cannot silently replace
// features). Ids are remembered as 64-bit hashes, up to 2 million staged
// and 8 million direct ones; past that, repeats can no longer be told and
// the staging table is deduplicated instead, the last record winning.
//
// # Guarantees
//
// The whole load commits or nothing does: a rejected record fails it
// (EINVALID naming file and record) unless Options.SkipInvalid, and a value
// the table refuses (a CHECK constraint) fails it as EINVALID too. Result
// counts read, inserted, updated, repaired and rejected records, with the
// first rejections and their reasons; Result.Direct says how many features
// took the direct way. Memory stays bounded: batches in flight, one chunk's
// cover cells and staged rows, and 8 bytes or so per source id of a direct
// load to catch repeats (past 8 million ids the rest is staged).
package load
