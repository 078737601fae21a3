// Package hub is the websocket hub of the live twin at GET /ws: it keeps the
// latest state of every live entity in memory, routes each committed event of
// the feed (package feed) to the clients whose subscriptions cover it, by H3
// cell, layer and entity id, and writes to each client in batches from one
// writer goroutine per connection.
//
// # Connecting
//
//	ws://HOST/ws?access_token=KEY     (or the header Authorization: Bearer KEY)
//
// The key is an API key of the viewer role or above (the API's read check);
// without one the connection is refused with HTTP 401 unless the server runs
// with --public-reads. A bad key is refused with 401 before the upgrade; a
// device key (which may only report for its device) with 403, as on the
// read routes of the API, unless reads are public. All
// messages are JSON text frames. Client messages larger than 64 KiB close the
// connection (1009). The server pings every 25 s; a client that answers
// nothing for 60 s is closed.
//
// # Client → server
//
// Every client message has a "type" and may carry an "id" (string or number)
// that the server echoes in its answer.
//
//	{"type":"subscribe","id":1,
//	 "layers":["devices","alarms"],            // optional; empty or absent = every layer
//	 "bbox":[w,s,e,n],                         // exactly one of bbox, cells, entities
//	 "cells":["8a4b...","894b..."],            // H3 cells (hex), resolution 0..10
//	 "entities":["device:lamp-1","alarm:17"],  // entity ids
//	 "since":{"epoch":"…","seq":1234}}         // optional: resume after a reconnect
//	{"type":"unsubscribe","id":2}
//	{"type":"ping","id":3}
//
// A subscribe replaces the connection's previous subscription (send one each
// time the viewport moves; no reconnect needed). A bbox becomes the set of H3
// cells covering it at resolution 10, or at a coarser resolution for big
// viewports (so that at most MaxCells cells are used); an event is routed by
// the parent of its cell at that resolution, i.e. a map look-up. bbox must
// have w<e, s<n, within ±180/±90. layers filters every kind of subscription.
//
// # Server → client
//
// Every server message carries "type", the stream "epoch" (a string naming
// the event log) and "seq" (a position in that log: the last event reflected
// by the message). Entities carry a "version" that grows with every change of
// that entity, so a duplicate or an older version can be ignored.
//
// snapshot: the answer to a subscribe without "since" (or after a reset): the
// current state of everything in the subscription, as of seq. Every delta or
// event that follows has a greater seq.
//
//	{"type":"snapshot","id":1,"epoch":"…","seq":1234,
//	 "entities":[{"entity":"device:lamp-1","kind":"device","layer":"devices",
//	              "cell":"8a4b…","version":7,"data":{…}}, …],
//	 "events":[{"entity":"alarm:17","kind":"alarm","layer":"alarms",
//	            "cell":"8a4b…","version":2,"data":{…}}, …]}
//
// entities are the state stream (kinds "device", "feature_status"); events
// are the open alarms (active, or cleared but not yet acknowledged).
//
// delta: a change of an entity of the state stream. A slow client gets only
// the latest delta per entity (state coalesces).
//
//	{"type":"delta","epoch":"…","seq":1240,"entity":"device:lamp-1","kind":"device",
//	 "layer":"devices","cell":"8a4b…","version":8,"at":"2026-…Z","data":{…}}
//
// A delta whose data is null means the entity is gone (deleted).
//
// event: something that happened (event stream: "alarm", later "incident");
// same fields as a delta. Events are never coalesced: a client gets every one
// in order, or a reset. An event whose data is null means the entity is gone
// too: deleting a device sends a null delta for "device:ID" and a null event
// for each of its open alarms, and they leave the hub's state (snapshots, and
// a restart, no longer have them).
//
// batch: when several messages are ready at once the server sends them in one
// frame; items are complete delta or event messages, in order:
//
//	{"type":"batch","epoch":"…","seq":1250,"items":[{"type":"delta",…},{"type":"event",…}]}
//
// resumed: the answer to a subscribe with "since" whose epoch matches and
// whose position the log still holds; it is followed by every delta and event
// after since.seq that matches the subscription, in order, then live ones.
// A since.seq past this instance's position is resumed when the database's
// log has it (the client came from an instance that is ahead; what follows
// comes as this one catches up); its seq is then since.seq.
//
//	{"type":"resumed","id":1,"epoch":"…","seq":1234}
//
// reset: the server cannot continue the client's stream (the since position
// is no longer held or belongs to another epoch, or the log was reset); a
// fresh snapshot follows at once. Reasons: "epoch" (another epoch, or the log
// was reset), "too_old" (the log no longer holds since.seq), "too_far" (more
// than MaxReplay events were missed, or since.seq is past the log's head: a
// position that never existed).
//
//	{"type":"reset","id":1,"epoch":"…","seq":1300,"reason":"too_old"}
//
// unsubscribed, pong: answers to unsubscribe and ping.
//
//	{"type":"pong","id":3,"epoch":"…","seq":1300}
//
// error: a bad client message; the connection stays open and the previous
// subscription stays in force.
//
//	{"type":"error","id":1,"epoch":"…","seq":1300,"code":"invalid","message":"bbox: …","where":"bbox"}
//
// # Slow clients
//
// State deltas coalesce to the latest per entity while a client is not
// reading; events queue up to MaxQueuedEvents per client. Past that bound the
// connection is closed with code 4008 ("too slow"); the client reconnects
// with "since" and gets what it missed, or a reset. A write that does not
// complete within WriteTimeout closes the connection too.
//
// # Close codes
//
//	1001 server shutting down (reconnect with since)
//	1008 policy: bad first frame / not JSON text
//	1009 message too big
//	4008 too slow
//
// # Instances and the bus
//
// Without --nats-url the bus is in-process (feed.NewLocalBus). With
// --nats-url (CITYTWIN_NATS_URL) every instance publishes its committed
// events on the NATS subject "citytwin.feed" (feed.NewNATSBus) and delivers
// the events of every instance, so that instances behind one load balancer
// serve the same stream (same epoch and seqs: they share the database's
// event log); a client may resume with "since" on another instance.
//
// # Operations
//
// The event log is trimmed every minute to Hub.Retention (24 h) and
// Hub.MaxLogRows (2,000,000 rows); a client resuming from before that gets a
// reset. Metrics: citytwin_hub_clients, citytwin_hub_entities,
// citytwin_hub_seq, citytwin_hub_events_total,
// citytwin_hub_event_lag_seconds (append to dispatch),
// citytwin_hub_frames_total, citytwin_hub_messages_total,
// citytwin_hub_resets_total{reason}, citytwin_hub_too_slow_total.
//
// # Ordering and delivery
//
// Writers append events to the event log in the same transaction as their
// data (feed.AppendEvents) and publish them on the bus after commit. The hub
// consumes the bus through a feed.Follower, which delivers events in seq
// order, fills gaps from the log and polls the log, so that an event stored
// but never published (a writer that died between commit and Publish) still
// reaches every client. The hub's in-memory state is exactly that of seq
// (the position it has applied), so a snapshot taken under its lock has no
// gap to the deltas that follow.
package hub
