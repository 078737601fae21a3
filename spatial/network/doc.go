// Package network holds the pipe networks as graphs in memory and answers
// traces on them: connected, upstream, downstream, and isolation of a
// broken pipe.
//
// # The graph
//
// One graph per network (water, gas, heat, drainage, sewer, power,
// telecom), loaded from pipes and network_nodes on first use and dropped
// whenever a write to either layer is announced through spatial.Store's
// OnChange (the next request reloads it). Pipes are edges between their
// from and to nodes (from_node_id/to_node_id, else the from_node/to_node
// source ids within the pipe's source).
//
// Valves come in three forms:
//   - node valves: network_nodes of kind valve that are graph vertices
//     (no on_pipe); closing one stops passage through the node;
//   - line valves (WNTR's valve layer): network_nodes of kind valve with
//     on_pipe (a pipe source id) and near_node (the pipe end's node source
//     id); the valve sits on that pipe at that end, and closing it cuts the
//     pipe off from that node. They are not graph vertices. A line valve
//     whose pipe or node cannot be found is ignored (Graph.Unresolved);
//   - link valves: pipes of kind valve (EPANET); closing one stops passage
//     along the pipe.
//
// A valve is closed when its valve_state is closed (a link valve or any
// pipe: status closed; abandoned and planned pipes carry nothing either).
// An open valve is operable unless its status is broken or inaccessible
// (a link valve: status broken): such a valve cannot be closed, so traces
// pass through it. Planned valve nodes do not exist yet and are ignored.
//
// # Traces
//
// Every trace stops at closed valves and closed pipes, and passes open ones.
// connected follows pipes in both directions; downstream and upstream follow
// the flow direction: from_node to to_node, except in gravity networks
// (drainage, sewer) where the higher end is upstream, by inverts
// (from_invert_m, to_invert_m) when both are known, else by the end nodes'
// elevation_m, else from to to. A trace from a line valve starts on its pipe.
//
// # Isolation
//
// For a broken pipe B, Graph.Isolate works out:
//
//  1. The segment: everything reachable from B without passing an
//     operable open valve, through broken and inaccessible valves (listed as
//     inoperable_valves) and stopping at closed ones. The operable valves met
//     on the way bound the segment; they are the nearest valves that can cut
//     it off, so the shutdown area is the smallest one valves allow.
//  2. Which bounding valves must close: a bounding valve is needed when the
//     side away from the segment is fed by a source (reservoir, tank or
//     source node) without passing through the segment. Valves with no source
//     behind them (the entrance of a dead-end branch) are listed as
//     unneeded_valves: closing them changes nothing, since what lies behind
//     them is fed only through the segment and loses supply anyway. The
//     needed valves are thus the least set of the segment's valves that cuts
//     the break off from every source: leaving any one of them open leaves a
//     source connected to the break.
//  3. isolable is false when a source lies inside the segment (no valve can
//     cut the break off from it); the valves listed still cut it off from
//     the other sources.
//  4. What loses supply: the pipes and nodes fed by a source now (closed
//     valves as they are) that are no longer fed once the needed valves are
//     closed and B is out: the segment itself plus everything fed only
//     through it.
//  5. The buildings that lose supply (route only): for each connection node
//     (kind connection, the end of a service pipe) that loses supply, the
//     nearest building within distance metres (default 50); and each
//     building within that distance of a lost non-service pipe, with no
//     connection node of the network within that distance, whose nearest
//     non-service pipe of the network is a lost one.
//
// # Routes
//
//	GET /api/v1/networks/{network}/trace?node=ID|pipe=ID&direction=connected|upstream|downstream
//	    {"network","direction","start":{"node","pipe"},"pipes":[ids],"nodes":[ids],"counts":{"pipes","nodes"}}
//	GET /api/v1/networks/{network}/isolation?pipe=ID[&distance=50]
//	    {"network","pipe","isolable","valves":[{"type":"node|line|link","id","source_id","name","status","pipe","point":[lon,lat]}],
//	     "unneeded_valves","inoperable_valves","sources_in_segment","segment_pipes","segment_nodes",
//	     "lost_pipes","lost_nodes","buildings":{"count","items":[{"id","name","use","floors","via"}]}}
//
// Ids are feature ids of the pipes and network_nodes layers. Valve ids are
// node ids for node and line valves and pipe ids for link valves.
package network
