package network

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Node is a vertex of the pipe graph (or a line valve sitting on a pipe).
type Node struct {
	ID         int64
	Source     string
	SourceID   string
	Kind       string
	Status     string
	ValveState string
	OnPipe     string
	NearNode   string
	Name       string
	Elevation  *float64
	X, Y       float64
}

// Pipe is an edge of the pipe graph.
type Pipe struct {
	ID         int64
	Source     string
	SourceID   string
	Kind       string
	Status     string
	From, To   int32 // node indexes, -1 when unknown
	FromInvert *float64
	ToInvert   *float64
}

// lineValve is a valve node sitting on a pipe next to one of its ends.
type lineValve struct {
	node int32 // index of the valve node
	end  int8  // 0: the pipe's from end, 1: its to end
}

// Graph is the pipe graph of one network, held in memory.
type Graph struct {
	Network string
	Nodes   []Node
	Pipes   []Pipe

	nodeIdx map[int64]int32
	pipeIdx map[int64]int32
	// adj lists, per node, the pipes incident to it.
	adj [][]int32
	// lineValves lists, per pipe, the valves sitting on it.
	lineValves [][]lineValve
	// lineValveNode marks nodes that are line valves (not graph vertices).
	lineValveNode []bool
	// ns and ps are the valve states of nodes and pipes (see nodeValve).
	ns []int8
	ps []int8
	// valvePipe is the pipe each resolved line valve sits on.
	valvePipe map[int32]int32
	baseOnce  sync.Once
	baseN     []bool
	baseP     []bool
	// Unresolved counts line valves whose pipe or node is unknown.
	Unresolved int
}

// NodeIndex returns the index of node id.
func (g *Graph) NodeIndex(id int64) (int32, bool) { i, ok := g.nodeIdx[id]; return i, ok }

// PipeIndex returns the index of pipe id.
func (g *Graph) PipeIndex(id int64) (int32, bool) { i, ok := g.pipeIdx[id]; return i, ok }

// Build indexes the nodes and pipes into a graph. Pipes' From/To must be
// node indexes (or -1). Line valves are resolved from OnPipe/NearNode source
// ids within the valve's source.
func Build(network string, nodes []Node, pipes []Pipe) *Graph {
	g := &Graph{Network: network, Nodes: nodes, Pipes: pipes,
		nodeIdx: make(map[int64]int32, len(nodes)), pipeIdx: make(map[int64]int32, len(pipes)),
		adj: make([][]int32, len(nodes)), lineValves: make([][]lineValve, len(pipes)), valvePipe: map[int32]int32{}, lineValveNode: make([]bool, len(nodes))}
	type key struct{ source, id string }
	nodeBySrc := make(map[key]int32, len(nodes))
	for i, n := range nodes {
		g.nodeIdx[n.ID] = int32(i)
		nodeBySrc[key{n.Source, n.SourceID}] = int32(i)
	}
	pipeBySrc := make(map[key]int32, len(pipes))
	for i, p := range pipes {
		g.pipeIdx[p.ID] = int32(i)
		pipeBySrc[key{p.Source, p.SourceID}] = int32(i)
		if p.From >= 0 {
			g.adj[p.From] = append(g.adj[p.From], int32(i))
		}
		if p.To >= 0 && p.To != p.From {
			g.adj[p.To] = append(g.adj[p.To], int32(i))
		}
	}
	g.ns = make([]int8, len(nodes))
	for i := range nodes {
		g.ns[i] = int8(nodeValve(&nodes[i]))
	}
	g.ps = make([]int8, len(pipes))
	for i := range pipes {
		g.ps[i] = int8(pipeValve(&pipes[i]))
	}
	for i, n := range nodes {
		if n.Kind != "valve" || n.OnPipe == "" {
			continue
		}
		g.lineValveNode[i] = true
		pi, ok := pipeBySrc[key{n.Source, n.OnPipe}]
		if !ok {
			g.Unresolved++
			continue
		}
		p := pipes[pi]
		end := int8(-1)
		if n.NearNode != "" {
			if ni, ok := nodeBySrc[key{n.Source, n.NearNode}]; ok {
				switch ni {
				case p.From:
					end = 0
				case p.To:
					end = 1
				}
			}
		}
		if end < 0 {
			g.Unresolved++
			continue
		}
		g.lineValves[pi] = append(g.lineValves[pi], lineValve{node: int32(i), end: end})
		g.valvePipe[int32(i)] = pi
	}
	return g
}

// Load reads the graph of network from the database.
func Load(ctx context.Context, pool *pgxpool.Pool, network string) (*Graph, error) {
	rows, err := pool.Query(ctx, `SELECT id, source, source_id, kind, status, coalesce(valve_state, ''), coalesce(on_pipe, ''),
		coalesce(near_node, ''), coalesce(name, ''), elevation_m, ST_X(geom), ST_Y(geom) FROM network_nodes WHERE network = $1 ORDER BY id`, network)
	if err != nil {
		return nil, fmt.Errorf("load network %s nodes: %w", network, err)
	}
	var nodes []Node
	for rows.Next() {
		var n Node
		if err := rows.Scan(&n.ID, &n.Source, &n.SourceID, &n.Kind, &n.Status, &n.ValveState, &n.OnPipe, &n.NearNode, &n.Name, &n.Elevation, &n.X, &n.Y); err != nil {
			rows.Close()
			return nil, err
		}
		nodes = append(nodes, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	idx := make(map[int64]int32, len(nodes))
	type key struct{ source, id string }
	bySrc := make(map[key]int32, len(nodes))
	for i, n := range nodes {
		idx[n.ID] = int32(i)
		bySrc[key{n.Source, n.SourceID}] = int32(i)
	}
	resolve := func(id *int64, source string, sid *string) int32 {
		if id != nil {
			if i, ok := idx[*id]; ok {
				return i
			}
		}
		if sid != nil && *sid != "" {
			if i, ok := bySrc[key{source, *sid}]; ok {
				return i
			}
		}
		return -1
	}
	rows, err = pool.Query(ctx, `SELECT id, source, source_id, kind, status, from_node_id, to_node_id, from_node, to_node,
		from_invert_m, to_invert_m FROM pipes WHERE network = $1 ORDER BY id`, network)
	if err != nil {
		return nil, fmt.Errorf("load network %s pipes: %w", network, err)
	}
	defer rows.Close()
	var pipes []Pipe
	for rows.Next() {
		var p Pipe
		var fid, tid *int64
		var fs, ts *string
		if err := rows.Scan(&p.ID, &p.Source, &p.SourceID, &p.Kind, &p.Status, &fid, &tid, &fs, &ts, &p.FromInvert, &p.ToInvert); err != nil {
			return nil, err
		}
		p.From = resolve(fid, p.Source, fs)
		p.To = resolve(tid, p.Source, ts)
		pipes = append(pipes, p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return Build(network, nodes, pipes), nil
}
