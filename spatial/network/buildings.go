package network

import (
	"context"
	"fmt"
	"math"
)

// MaxBuildingItems bounds the buildings listed (the count is complete).
const MaxBuildingItems = 2000

// BuildingsAffected are the buildings that lose supply.
type BuildingsAffected struct {
	Count int                `json:"count"`
	Items []BuildingAffected `json:"items"`
}

// BuildingAffected is one building that loses supply and how it is served.
type BuildingAffected struct {
	ID     int64   `json:"id"`
	Name   *string `json:"name,omitempty"`
	Use    *string `json:"use,omitempty"`
	Floors *int    `json:"floors,omitempty"`
	// Via is "connection" (the nearest building to a service connection
	// node that loses supply) or "nearest_main" (a building with no
	// connection node nearby whose nearest non-service pipe loses supply).
	Via string `json:"via"`
}

// BuildingsAffected finds the buildings served by what iso says loses
// supply: through connection nodes (kind connection) within dist metres of
// a building, else by the nearest non-service pipe of the network within
// dist metres.
func (s *Service) BuildingsAffected(ctx context.Context, g *Graph, iso *Isolation, dist float64) (BuildingsAffected, error) {
	out := BuildingsAffected{Items: []BuildingAffected{}}
	var connNodes []int64
	for _, id := range iso.LostNodes {
		if i, ok := g.nodeIdx[id]; ok && g.Nodes[i].Kind == "connection" {
			connNodes = append(connNodes, id)
		}
	}
	if len(iso.LostPipes) == 0 && len(connNodes) == 0 {
		return out, nil
	}
	deg := dist/111_000 + 1e-6
	// $1 lost connection nodes, $2 lost pipes, $3 network, $4 distance m,
	// $5 degrees (lat), $6 degrees (lon).
	sql := `WITH conn AS (
  SELECT DISTINCT ON (n.id) b.id, 'connection' AS via FROM network_nodes n
  CROSS JOIN LATERAL (SELECT b.id FROM buildings b WHERE b.geom && ST_Expand(n.geom, $6, $5)
     AND ST_DWithin(b.geom::geography, n.geom::geography, $4) ORDER BY b.geom <-> n.geom LIMIT 1) b
  WHERE n.id = ANY($1)
), cand AS (
  SELECT DISTINCT b.id, b.geom FROM pipes p JOIN buildings b ON b.geom && ST_Expand(p.geom, $6, $5)
  WHERE p.id = ANY($2) AND p.kind <> 'service' AND ST_DWithin(b.geom::geography, p.geom::geography, $4)
), main AS (
  SELECT c.id, 'nearest_main' AS via FROM cand c
  WHERE NOT EXISTS (SELECT 1 FROM network_nodes n WHERE n.network = $3 AND n.kind = 'connection'
       AND n.geom && ST_Expand(c.geom, $6, $5) AND ST_DWithin(n.geom::geography, c.geom::geography, $4))
    AND (SELECT p2.id FROM pipes p2 WHERE p2.network = $3 AND p2.kind <> 'service' ORDER BY p2.geom <-> c.geom LIMIT 1) = ANY($2)
), u AS (SELECT id, min(via) AS via FROM (SELECT * FROM conn UNION ALL SELECT * FROM main) x GROUP BY id)
SELECT b.id, b.name, b.use, b.floors, u.via FROM u JOIN buildings b USING (id) ORDER BY b.id`
	lat := 0.0
	if len(g.Nodes) > 0 {
		lat = g.Nodes[0].Y
	}
	c := math.Cos(lat * math.Pi / 180)
	if c < 0.01 {
		c = 0.01
	}
	rows, err := s.Store.Pool.Query(ctx, sql, connNodes, iso.LostPipes, g.Network, dist, deg, deg/c)
	if err != nil {
		return out, fmt.Errorf("buildings affected: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b BuildingAffected
		if err := rows.Scan(&b.ID, &b.Name, &b.Use, &b.Floors, &b.Via); err != nil {
			return out, err
		}
		out.Count++
		if len(out.Items) < MaxBuildingItems {
			out.Items = append(out.Items, b)
		}
	}
	return out, rows.Err()
}
