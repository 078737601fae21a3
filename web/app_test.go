package web_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/config"
)

// TestServedByCitytwin runs a whole server and reads the app and the layer
// registry from it as the browser does.
func TestServedByCitytwin(t *testing.T) {
	a := apptest.MustRun(t, func(c *config.Config) { c.PublicReads = true })
	res, page := apptest.Do(t, "GET", a.URL()+"/", "", nil)
	if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("GET / = %d, Cache-Control %q", res.StatusCode, res.Header.Get("Cache-Control"))
	}
	if !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("GET / without a same-origin CSP")
	}
	script := regexp.MustCompile(`src="(/assets/[^"]+\.js)"`).FindStringSubmatch(string(page))
	if script == nil {
		t.Fatalf("no script in the page:\n%s", page)
	}
	res, _ = apptest.Do(t, "GET", a.URL()+script[1], "", nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("GET %s = %d, %q, %q", script[1], res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
	}

	res, body := apptest.Do(t, "GET", a.URL()+"/api/v1/layers", "", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/layers = %d %s", res.StatusCode, body)
	}
	var got struct {
		Layers []struct {
			Name    string `json:"name"`
			TitleZH string `json:"title_zh"`
			Group   string `json:"group"`
			Style   struct {
				ColorBy string            `json:"color_by"`
				Palette map[string]string `json:"palette"`
				Extrude string            `json:"extrude"`
			} `json:"style"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	byName := map[string]int{}
	for i, l := range got.Layers {
		byName[l.Name] = i
	}
	i, ok := byName["buildings"]
	if !ok || len(got.Layers) < 12 {
		t.Fatalf("layers: %s", body)
	}
	b := got.Layers[i]
	if b.TitleZH != "建筑" || b.Group != "base" || b.Style.ColorBy != "use" || b.Style.Extrude != "height_m" || b.Style.Palette["residential"] == "" {
		t.Fatalf("buildings: %+v", b)
	}
}

// TestLayersNeedReadAccess checks that the registry is not public unless
// reads are.
func TestLayersNeedReadAccess(t *testing.T) {
	a := apptest.MustRun(t)
	res, body := apptest.Do(t, "GET", a.URL()+"/api/v1/layers", "", nil)
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /api/v1/layers without a key = %d %s, want 401", res.StatusCode, body)
	}
}
