package app

import (
	"context"
	"net/http"

	"github.com/citytwin/citytwin/internal/httpapi"
	"github.com/citytwin/citytwin/web"
)

// wireWeb serves the browser app ("GET /" and its built assets) and the
// layer registry the app reads its layer titles, legends and styles from.
func (a *App) wireWeb(context.Context) error {
	h, err := web.NewHandler()
	if err != nil {
		return err
	}
	h.Routes(a.Mux)
	a.Mux.HandleFunc("GET /api/v1/layers", a.handleLayers)
	return nil
}

// handleLayers handles the "GET /api/v1/layers" route: every layer of the
// registry (built-in first, then user layers) with its titles in English and
// Chinese, geometry type, tile group, attributes, zoom range and style hints:
//
//	{"layers":[{"name":"buildings","title":"Buildings","title_zh":"建筑","geometry_type":"MultiPolygon",
//	  "group":"base","attributes":[…],"min_zoom":12,"max_zoom":22,
//	  "style":{"color":"#9aa5b8","color_by":"use","palette":{…},"extrude":"height_m"}}, …]}
func (a *App) handleLayers(w http.ResponseWriter, r *http.Request) {
	if err := a.Auth.RequireRead(r.Context()); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"layers": a.Registry.Layers()})
}
