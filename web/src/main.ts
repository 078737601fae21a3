// citytwin's browser app: the 3D city and the one-map command view.
//
// MapLibre draws citytwin's own vector tiles with the server's style
// (/tiles/style.json); deck.gl draws what MapLibre cannot: pipes below the
// ground at their depth, live device markers, blinking alarms, H3 hexagons,
// and the results of traces and impact analyses.

import maplibregl from 'maplibre-gl';
import 'maplibre-gl/dist/maplibre-gl.css';
// deck.gl is loaded on demand (./deck): only its types are imported here.
import type { MapboxOverlay } from '@deck.gl/mapbox';
import type { Layer as DeckLayer, PickingInfo } from '@deck.gl/core';

import './style.css';
import { getJSON, postJSON, qs, apiKey } from './api';
import { t, tv, initLang, getLang, setLang, onLangChange } from './i18n';
import { parseHash, formatHash, defaultView, View } from './view';
import { loadRegistry, LayerInfo, layerTitle, attrTitle } from './registry';
import { LiveFeed, DeviceState, Alarm, LiveStatus } from './live';
import { hexToRGBA, statusColor, severityColor, RGBA } from './colors';
import { Feature, featureId, lines, pointOf, bboxOf, itemsOf, idOf, parseIsolation, Isolation, ogcItems } from './data';
// the history chart (uPlot) is loaded when a chart is first drawn
type ChartModule = typeof import('./chart');

// t0 is the navigation's start: the timings below count from it, as the
// browser's own performance entries do.
const t0 = 0;
const hash = parseHash(location.hash);
initLang(hash.lang);

// The server's style. index.html preloads it, so it is usually here before
// this script runs; the map is made with it, not with an empty style that
// the server's would replace (each replaced style costs frames and a
// teardown). When it cannot be had, the map starts empty and loadStyle
// tries again.
async function fetchStyle(): Promise<any> {
  const res = await fetch('/tiles/style.json', { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error('HTTP ' + res.status);
  const style = await res.json();
  if (!style || style.version !== 8) throw new Error('not a style');
  // the view is the app's (URL hash), not the style's default camera
  for (const k of ['center', 'zoom', 'pitch', 'bearing']) delete style[k];
  return style;
}

// deck is deck.gl once loaded (see CityTwin.loadDeck).
type DeckModule = typeof import('./deck');
let deck: DeckModule | null = null;

// Sources of the server's style that the first view does without: their
// tiles are asked for only once their layers are to be drawn. "infra" (pipes,
// nodes, poles, cameras, project sites) comes once the base tiles of the
// first view are drawn (afterFirstFrame); "hex" when the hexagon map is
// turned on.
const deferredSources = ['infra', 'hex'];

const $ = <T extends HTMLElement = HTMLElement>(sel: string, root: ParentNode = document) => root.querySelector(sel) as T;
function h(tag: string, attrs: Record<string, any> = {}, ...children: Array<Node | string | null | undefined>): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

function fmt(v: any): string {
  if (v === null || v === undefined) return '—';
  // small integers (years, floors, ids) are not grouped: 2010, not 2,010
  if (typeof v === 'number') return Number.isInteger(v) ? (Math.abs(v) < 100000 ? String(v) : v.toLocaleString()) : v.toLocaleString(undefined, { maximumFractionDigits: 2 });
  if (Array.isArray(v)) return v.map(tv).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return tv(v);
}

// Layers drawn by deck.gl, with their own entries in the layer panel.
const deckLayerIds = ['pipes3d', 'nodes3d', 'liveDevices', 'liveAlarms', 'hexagons'] as const;

function nn(...xs: Array<Node | null | undefined>): Node[] {
  return xs.filter(Boolean) as Node[];
}

interface Selection {
  layer: string;
  id: string;
  feature?: Feature;
}

class CityTwin {
  map: maplibregl.Map;
  // overlay is deck.gl's, null until deck.gl is loaded (loadDeck)
  overlay: MapboxOverlay | null = null;
  live: LiveFeed;
  registry: LayerInfo[] = [];
  byName = new Map<string, LayerInfo>();
  styleLoaded = false;
  styleJSON: any = null;
  styleError = '';
  // visibility of registry layers (style layers) and deck layers
  visible = new Map<string, boolean>();
  filters = new Map<string, Set<string>>(); // layer -> hidden values of color_by
  legendOpen = new Set<string>(['buildings', 'pipes', 'project_sites']);
  groundLifted = false;
  exaggeration = 8;
  pipes = new Map<string, Feature>();
  nodes = new Map<string, Feature>();
  selection: Selection | null = null;
  selectionDevices: DeviceState[] = [];
  isolation: Isolation | null = null;
  isolationPipes = new Set<string>();
  isolationValves: Array<{ id: string; pos: [number, number, number] }> = [];
  impact: { lon: number; lat: number; radius: number; result: any } | null = null;
  impactMode = false;
  // the hexagon map's metric: "count" (all layers) or a layer's count
  hexMetric = 'count';
  originalFilters = new Map<string, any>();
  originalPaint = new Map<string, any>();
  osmShown = false;
  timings: Record<string, number> = {};
  errors: string[] = [];
  private infraAbort: AbortController | null = null;
  private blinkRaf = 0;
  private hashTimer = 0;
  private selectSeq = 0;

  constructor(style: any | null) {
    this.buildChrome();
    const v: View = hash.view || defaultView;
    this.map = new maplibregl.Map({
      container: 'map',
      style: style ? this.firstView(style) : emptyStyle(),
      // the server's style is valid; MapLibre need not check it again
      validateStyle: false,
      center: [v.lon, v.lat],
      zoom: v.zoom,
      pitch: v.pitch,
      bearing: v.bearing,
      maxPitch: 85,
      attributionControl: false,
      hash: false,
      canvasContextAttributes: { antialias: false },
      // the server names itself in style and TileJSON URLs by the host it was
      // asked for; keep every tile request on the page's own origin
      transformRequest: (url: string) => ({ url: sameOriginURL(url) }),
    } as any);
    this.map.addControl(new maplibregl.NavigationControl({ visualizePitch: true, showCompass: true, showZoom: true }), 'top-right');
    this.map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');
    this.attribution = new maplibregl.AttributionControl({ compact: false, customAttribution: 'citytwin' });
    this.map.addControl(this.attribution, 'bottom-right');
    this.live = new LiveFeed('/ws');
    for (const id of deckLayerIds) this.visible.set(id, id !== 'hexagons');
    this.wire();
    if (style) this.whenStyleLoads(style);
    else this.loadStyle();
  }

  attribution: maplibregl.AttributionControl;

  // ---------- start-up ----------

  private wire(): void {
    const map = this.map;
    map.on('load', () => {
      this.timings.mapLoad = performance.now() - t0;
    });
    map.on('moveend', () => {
      this.writeHash();
      this.live.setViewport(this.bbox());
      this.loadInfra();
    });
    map.on('click', (e) => this.onClick(e));
    map.on('mousemove', (e) => {
      const f = this.featuresAt(e.point, 3);
      map.getCanvas().style.cursor = f.length || this.impactMode ? 'pointer' : '';
      // interactive: the map has loaded, a frame with the server's buildings
      // is drawn, and after that frame an input reached the map and was handled
      const tm = this.timings;
      if (tm.interactive === undefined && tm.buildings !== undefined && tm.mapLoad !== undefined) tm.interactive = performance.now() - t0;
    });
    map.on('idle', () => this.onIdle());
    // the first frame that draws buildings of the server's tiles
    const onRender = () => {
      if (!this.styleLoaded) return;
      const layers = this.styleLayersOf('buildings');
      if (layers.length && this.map.queryRenderedFeatures({ layers }).length > 0) {
        this.timings.buildings = performance.now() - t0;
        map.off('render', onRender);
        this.afterFirstFrame(true);
      }
    };
    map.on('render', onRender);
    map.on('error', (e: any) => {
      const msg = e?.error?.message || String(e?.error || e);
      // tiles that 404 while the server is filling are not the app's errors
      if (/\/tiles\//.test(msg) || e?.sourceId) {
        console.warn('map:', msg);
        return;
      }
      this.errors.push(msg);
      console.warn('map error:', msg);
    });
    this.live.onChange((what) => this.onLive(what));
    this.live.onStatus((s) => this.renderLiveStatus(s));
    this.live.onNewAlarm((a) => this.onNewAlarm(a));
    window.addEventListener('hashchange', () => this.onHashChange());
    onLangChange(() => this.relabel());
    this.renderLiveStatus('connecting');

    loadRegistry()
      .then((layers) => {
        this.registry = layers;
        for (const l of layers) {
          this.byName.set(l.name, l);
          if (!this.visible.has(l.name)) this.visible.set(l.name, true);
        }
        this.renderLayerPanel();
        if (this.styleJSON) this.stylePalettes(this.styleJSON);
        this.applyStyleState();
        this.loadInfra();
        if (hash.sel) this.select(hash.sel.layer, hash.sel.id);
      })
      .catch((err) => {
        this.renderLayerPanel();
        console.warn('layers:', err.message);
        window.setTimeout(() => this.retryRegistry(), 5000);
      });
    this.loadDistricts();
    this.live.setViewport(this.bbox());
    this.live.start();
    // deck.gl even when no building is ever drawn (an empty view, no tiles)
    window.setTimeout(() => this.afterFirstFrame(), 10_000);
  }

  // afterFirstFrame runs once the first view is drawn (inRender: from the
  // 'render' event of that frame): what the first view did without comes
  // now, one step at a time so that the map keeps answering input: when the
  // base tiles are all drawn (the map is idle), the infra tiles; when those
  // are drawn too and the page is idle, deck.gl (3D pipes, live markers,
  // analyses), which then reads the pipes and nodes of the view.
  private firstFrameDone = false;
  private afterFirstFrame(inRender = false): void {
    if (this.firstFrameDone) return;
    this.firstFrameDone = true;
    const deckWhenIdle = () => whenPageIdle(() => this.loadDeck());
    const infra = () => {
      if (this.addDeferred('infra')) this.map.once('idle', deckWhenIdle);
      else deckWhenIdle();
    };
    // 'idle' follows the 'render' of a frame that left nothing to load
    if (inRender) this.map.once('idle', infra);
    else infra();
    // in case the map is never idle (a view whose tiles keep failing)
    window.setTimeout(() => this.loadDeck(), 5000);
  }

  // needDeck loads deck.gl now, for what the user asked for, unless the first
  // view is still being drawn (then it comes right after).
  private needDeck(): void {
    if (this.firstFrameDone) this.loadDeck();
  }

  // loadDeck loads deck.gl and puts its overlay on the map (once).
  private deckLoading: Promise<void> | null = null;
  loadDeck(): Promise<void> {
    if (!this.deckLoading) {
      this.timings.deckAsked = performance.now() - t0;
      this.deckLoading = import('./deck')
        .then((m) => {
          deck = m;
          // interleaved: one WebGL context and one canvas for the map and
          // deck.gl; a second canvas on top costs a second read-back of
          // every frame where the browser composites in software (and
          // doubled the frame time with 2,000 live markers in the tests)
          this.overlay = new m.MapboxOverlay({
            interleaved: true,
            layers: [],
            getTooltip: (info: PickingInfo) => this.tooltip(info),
          });
          this.map.addControl(this.overlay as unknown as maplibregl.IControl);
          this.timings.deck = performance.now() - t0;
          this.updateDeck();
          this.loadInfra();
        })
        .catch((err) => {
          this.deckLoading = null;
          console.warn('deck.gl:', err.message);
        });
    }
    return this.deckLoading;
  }

  private retryRegistry(): void {
    loadRegistry()
      .then((layers) => {
        this.registry = layers;
        for (const l of layers) {
          this.byName.set(l.name, l);
          if (!this.visible.has(l.name)) this.visible.set(l.name, true);
        }
        this.renderLayerPanel();
        if (this.styleJSON) this.stylePalettes(this.styleJSON);
        this.applyStyleState();
      })
      .catch(() => window.setTimeout(() => this.retryRegistry(), 5000));
  }

  // loadStyle puts the server's style on the map when the first try (before
  // the map was made) failed; while the tile service is not there it shows a
  // banner and tries again.
  private async loadStyle(): Promise<void> {
    try {
      const style = await fetchStyle();
      this.map.setStyle(this.firstView(style), { diff: false, validate: false });
      this.whenStyleLoads(style);
      this.styleError = '';
      $('#banner').hidden = true;
    } catch (err: any) {
      this.styleError = err.message;
      const b = $('#banner');
      b.textContent = t('tilesMissing');
      b.hidden = false;
      window.setTimeout(() => this.loadStyle(), 4000);
    }
  }

  // firstView returns the server's style without the deferred sources and
  // their layers (kept in this.deferred until they are to be drawn).
  private firstView(style: any): any {
    const first = { ...style, sources: { ...style.sources }, layers: [] as any[] };
    this.deferred.clear();
    this.layerOrder = (style.layers || []).map((l: any) => l.id);
    for (const l of style.layers || []) {
      const later = deferredSources.includes(l.source) && !(l.source === 'infra' && this.firstFrameDone);
      if (!later) {
        first.layers.push(l);
        continue;
      }
      const d = this.deferred.get(l.source) || { source: style.sources[l.source], layers: [] };
      d.layers.push(l);
      this.deferred.set(l.source, d);
      delete first.sources[l.source];
    }
    return first;
  }

  private whenStyleLoads(style: any): void {
    this.map.once('style.load', () => {
      this.styleLoaded = true;
      this.styleJSON = style;
      this.stylePalettes(style);
      this.originalFilters.clear();
      this.originalPaint.clear();
      if (this.visible.get('hexagons')) this.addDeferred('hex');
      this.applyStyleState();
      this.timings.styleLoad = performance.now() - t0;
    });
  }

  // ---------- the map's style: visibility, filters, ground, highlights ----------

  // deferred holds the sources left out of the first view, with their
  // layers; layerOrder is the server style's order of layers.
  private deferred = new Map<string, { source: any; layers: any[] }>();
  private layerOrder: string[] = [];

  // addDeferred puts a deferred source and its layers on the map, each layer
  // at its place in the server's order. It reports whether it added any.
  private addDeferred(name: string): boolean {
    const d = this.deferred.get(name);
    if (!d || !this.styleLoaded) return false;
    this.deferred.delete(name);
    this.map.addSource(name, d.source);
    for (const l of d.layers) {
      const i = this.layerOrder.indexOf(l.id);
      const before = this.layerOrder.slice(i + 1).find((id) => this.map.getLayer(id));
      this.map.addLayer(l, before);
    }
    this.timings[name + 'Added'] = performance.now() - t0;
    this.applyStyleState();
    return true;
  }

  // stylePalettes fills in the colour, colour-by attribute and palette of the
  // layers whose description lacks them (a registry read from the OGC
  // collections) from the style's "match" expressions, so that the legend
  // shows the colours the map draws.
  private stylePalettes(style: any): void {
    let changed = false;
    for (const l of style.layers || []) {
      const info = this.byName.get(l['source-layer']);
      if (!info || (info.style.palette && Object.keys(info.style.palette).length)) continue;
      const paint = l.paint || {};
      const c = paint['fill-extrusion-color'] ?? paint['fill-color'] ?? paint['line-color'] ?? paint['circle-color'];
      if (Array.isArray(c) && c[0] === 'match' && Array.isArray(c[1]) && c[1][0] === 'get') {
        const palette: Record<string, string> = {};
        for (let i = 2; i + 1 < c.length; i += 2) {
          const keys = Array.isArray(c[i]) ? c[i] : [c[i]];
          for (const k of keys) palette[String(k)] = String(c[i + 1]);
        }
        info.style = { ...info.style, color: String(c[c.length - 1]), color_by: c[1][1], palette };
        changed = true;
      } else if (typeof c === 'string' && (!info.style.color || info.style.color === '#9aa5b8')) {
        info.style = { ...info.style, color: c };
        changed = true;
      }
    }
    if (changed) {
      this.renderLayerPanel();
      this.updateDeck();
    }
  }

  // styleLayersOf lists the ids of the style layers drawing a registry layer.
  styleLayersOf(name: string): string[] {
    const style = this.map.getStyle();
    if (!style?.layers) return [];
    return style.layers.filter((l: any) => l['source-layer'] === name || l.id === name).map((l) => l.id);
  }

  private applyStyleState(): void {
    if (!this.styleLoaded) return;
    const style = this.map.getStyle();
    for (const l of style.layers || []) {
      const sl = (l as any)['source-layer'];
      if (!sl) continue;
      if ((l as any).source === 'hex') {
        this.map.setLayoutProperty(l.id, 'visibility', this.visible.get('hexagons') ? 'visible' : 'none');
        if (l.type === 'fill' || l.type === 'fill-extrusion') {
          const key = l.id + '|hexcolor';
          const p = l.type === 'fill' ? 'fill-color' : 'fill-extrusion-color';
          if (!this.originalPaint.has(key)) this.originalPaint.set(key, this.map.getPaintProperty(l.id, p));
          const orig = this.originalPaint.get(key);
          // the style colours by count; the same ramp on the chosen metric
          const ramp = Array.isArray(orig) && orig[0] === 'interpolate' ? orig.slice(3) : [0, '#10243a', 10, '#1f6f8b', 100, '#f2c14e', 1000, '#ff4d4d'];
          this.map.setPaintProperty(l.id, p, ['interpolate', ['linear'], ['coalesce', ['get', this.hexMetric], 0], ...ramp]);
        }
        continue;
      }
      let vis = this.visible.get(sl) !== false;
      // the 3D pipes replace the flat ones once they are drawn
      if (sl === 'pipes' && this.visible.get('pipes3d') && this.overlay && this.pipes.size) vis = false;
      if (sl === 'network_nodes' && this.visible.get('nodes3d') && this.groundLifted && this.overlay) vis = false;
      this.map.setLayoutProperty(l.id, 'visibility', vis ? 'visible' : 'none');
      if (!this.originalFilters.has(l.id)) this.originalFilters.set(l.id, (l as any).filter ?? null);
      const info = this.byName.get(sl);
      const hidden = this.filters.get(sl);
      const orig = this.originalFilters.get(l.id);
      let filter: any = orig;
      if (info?.style.color_by && hidden && hidden.size > 0) {
        const cond = ['!', ['in', ['coalesce', ['get', info.style.color_by], ''], ['literal', [...hidden]]]];
        filter = orig ? ['all', orig, cond] : cond;
      }
      this.map.setFilter(l.id, filter ?? null);
      this.applyGround(l);
    }
    this.applyHighlights();
  }

  private applyGround(l: any): void {
    const props: Record<string, string> = {
      fill: 'fill-opacity',
      'fill-extrusion': 'fill-extrusion-opacity',
      line: 'line-opacity',
      background: 'background-opacity',
    };
    const p = props[l.type];
    if (!p) return;
    const key = l.id + '|' + p;
    if (!this.originalPaint.has(key)) this.originalPaint.set(key, this.map.getPaintProperty(l.id, p) ?? null);
    const orig = this.originalPaint.get(key);
    const infra = this.byName.get(l['source-layer'])?.group === 'infra';
    let v = orig;
    if (this.groundLifted && !infra) v = l.type === 'fill-extrusion' ? 0.25 : l.type === 'line' ? 0.35 : 0.12;
    this.map.setPaintProperty(l.id, p, v ?? undefined);
  }

  // applyHighlights colours the buildings of a trace or an impact in the
  // style's building layers.
  private applyHighlights(): void {
    if (!this.styleLoaded) return;
    const ids = new Set<string>();
    for (const b of this.isolation?.buildings || []) ids.add(idOf(b));
    for (const b of itemsOf(this.impact?.result, 'buildings')) ids.add(idOf(b));
    const sel = this.selection?.layer === 'buildings' ? this.selection.id : '';
    for (const id of this.styleLayersOf('buildings')) {
      const l = this.map.getLayer(id);
      if (!l) continue;
      const p = l.type === 'fill-extrusion' ? 'fill-extrusion-color' : l.type === 'fill' ? 'fill-color' : '';
      if (!p) continue;
      const key = id + '|' + p;
      if (!this.originalPaint.has(key)) this.originalPaint.set(key, this.map.getPaintProperty(id, p) ?? '#9aa5b8');
      const orig = this.originalPaint.get(key);
      const list = [...ids].filter(Boolean).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
      if (list.length === 0 && !sel) {
        this.map.setPaintProperty(id, p, orig);
        continue;
      }
      const idExpr = ['to-string', ['coalesce', ['get', 'id'], ['id']]];
      this.map.setPaintProperty(id, p, [
        'case',
        ['==', idExpr, sel || '\u0000'], '#4fc3f7',
        ['in', idExpr, ['literal', list.map(String)]], '#ff453a',
        orig,
      ]);
    }
  }

  // ---------- deck.gl layers ----------

  // memo keeps a layer's data array while its inputs are the same, so that
  // deck.gl recomputes a layer's attributes only when its data changed.
  private memoCache = new Map<string, { key: string; value: any }>();
  private memo<T>(name: string, key: string, make: () => T): T {
    const c = this.memoCache.get(name);
    if (c && c.key === key) return c.value as T;
    const value = make();
    this.memoCache.set(name, { key, value });
    return value;
  }
  infraVersion = 0;
  liveVersion = 0;

  updateDeck(): void {
    // before deck.gl is there, its layers are drawn once it comes (loadDeck)
    if (!deck || !this.overlay) return;
    const { PathLayer, ScatterplotLayer, TextLayer, GeoJsonLayer } = deck;
    const layers: DeckLayer[] = [];
    // deck.gl draws into the map's own WebGL context (interleaved), against
    // its depth: the pipes under a building are hidden by it, unless the
    // ground is lifted; markers, labels and results are never hidden.
    const onTop = drawOnTop;
    const underground = this.groundLifted ? drawOnTop : depthTested;
    const z = (depth: any) => -Math.max(0.5, Number(depth) || 1.5) * this.exaggeration;
    const netPalette = this.byName.get('pipes')?.style.palette || {};
    if (this.visible.get('pipes3d') && this.visible.get('pipes') !== false) {
      const hiddenNets = this.filters.get('pipes');
      const data = this.memo('pipes3d', `${this.infraVersion}|${this.exaggeration}|${[...(hiddenNets || [])]}`, () => {
        const out: any[] = [];
        for (const f of this.pipes.values()) {
          if (hiddenNets?.has(f.properties.network)) continue;
          for (const ln of lines(f.geometry)) out.push({ f, path: ln.map((c) => [c[0], c[1], z(f.properties.depth_m)]) });
        }
        return out;
      });
      layers.push(
        new PathLayer({
          id: 'pipes3d',
          parameters: underground,
          data,
          getPath: (d: any) => d.path,
          getColor: (d: any) => {
            const id = featureId(d.f);
            if (this.isolationPipes.has(id)) return [255, 69, 58, 255];
            if (this.selection?.layer === 'pipes' && this.selection.id === id) return [255, 255, 255, 255];
            return hexToRGBA(netPalette[d.f.properties.network], this.isolation ? 110 : 230);
          },
          getWidth: (d: any) => Math.max(0.3, (Number(d.f.properties.diameter_mm) || 200) / 1000),
          widthUnits: 'meters',
          widthMinPixels: 2,
          widthMaxPixels: 14,
          capRounded: true,
          jointRounded: true,
          pickable: true,
          updateTriggers: { getColor: [this.isolationPipes, this.selection?.id, this.isolation], getPath: [this.exaggeration] },
        }),
      );
    }
    if (this.visible.get('nodes3d') && this.visible.get('network_nodes') !== false) {
      const palette = this.byName.get('network_nodes')?.style.palette || {};
      const hiddenKinds = this.filters.get('network_nodes');
      const data = this.memo('nodes3d', `${this.infraVersion}|${[...(hiddenKinds || [])]}`, () => [...this.nodes.values()].filter((f) => {
        const k = f.properties.kind;
        return (k === 'valve' || k === 'hydrant' || k === 'pump' || k === 'tank') && !hiddenKinds?.has(k);
      }));
      layers.push(
        new ScatterplotLayer({
          id: 'nodes3d',
          parameters: underground,
          data,
          getPosition: (f: any) => {
            const p = f.geometry.coordinates;
            return [p[0], p[1], z(f.properties.depth_m)];
          },
          getFillColor: (f: any) => {
            const c = hexToRGBA(palette[f.properties.kind] || '#ffd400');
            if (f.properties.kind === 'valve' && f.properties.valve_state === 'closed') return [255, 255, 255, 255];
            return c;
          },
          getLineColor: [10, 14, 24, 255],
          stroked: true,
          lineWidthMinPixels: 1,
          getRadius: 1.6,
          radiusUnits: 'meters',
          radiusMinPixels: 3,
          radiusMaxPixels: 10,
          pickable: true,
        }),
      );
    }
    if (this.isolationValves.length) {
      layers.push(
        new ScatterplotLayer({
          id: 'isolation-valves',
          parameters: onTop,
          data: this.isolationValves,
          getPosition: (d: any) => d.pos,
          getFillColor: [255, 214, 10, 255],
          getLineColor: [255, 45, 85, 255],
          stroked: true,
          lineWidthMinPixels: 3,
          getRadius: 4,
          radiusUnits: 'meters',
          radiusMinPixels: 8,
          pickable: true,
        }),
        new TextLayer({
          id: 'isolation-valve-labels',
          parameters: onTop,
          data: this.isolationValves,
          getPosition: (d: any) => d.pos,
          getText: (d: any) => d.id,
          getSize: 13,
          getColor: [255, 214, 10, 255],
          getPixelOffset: [0, -18],
          characterSet: 'auto',
          fontFamily: 'system-ui, sans-serif',
          outlineWidth: 2,
          outlineColor: [10, 14, 24, 255],
          fontSettings: { sdf: true },
        }),
      );
    }
    if (this.impact) {
      const imp = this.impact;
      layers.push(
        new ScatterplotLayer({
          id: 'impact',
          parameters: onTop,
          data: [imp],
          getPosition: (d: any) => [d.lon, d.lat],
          getRadius: (d: any) => d.radius,
          radiusUnits: 'meters',
          getFillColor: [255, 159, 10, 40],
          getLineColor: [255, 159, 10, 220],
          stroked: true,
          lineWidthMinPixels: 2,
        }),
      );
      const cams = itemsOf(imp.result, 'cameras').map((c) => ({ c, p: pointOf(c) })).filter((x) => x.p);
      if (cams.length) {
        layers.push(
          new PathLayer({
            id: 'impact-cameras',
            parameters: onTop,
            data: cams,
            getPath: (d: any) => [d.p, [imp.lon, imp.lat]],
            getColor: [100, 210, 255, 200],
            widthMinPixels: 2,
          }),
        );
      }
    }
    if (this.selection?.feature && this.selection.layer !== 'pipes') {
      layers.push(
        new GeoJsonLayer({
          id: 'selection',
          parameters: onTop,
          data: this.selection.feature as any,
          stroked: true,
          filled: true,
          getFillColor: [79, 195, 247, 50],
          getLineColor: [79, 195, 247, 255],
          lineWidthMinPixels: 3,
          getPointRadius: 6,
          pointRadiusUnits: 'pixels',
        }),
      );
    }
    if (this.visible.get('liveDevices')) {
      const devs = this.memo('devices', String(this.liveVersion), () => [...this.live.devices.values()].filter((d) => Number.isFinite(d.lon) && Number.isFinite(d.lat)));
      layers.push(
        new ScatterplotLayer({
          id: 'liveDevices',
          parameters: onTop,
          data: devs,
          getPosition: (d: DeviceState) => [d.lon, d.lat, 2],
          getFillColor: (d: DeviceState) => deviceColor(d),
          getLineColor: [10, 14, 24, 255],
          stroked: true,
          lineWidthMinPixels: 1,
          getRadius: 3,
          radiusUnits: 'meters',
          radiusMinPixels: 4,
          radiusMaxPixels: 9,
          pickable: true,
        }),
      );
      const sel = this.memo('selection-values', `${this.liveVersion}|${this.selectSeq}|${this.selectionDevices.length}`,
        () => this.selectionDevices.map((d) => this.live.devices.get(d.id) || d).filter((d) => Number.isFinite(d.lon)));
      if (sel.length) {
        layers.push(
          new TextLayer({
            id: 'selection-values',
            parameters: onTop,
            data: sel,
            getPosition: (d: DeviceState) => [d.lon, d.lat, 4],
            getText: (d: DeviceState) => deviceLabel(d),
            getSize: 14,
            getColor: [255, 255, 255, 255],
            getBackgroundColor: [11, 18, 32, 220],
            background: true,
            backgroundPadding: [6, 3],
            getPixelOffset: [0, -22],
            characterSet: 'auto',
            fontFamily: 'system-ui, sans-serif',
          }),
        );
      }
    }
    if (this.visible.get('liveAlarms')) {
      const now = performance.now();
      const alarms = this.memo('alarms', String(this.liveVersion), () => [...this.live.alarms.values()].filter((a) => Number.isFinite(a.lon) && Number.isFinite(a.lat)));
      const blink = 0.5 + 0.5 * Math.sin(now / 120);
      layers.push(
        new ScatterplotLayer({
          id: 'liveAlarms',
          parameters: onTop,
          data: alarms,
          getPosition: (a: Alarm) => [a.lon!, a.lat!, 3],
          getFillColor: (a: Alarm) => {
            const c = severityColor[a.severity || ''] || severityColor.major;
            return [c[0], c[1], c[2], a.fresh && !a.acknowledged ? Math.round(60 + 195 * blink) : 200] as RGBA;
          },
          getLineColor: [255, 255, 255, 255],
          stroked: true,
          lineWidthMinPixels: 2,
          getRadius: (a: Alarm) => (a.fresh && !a.acknowledged ? 6 + 6 * blink : 6),
          radiusUnits: 'meters',
          radiusMinPixels: 7,
          radiusMaxPixels: 26,
          pickable: true,
          updateTriggers: { getFillColor: now, getRadius: now },
        }),
      );
    }
    this.overlay.setProps({ layers });
  }

  private tooltip(info: PickingInfo): any {
    const o: any = info.object;
    if (!o) return null;
    const style = { background: '#0b1220', color: '#e6edf7', fontSize: '13px', border: '1px solid #2a3a58' };
    if (info.layer?.id === 'liveDevices') return { text: `${o.name || o.id}\n${deviceLabel(o)}`, style };
    if (info.layer?.id === 'liveAlarms') return { text: `${tv(o.severity)} ${o.message || o.type || ''}`, style };
    if (info.layer?.id === 'pipes3d') return { text: `${tv(o.f.properties.network)} ${featureId(o.f)} · DN${o.f.properties.diameter_mm ?? ''} · ${o.f.properties.depth_m ?? ''} m`, style };
    if (info.layer?.id === 'nodes3d') return { text: `${tv(o.properties.kind)} ${featureId(o)}`, style };
    return null;
  }

  // ---------- data for the deck layers ----------

  bbox(scale = 1): [number, number, number, number] {
    const b = this.map.getBounds();
    let [w, s, e, n] = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
    if (scale !== 1) {
      const dx = ((e - w) * (scale - 1)) / 2, dy = ((n - s) * (scale - 1)) / 2;
      w -= dx; e += dx; s -= dy; n += dy;
    }
    return [Math.max(-180, w), Math.max(-85, s), Math.min(180, e), Math.min(85, n)];
  }

  // loadInfra reads the pipes and nodes of the viewport for the 3D layers:
  // only the properties those layers draw, and of the nodes only the kinds
  // they show. A view within what was read already reads nothing.
  private infraRead: { box: number[]; what: string } | null = null;
  private async loadInfra(): Promise<void> {
    if (!this.overlay) return; // drawn by deck.gl only: read once it is there
    if (this.map.getZoom() < 13.5) return;
    const wantPipes = !!this.visible.get('pipes3d'), wantNodes = !!this.visible.get('nodes3d');
    if (!wantPipes && !wantNodes) return;
    const what = `${wantPipes}|${wantNodes}`;
    const view = this.bbox();
    const r = this.infraRead;
    if (r && r.what === what && r.box[0] <= view[0] && r.box[1] <= view[1] && r.box[2] >= view[2] && r.box[3] >= view[3]) return;
    this.infraAbort?.abort();
    const ac = new AbortController();
    this.infraAbort = ac;
    const bb = this.bbox(1.4);
    this.infraRead = { box: bb, what };
    try {
      const [pipes, nodes] = await Promise.all([
        wantPipes ? ogcItems('pipes', bb, 2000, 5, ac.signal, { properties: pipeProps }) : Promise.resolve([]),
        wantNodes ? ogcItems('network_nodes', bb, 2000, 5, ac.signal, { properties: nodeProps, filter: nodeFilter }) : Promise.resolve([]),
      ]);
      if (ac.signal.aborted) return;
      if (this.pipes.size > 30000) this.pipes.clear();
      if (this.nodes.size > 30000) this.nodes.clear();
      for (const f of pipes) this.pipes.set(featureId(f), f);
      for (const f of nodes) this.nodes.set(featureId(f), f);
      this.infraVersion++;
      this.timings.infraLoaded = performance.now() - t0;
      // the 3D pipes are there: the flat ones go
      this.applyStyleState();
      this.updateDeck();
    } catch (err: any) {
      if (this.infraAbort === ac) this.infraRead = null;
      if (err.name !== 'AbortError') console.warn('infra:', err.message);
    }
  }

  // ---------- clicks and selection ----------

  private featuresAt(p: maplibregl.PointLike, r: number): maplibregl.MapGeoJSONFeature[] {
    if (!this.styleLoaded) return [];
    const pt = p as maplibregl.Point;
    const box: [maplibregl.PointLike, maplibregl.PointLike] = [[pt.x - r, pt.y - r], [pt.x + r, pt.y + r]];
    return this.map.queryRenderedFeatures(box).filter((f) => this.byName.has(f.sourceLayer || '') || (f.sourceLayer && f.sourceLayer !== 'hex'));
  }

  private onClick(e: maplibregl.MapMouseEvent): void {
    if (this.impactMode) {
      this.runImpact(e.lngLat.lng, e.lngLat.lat);
      return;
    }
    const pick = this.overlay?.pickObject({ x: e.point.x, y: e.point.y, radius: 4 });
    if (pick?.object) {
      const o: any = pick.object;
      switch (pick.layer?.id) {
        case 'pipes3d':
          return void this.select('pipes', featureId(o.f));
        case 'nodes3d':
          return void this.select('network_nodes', featureId(o));
        case 'liveDevices':
          return void this.selectDevice(o.id);
        case 'liveAlarms':
          if (o.device) return void this.selectDevice(o.device);
      }
    }
    const feats = this.featuresAt(e.point, 2);
    // the topmost feature of a registry layer; districts and landuse last
    const rank = (f: maplibregl.MapGeoJSONFeature) => (['districts', 'landuse', 'water'].includes(f.sourceLayer || '') ? 1 : 0);
    const f = feats.sort((a, b) => rank(a) - rank(b))[0];
    if (!f) return;
    const id = f.properties?.id ?? f.id;
    if (id === undefined || id === null) return;
    this.select(f.sourceLayer!, String(id));
  }

  async select(layer: string, id: string): Promise<void> {
    this.needDeck();
    const seq = ++this.selectSeq;
    this.selection = { layer, id };
    this.selectionDevices = [];
    this.clearIsolation(false);
    this.writeHash();
    this.openPanel(layer, id);
    this.applyHighlights();
    try {
      const f = await getJSON<Feature>(`/ogc/collections/${encodeURIComponent(layer)}/items/${encodeURIComponent(id)}`);
      if (seq !== this.selectSeq) return;
      this.selection.feature = f;
      this.renderFeature(layer, id, f);
      this.updateDeck();
    } catch (err: any) {
      if (seq !== this.selectSeq) return;
      $('#panel-body').replaceChildren(h('div', { class: 'error', text: `${t('error')}: ${err.message}` }));
      return;
    }
    this.loadDevices(layer, id, seq);
    if (layer === 'pipes') this.runIsolation(id, seq);
  }

  private async selectDevice(id: string): Promise<void> {
    this.needDeck();
    const seq = ++this.selectSeq;
    const d = this.live.devices.get(id);
    if (d?.feature) return this.select(d.feature.layer, String(d.feature.id));
    this.selection = { layer: 'devices', id };
    this.openPanel('devices', id);
    try {
      const dev = await getJSON<DeviceState>(`/api/v1/devices/${encodeURIComponent(id)}`);
      if (seq !== this.selectSeq) return;
      this.selectionDevices = [{ ...dev, ...(this.live.devices.get(id) || {}) }];
      $('#panel-title').textContent = dev.name || id;
      const body = $('#panel-body');
      body.replaceChildren(h('div', { id: 'devices' }), h('div', { id: 'history' }));
      this.renderDevices();
      this.renderHistoryPicker();
      this.updateDeck();
    } catch (err: any) {
      $('#panel-body').replaceChildren(h('div', { class: 'error', text: `${t('error')}: ${err.message}` }));
    }
  }

  private async loadDevices(layer: string, id: string, seq: number): Promise<void> {
    try {
      const body = await getJSON(`/api/v1/features/${encodeURIComponent(layer)}/${encodeURIComponent(id)}/devices`);
      if (seq !== this.selectSeq) return;
      this.selectionDevices = itemsOf(body, 'devices', 'items');
    } catch (err: any) {
      if (seq !== this.selectSeq) return;
      this.selectionDevices = [];
      if (err.status !== 404) console.warn('devices:', err.message);
    }
    this.renderDevices();
    this.renderHistoryPicker();
    this.updateDeck();
  }

  // ---------- the side panel ----------

  private openPanel(layer: string, id: string): void {
    const panel = $('#panel');
    panel.hidden = false;
    $('#app').classList.add('panel-open');
    panel.dataset.layer = layer;
    panel.dataset.id = id;
    $('#panel-layer').textContent = layerTitle(this.byName.get(layer), layer === 'devices' ? t('devices') : layer);
    $('#panel-title').textContent = `${id}`;
    $('#panel-body').replaceChildren(h('div', { class: 'muted', text: t('loading') }));
  }

  closePanel(): void {
    $('#panel').hidden = true;
    $('#app').classList.remove('panel-open');
    this.selection = null;
    this.selectionDevices = [];
    this.clearIsolation(false);
    this.writeHash();
    this.applyHighlights();
    this.updateDeck();
  }

  private renderFeature(layer: string, id: string, f: Feature): void {
    const info = this.byName.get(layer);
    const p = f.properties || {};
    const title = p.name || p.name_en || `${layerTitle(info, layer)} ${id}`;
    $('#panel-title').textContent = title;
    const rows: HTMLElement[] = [];
    const seen = new Set<string>();
    const add = (name: string, v: any) => {
      if (seen.has(name) || v === undefined || v === null || v === '') return;
      seen.add(name);
      const a = info?.attributes.find((x) => x.name === name);
      const unit = a?.unit ? ` ${a.unit}` : '';
      rows.push(h('tr', { 'data-attr': name }, h('th', { text: attrTitle(a, name) }), h('td', { text: fmt(v) + unit })));
    };
    add('id', featureId(f) || id);
    for (const a of info?.attributes || []) add(a.name, p[a.name]);
    for (const [k, v] of Object.entries(p)) if (typeof v !== 'object' || Array.isArray(v)) add(k, v);
    const body = $('#panel-body');
    const parts: HTMLElement[] = [];
    if (layer === 'project_sites' && p.progress_pct !== undefined) {
      const pct = Math.max(0, Math.min(100, Number(p.progress_pct) || 0));
      const color = info?.style.palette?.[p.stage] || '#ff9f0a';
      parts.push(
        h('div', { class: 'progress' },
          h('div', { class: 'progress-label', text: `${t('progress')} ${pct.toFixed(0)}% · ${tv(p.stage)}` }),
          h('div', { class: 'progress-bar' }, h('div', { style: `width:${pct}%;background:${color}` }))),
      );
    }
    parts.push(h('h3', { text: t('attributes') }), h('table', { class: 'attrs' }, ...rows));
    if (layer === 'pipes') parts.push(h('div', { id: 'isolation' }, h('h3', { text: t('isolation') }), h('div', { class: 'muted', text: t('loading') })));
    parts.push(h('div', { id: 'devices' }), h('div', { id: 'history' }));
    body.replaceChildren(...parts);
    this.renderDevices();
  }

  private renderDevices(): void {
    const el = $('#devices');
    if (!el) return;
    const list = this.selectionDevices.map((d) => ({ ...d, ...(this.live.devices.get(d.id) || {}) }));
    if (!list.length) {
      el.replaceChildren(h('h3', { text: t('devices') }), h('div', { class: 'muted', text: t('noDevices') }));
      return;
    }
    const items = list.map((d) => {
      const vals = Object.entries(d.values || {}).map(([m, v]: [string, any]) =>
        h('span', { class: 'value', 'data-device': d.id, 'data-metric': m, title: v?.time || '' },
          h('b', { text: m }), ' ', fmtValue(v?.value ?? v)));
      const cmd = /lamp|light/.test(d.kind || '') ?
        h('span', { class: 'cmds' },
          h('button', { onclick: () => this.command(d.id, true), text: t('switchOn') }),
          h('button', { onclick: () => this.command(d.id, false), text: t('switchOff') })) : null;
      return h('li', { class: 'device', 'data-device': d.id },
        h('div', { class: 'device-head' },
          h('span', { class: `dot s-${d.status || 'unknown'}` }),
          h('b', { text: d.name || d.id }), ' ', h('span', { class: 'muted', text: `${tv(d.kind)} · ${tv(d.status)}` }), cmd),
        h('div', { class: 'values' }, ...vals),
        d.last_seen ? h('div', { class: 'muted small', text: `${t('lastSeen')}: ${new Date(d.last_seen).toLocaleString()}` }) : null);
    });
    el.replaceChildren(h('h3', { text: `${t('devices')} (${list.length})` }), h('ul', { class: 'devices' }, ...items));
  }

  private renderHistoryPicker(): void {
    const el = $('#history');
    if (!el) return;
    const opts: Array<{ dev: string; metric: string; label: string }> = [];
    for (const d0 of this.selectionDevices) {
      const d = { ...d0, ...(this.live.devices.get(d0.id) || {}) };
      for (const m of Object.keys(d.values || {})) opts.push({ dev: d.id, metric: m, label: `${d.name || d.id} · ${m}` });
    }
    if (!opts.length) {
      el.replaceChildren();
      return;
    }
    const select = h('select', { id: 'history-metric' }, ...opts.map((o, i) => h('option', { value: String(i), text: o.label }))) as HTMLSelectElement;
    const chart = h('div', { class: 'chart', id: 'chart' });
    const draw = async () => {
      const o = opts[Number(select.value)];
      chart.replaceChildren(h('div', { class: 'muted', text: t('loading') }));
      const to = new Date();
      const from = new Date(to.getTime() - 24 * 3600e3);
      try {
        const [body, { parseHistory, drawChart }] = await Promise.all([
          getJSON(`/api/v1/devices/${encodeURIComponent(o.dev)}/observations?${qs({ metric: o.metric, from: from.toISOString(), to: to.toISOString(), points: 120 })}`),
          import('./chart') as Promise<ChartModule>,
        ]);
        const buckets = parseHistory(body, o.metric);
        if (!buckets.length) {
          chart.replaceChildren(h('div', { class: 'muted', text: '—' }));
          return;
        }
        drawChart(chart, buckets, o.metric);
        chart.dataset.points = String(buckets.length);
      } catch (err: any) {
        chart.replaceChildren(h('div', { class: 'error', text: `${t('error')}: ${err.message}` }));
      }
    };
    select.addEventListener('change', draw);
    el.replaceChildren(h('h3', { text: t('history') }), select, chart);
    draw();
  }

  private async command(device: string, on: boolean): Promise<void> {
    try {
      await postJSON(`/api/v1/devices/${encodeURIComponent(device)}/commands`, { command: 'switch', args: { on } });
      this.toast(`${device}: ${on ? t('switchOn') : t('switchOff')} ${t('sent')}`);
    } catch (err: any) {
      this.toast(`${device}: ${t('failed')}: ${err.message}${apiKey() ? '' : ' — ' + t('key')}`, true);
    }
  }

  // ---------- isolation trace and impact ----------

  private clearIsolation(redraw = true): void {
    this.isolation = null;
    this.isolationPipes = new Set();
    this.isolationValves = [];
    if (redraw) {
      this.applyHighlights();
      this.updateDeck();
    }
  }

  private async runIsolation(pipeId: string, seq: number): Promise<void> {
    const pipe = this.selection?.feature || this.pipes.get(pipeId);
    const network = pipe?.properties?.network || 'water';
    const el = () => $('#isolation');
    try {
      const body = await getJSON(`/api/v1/networks/${encodeURIComponent(network)}/isolation?${qs({ pipe: pipeId })}`);
      if (seq !== this.selectSeq) return;
      const iso = parseIsolation(body);
      this.isolation = iso;
      this.isolationPipes = new Set(iso.pipes.map(idOf));
      this.isolationPipes.add(pipeId);
      // pipes we have not loaded yet: fetch them so the trace is drawn whole
      for (const p of iso.pipes) if (p && typeof p === 'object' && p.geometry) this.pipes.set(idOf(p), p);
      this.infraVersion++;
      this.isolationValves = iso.valves
        .map((v) => {
          const id = idOf(v);
          const node = this.nodes.get(id);
          const pt = pointOf(v) || pointOf(node);
          const depth = (v && v.properties?.depth_m) ?? node?.properties?.depth_m ?? 1.5;
          return pt ? { id, pos: [pt[0], pt[1], -Math.max(0.5, Number(depth) || 1.5) * this.exaggeration] as [number, number, number] } : null;
        })
        .filter(Boolean) as Array<{ id: string; pos: [number, number, number] }>;
      const missing = iso.valves.map(idOf).filter((id) => !this.isolationValves.find((v) => v.id === id));
      for (const id of missing) {
        try {
          const f = await getJSON<Feature>(`/ogc/collections/network_nodes/items/${encodeURIComponent(id)}`);
          this.nodes.set(id, f);
          this.infraVersion++;
          const pt = pointOf(f);
          if (pt) this.isolationValves.push({ id, pos: [pt[0], pt[1], -Math.max(0.5, Number(f.properties.depth_m) || 1.5) * this.exaggeration] });
        } catch {
          // drawn in the list only
        }
      }
      if (seq !== this.selectSeq) return;
      const list = (title: string, xs: any[], cls: string) =>
        h('div', { class: `iso-group ${cls}` },
          h('div', { class: 'iso-title', text: `${title}: ${xs.length}` }),
          h('div', { class: 'chips' }, ...xs.slice(0, 60).map((x) => h('span', { class: 'chip', 'data-id': idOf(x), text: idOf(x) }))));
      el()?.replaceChildren(...nn(
        h('h3', { text: t('isolation') }),
        list(t('valvesToClose'), iso.valves, 'iso-valves'),
        list(t('pipesOut'), iso.pipes, 'iso-pipes'),
        list(t('buildingsOut'), iso.buildings, 'iso-buildings'),
        iso.inoperable.length ? list(t('inoperable'), iso.inoperable, 'iso-inoperable') : null,
        iso.nodes.length ? list(t('nodesOut'), iso.nodes, 'iso-nodes') : null,
        h('button', { onclick: () => this.clearIsolation(), text: t('clear') }),
      ));
      this.applyHighlights();
      this.updateDeck();
    } catch (err: any) {
      if (seq !== this.selectSeq) return;
      el()?.replaceChildren(h('h3', { text: t('isolation') }), h('div', { class: 'error', text: `${t('error')}: ${err.message}` }));
    }
  }

  async runImpact(lon: number, lat: number): Promise<void> {
    this.needDeck();
    const radius = Number(($('#impact-radius') as HTMLInputElement).value) || 200;
    this.impact = { lon, lat, radius, result: null };
    this.updateDeck();
    const panel = $('#panel');
    panel.hidden = false;
    $('#app').classList.add('panel-open');
    panel.dataset.layer = 'impact';
    panel.dataset.id = `${lon.toFixed(5)},${lat.toFixed(5)}`;
    $('#panel-layer').textContent = t('impact');
    $('#panel-title').textContent = `${lon.toFixed(5)}, ${lat.toFixed(5)} · ${radius} m`;
    $('#panel-body').replaceChildren(h('div', { class: 'muted', text: t('loading') }));
    try {
      const body = await getJSON(`/api/v1/impact?${qs({ lon: lon.toFixed(6), lat: lat.toFixed(6), radius })}`);
      this.impact.result = body;
      const buildings = itemsOf(body, 'buildings');
      const poles = itemsOf(body, 'poles', 'smart_poles');
      const cams = itemsOf(body, 'cameras');
      // pipes: {"count","by_network":{"water":{"count","length_m"}},"items"} or a map by network
      const pipes = body?.pipes?.by_network ?? body?.pipes;
      const pipeRows: HTMLElement[] = [];
      if (pipes && !Array.isArray(pipes) && typeof pipes === 'object') {
        for (const [net, v] of Object.entries<any>(pipes)) {
          const n = Array.isArray(v) ? v.length : typeof v === 'object' && v ? (v.count ?? v.pipes ?? JSON.stringify(v)) : v;
          const len = typeof v === 'object' && !Array.isArray(v) && v.length_m ? ` · ${fmt(v.length_m)} m` : '';
          pipeRows.push(h('tr', { 'data-network': net }, h('th', { text: tv(net) }), h('td', { text: `${n}${len}` })));
        }
      } else if (Array.isArray(pipes)) {
        pipeRows.push(h('tr', {}, h('th', { text: t('pipes') }), h('td', { text: String(pipes.length) })));
      }
      $('#panel-body').replaceChildren(...nn(
        h('table', { class: 'attrs impact' },
          h('tr', { 'data-impact': 'buildings' }, h('th', { text: t('buildings') }), h('td', { text: String(countOf(body?.buildings, buildings)) })),
          h('tr', { 'data-impact': 'poles' }, h('th', { text: t('poles') }), h('td', { text: String(countOf(body?.poles ?? body?.smart_poles, poles)) })),
          h('tr', { 'data-impact': 'cameras' }, h('th', { text: t('cameras') }), h('td', { text: String(countOf(body?.cameras, cams)) })),
        ),
        pipeRows.length ? h('h3', { text: t('pipes') }) : null,
        pipeRows.length ? h('table', { class: 'attrs' }, ...pipeRows) : null,
        cams.length ? h('h3', { text: t('cameras') }) : null,
        cams.length ? h('div', { class: 'chips' }, ...cams.slice(0, 40).map((c) => h('span', { class: 'chip', text: c.name || idOf(c) }))) : null,
      ));
      this.applyHighlights();
      this.updateDeck();
    } catch (err: any) {
      $('#panel-body').replaceChildren(h('div', { class: 'error', text: `${t('error')}: ${err.message}` }));
    }
  }

  // ---------- live ----------

  private onLive(what: Set<string>): void {
    this.liveVersion++;
    this.updateDeck();
    if (what.has('devices') && this.selectionDevices.length) this.renderDevices();
    if (what.has('alarms')) this.renderAlarms();
    $('#live-count').textContent = `${this.live.devices.size}`;
  }

  private onNewAlarm(a: Alarm): void {
    this.toast(`${t('newAlarm')}: ${a.message || a.type || a.id}`, true);
    this.startBlink();
  }

  private startBlink(): void {
    if (this.blinkRaf) return;
    const step = () => {
      const now = Date.now();
      let any = false;
      for (const a of this.live.alarms.values()) {
        if (a.fresh && now - a.receivedAt > 60000) a.fresh = false;
        if (a.fresh && !a.acknowledged) any = true;
      }
      this.updateDeck();
      this.blinkRaf = any ? requestAnimationFrame(step) : 0;
    };
    this.blinkRaf = requestAnimationFrame(step);
  }

  private renderAlarms(): void {
    const list = [...this.live.alarms.values()].sort((a, b) => b.receivedAt - a.receivedAt || String(b.at).localeCompare(String(a.at)));
    $('#alarm-count').textContent = String(list.length);
    const ul = $('#alarm-list');
    if (!list.length) {
      ul.replaceChildren(h('li', { class: 'muted', text: t('noAlarms') }));
      return;
    }
    ul.replaceChildren(...list.slice(0, 200).map((a) =>
      h('li', { class: `alarm-row sev-${a.severity || 'major'}${a.fresh && !a.acknowledged ? ' fresh' : ''}`, 'data-alarm-id': String(a.id), 'data-device': a.device || '',
        onclick: () => {
          if (Number.isFinite(a.lon)) this.map.flyTo({ center: [a.lon!, a.lat!], zoom: Math.max(this.map.getZoom(), 17) });
          if (a.device) this.selectDevice(a.device);
        } },
        h('span', { class: 'sev', text: tv(a.severity || 'major') }),
        h('span', { class: 'msg', text: `${a.message || a.type || ''}` }),
        h('span', { class: 'muted small', text: `${a.device || ''} ${a.at ? new Date(a.at).toLocaleTimeString() : ''}` }),
        a.acknowledged ? h('span', { class: 'muted small', text: t('acked') }) :
          h('button', { class: 'ack', text: t('ack'), onclick: (ev: Event) => { ev.stopPropagation(); this.ack(a); } }),
      )));
  }

  private async ack(a: Alarm): Promise<void> {
    try {
      await postJSON(`/api/v1/alarms/${encodeURIComponent(String(a.id))}/ack`, {});
      a.acknowledged = true;
      a.fresh = false;
      this.liveVersion++;
      this.renderAlarms();
      this.updateDeck();
    } catch (err: any) {
      this.toast(`${t('ack')}: ${t('failed')}: ${err.message}`, true);
    }
  }

  private renderLiveStatus(s: LiveStatus): void {
    const el = $('#live-status');
    el.className = `live-status ${s}`;
    el.dataset.status = s;
    $('#live-text').textContent = t(s === 'online' ? 'online' : s === 'offline' ? 'offline' : 'connecting');
  }

  // ---------- the chrome: top bar, layer panel, alarms ----------

  private buildChrome(): void {
    const app = $('#app');
    app.replaceChildren(
      h('header', { id: 'topbar' },
        h('div', { class: 'brand' }, h('span', { class: 'logo' }), h('span', { id: 'app-title', text: t('title') })),
        h('div', { class: 'search' },
          h('input', { id: 'search', type: 'search', autocomplete: 'off', placeholder: t('search') }),
          h('ul', { id: 'search-results', hidden: true })),
        h('select', { id: 'district' }, h('option', { value: '', text: t('district') })),
        h('label', { class: 'toggle', id: 'impact-toggle' },
          h('input', { type: 'checkbox', id: 'impact-mode' }), h('span', { id: 'impact-label', text: t('impactMode') }),
          h('input', { type: 'number', id: 'impact-radius', value: '200', min: '10', max: '5000', step: '10', title: t('radius') }), 'm'),
        h('div', { id: 'live-status', class: 'live-status connecting' }, h('span', { class: 'dot' }), h('span', { id: 'live-text' }), ' · ', h('span', { id: 'live-count', text: '0' })),
        h('button', { id: 'lang', text: t('language') })),
      h('div', { id: 'map' }),
      h('div', { id: 'banner', hidden: true }),
      h('aside', { id: 'layers' },
        h('div', { class: 'panel-head' }, h('span', { id: 'layers-title', text: t('layers') }), h('button', { id: 'layers-fold', text: '‹' })),
        h('div', { id: 'layer-list' })),
      h('aside', { id: 'panel', hidden: true },
        h('div', { class: 'panel-head' },
          h('div', {}, h('div', { id: 'panel-layer', class: 'muted small' }), h('div', { id: 'panel-title' })),
          h('button', { id: 'panel-close', text: '×', title: t('close') })),
        h('div', { id: 'panel-body' })),
      h('aside', { id: 'alarms' },
        h('div', { class: 'panel-head' }, h('span', {}, h('span', { id: 'alarms-title', text: t('alarms') }), ' ', h('span', { id: 'alarm-count', class: 'badge', text: '0' }))),
        h('ul', { id: 'alarm-list' }, h('li', { class: 'muted', text: t('noAlarms') }))),
      h('div', { id: 'toasts' }),
    );
    $('#lang').addEventListener('click', () => setLang(getLang() === 'zh' ? 'en' : 'zh'));
    $('#panel-close').addEventListener('click', () => this.closePanel());
    $('#layers-fold').addEventListener('click', () => $('#layers').classList.toggle('folded'));
    $('#impact-mode').addEventListener('change', (e) => {
      this.impactMode = (e.target as HTMLInputElement).checked;
      if (!this.impactMode) {
        this.impact = null;
        this.applyHighlights();
        this.updateDeck();
      }
    });
    this.wireSearch();
    $('#district').addEventListener('change', (e) => this.flyToDistrict((e.target as HTMLSelectElement).value));
  }

  private relabel(): void {
    document.title = `citytwin · ${t('title')}`;
    $('#app-title').textContent = t('title');
    ($('#search') as HTMLInputElement).placeholder = t('search');
    $('#lang').textContent = t('language');
    $('#layers-title').textContent = t('layers');
    $('#alarms-title').textContent = t('alarms');
    $('#impact-label').textContent = t('impactMode');
    ($('#district').firstChild as HTMLOptionElement).textContent = t('district');
    this.renderLiveStatus(this.live.status);
    this.renderLayerPanel();
    this.renderAlarms();
    if (this.selection) $('#panel-layer').textContent = layerTitle(this.byName.get(this.selection.layer), this.selection.layer === 'devices' ? t('devices') : this.selection.layer);
    if (this.selection?.feature) {
      this.renderFeature(this.selection.layer, this.selection.id, this.selection.feature);
      this.renderHistoryPicker();
    }
    if (!$('#banner').hidden) $('#banner').textContent = t('tilesMissing');
    this.writeHash();
  }

  renderLayerPanel(): void {
    const el = $('#layer-list');
    const groups: Array<[string, HTMLElement[]]> = [['base', []], ['infra', []], ['live', []], ['analysis', []]];
    const group = (g: string) => (groups.find((x) => x[0] === g) || groups[0])[1];
    for (const l of this.registry) group(l.group === 'infra' ? 'infra' : 'base').push(this.layerRow(l.name, layerTitle(l), l));
    group('infra').push(this.layerRow('pipes3d', t('pipes3d')), this.layerRow('nodes3d', t('nodes3d')));
    group('live').push(this.layerRow('liveDevices', t('liveDevices')), this.layerRow('liveAlarms', t('liveAlarms')));
    const hexRow = this.layerRow('hexagons', t('hexagons'));
    const hexSel = h('select', { id: 'hex-metric', title: t('hexMetric') },
      h('option', { value: 'count', text: `${t('count')}: ${t('total')}`, selected: this.hexMetric === 'count' }),
      ...this.registry.filter((l) => !['districts', 'landuse', 'water', 'waterways'].includes(l.name))
        .map((l) => h('option', { value: l.name, text: `${t('count')}: ${layerTitle(l)}`, selected: l.name === this.hexMetric }))) as HTMLSelectElement;
    hexSel.addEventListener('change', () => {
      this.hexMetric = hexSel.value;
      this.applyStyleState();
    });
    hexRow.append(hexSel);
    group('analysis').push(
      hexRow,
      h('label', { class: 'layer-row' },
        h('input', { type: 'checkbox', id: 'lift-ground', checked: this.groundLifted, onchange: (e: Event) => this.liftGround((e.target as HTMLInputElement).checked) }),
        h('span', { text: t('liftGround') })),
      h('label', { class: 'layer-row' },
        h('span', { text: t('exaggeration') }),
        h('input', { type: 'range', id: 'exaggeration', min: '1', max: '30', value: String(this.exaggeration),
          oninput: (e: Event) => { this.exaggeration = Number((e.target as HTMLInputElement).value); this.updateDeck(); } })),
    );
    el.replaceChildren(...groups.filter(([, rows]) => rows.length).map(([g, rows]) =>
      h('section', { class: 'layer-group' }, h('h4', { text: t(g) }), ...rows)));
  }

  private layerRow(name: string, title: string, info?: LayerInfo): HTMLElement {
    const cb = h('input', { type: 'checkbox', 'data-layer': name, checked: this.visible.get(name) !== false }) as HTMLInputElement;
    cb.addEventListener('change', () => this.setVisible(name, cb.checked));
    const row = h('div', { class: 'layer', 'data-layer': name },
      h('label', { class: 'layer-row' }, cb, info ? h('span', { class: 'swatch', style: `background:${info.style.color}` }) : null, h('span', { text: title })));
    const pal = info?.style.palette;
    if (info && pal && info.style.color_by) {
      const hidden = this.filters.get(name) || new Set<string>();
      const legend = h('div', { class: 'legend' }, ...Object.entries(pal).map(([v, c]) => {
        const item = h('label', { class: `legend-item${hidden.has(v) ? ' off' : ''}`, title: `${t('filter')}: ${attrTitle(info.attributes.find((a) => a.name === info.style.color_by), info.style.color_by!)}` },
          h('input', { type: 'checkbox', 'data-layer': name, 'data-value': v, checked: !hidden.has(v) }),
          h('span', { class: 'swatch', style: `background:${c}` }), h('span', { text: tv(v) }));
        item.querySelector('input')!.addEventListener('change', (e) => this.setFilter(name, v, !(e.target as HTMLInputElement).checked));
        return item;
      }));
      const open = this.legendOpen.has(name);
      const det = h('details', { class: 'legend-box', open }, h('summary', { text: `${t('legend')} · ${t('filter')}` }), legend) as HTMLDetailsElement;
      det.addEventListener('toggle', () => (det.open ? this.legendOpen.add(name) : this.legendOpen.delete(name)));
      row.append(det);
    }
    return row;
  }

  setVisible(name: string, on: boolean): void {
    this.visible.set(name, on);
    if (on && name === 'hexagons') this.addDeferred('hex');
    if (on && (deckLayerIds as readonly string[]).includes(name)) this.needDeck();
    this.applyStyleState();
    if (on && (name === 'pipes3d' || name === 'nodes3d')) this.loadInfra();
    this.updateDeck();
  }

  setFilter(layer: string, value: string, hide: boolean): void {
    const s = this.filters.get(layer) || new Set<string>();
    if (hide) s.add(value);
    else s.delete(value);
    this.filters.set(layer, s);
    this.applyStyleState();
    this.updateDeck();
  }

  liftGround(on: boolean): void {
    this.groundLifted = on;
    if (on && this.map.getPitch() < 45) this.map.easeTo({ pitch: 60, duration: 600 });
    this.applyStyleState();
    this.updateDeck();
  }

  // ---------- search and districts ----------

  private wireSearch(): void {
    const input = $('#search') as HTMLInputElement;
    const ul = $('#search-results');
    let timer = 0;
    let seq = 0;
    const run = async () => {
      const q = input.value.trim();
      if (!q) {
        ul.hidden = true;
        return;
      }
      const my = ++seq;
      try {
        const body = await getJSON(`/api/v1/search?${qs({ q, limit: 12 })}`);
        if (my !== seq) return;
        const items = itemsOf(body, 'results', 'items', 'features');
        ul.replaceChildren(...(items.length ? items.map((r: any) => {
          const p = r.properties || r;
          const pt = pointOf(r) || pointOf(p);
          const bb: number[] | undefined = r.bbox;
          const layer = p.layer || r.layer;
          const id = String(p.id ?? r.id);
          return h('li', { class: 'search-hit', 'data-layer': layer, 'data-id': id,
            onclick: () => {
              ul.hidden = true;
              if (bb && bb.length === 4 && (bb[2] - bb[0] > 0.002 || bb[3] - bb[1] > 0.002)) {
                this.map.fitBounds([[bb[0], bb[1]], [bb[2], bb[3]]], { padding: 80, duration: 1200, pitch: this.map.getPitch(), bearing: this.map.getBearing() });
              } else if (pt) this.map.flyTo({ center: pt, zoom: Math.max(this.map.getZoom(), 17.5), duration: 1200 });
              this.select(layer, id);
            } },
          h('b', { text: p.name || id }), ' ', h('span', { class: 'muted small', text: `${layerTitle(this.byName.get(layer), layer)} · ${id}` }));
        }) : [h('li', { class: 'muted', text: t('noResults') })]));
        ul.hidden = false;
      } catch (err: any) {
        ul.replaceChildren(h('li', { class: 'error', text: err.message }));
        ul.hidden = false;
      }
    };
    input.addEventListener('input', () => {
      clearTimeout(timer);
      timer = window.setTimeout(run, 200);
    });
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        clearTimeout(timer);
        run();
      }
      if (e.key === 'Escape') ul.hidden = true;
    });
  }

  districts: Feature[] = [];

  private async loadDistricts(): Promise<void> {
    try {
      const fc = await getJSON('/ogc/collections/districts/items?limit=200');
      this.districts = fc.features || [];
      const sel = $('#district');
      sel.replaceChildren(h('option', { value: '', text: t('district') }),
        ...this.districts.map((f, i) => h('option', { value: String(i), text: getLang() === 'en' && f.properties.name_en ? f.properties.name_en : f.properties.name || featureId(f) })));
    } catch (err: any) {
      console.warn('districts:', err.message);
      window.setTimeout(() => this.loadDistricts(), 8000);
    }
  }

  flyToDistrict(i: string): void {
    const f = this.districts[Number(i)];
    const b = f && bboxOf(f.geometry);
    if (!b) return;
    this.map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 60, pitch: this.map.getPitch(), bearing: this.map.getBearing(), duration: 1500 });
  }

  // ---------- URL, idle, messages ----------

  private writeHash(): void {
    clearTimeout(this.hashTimer);
    this.hashTimer = window.setTimeout(() => {
      const c = this.map.getCenter();
      const v: View = { lon: c.lng, lat: c.lat, zoom: this.map.getZoom(), pitch: this.map.getPitch(), bearing: this.map.getBearing() };
      const sel = this.selection && this.selection.layer !== 'devices' ? { layer: this.selection.layer, id: this.selection.id } : null;
      const next = formatHash(v, getLang(), sel);
      if (next !== location.hash) history.replaceState(null, '', next);
    }, 150);
  }

  private onHashChange(): void {
    const s = parseHash(location.hash);
    if (s.view) this.map.jumpTo({ center: [s.view.lon, s.view.lat], zoom: s.view.zoom, pitch: s.view.pitch, bearing: s.view.bearing });
    if (s.lang && s.lang !== getLang()) setLang(s.lang === 'en' ? 'en' : 'zh');
    if (s.sel && (s.sel.layer !== this.selection?.layer || s.sel.id !== this.selection?.id)) this.select(s.sel.layer, s.sel.id);
  }

  private onIdle(): void {
    if (this.styleLoaded && this.timings.firstIdle === undefined) {
      const n = this.map.queryRenderedFeatures().length;
      if (n > 0) this.timings.firstIdle = performance.now() - t0;
    }
    this.checkOSM();
  }

  // checkOSM shows "© OpenStreetMap contributors" whenever OSM-sourced
  // features are in view. Tiles carry no source, so it asks the feature API
  // for a few features of the view (at most every 3 s).
  private osmTimer = 0;
  private osmChecked = '';
  private checkOSM(): void {
    const key = this.bbox().map((v) => v.toFixed(3)).join(',');
    if (key === this.osmChecked || this.osmTimer) return;
    this.osmTimer = window.setTimeout(async () => {
      this.osmTimer = 0;
      this.osmChecked = key;
      let osm = false;
      try {
        for (const layer of ['buildings', 'roads', 'landuse', 'water']) {
          if (!this.byName.has(layer)) continue;
          const fs = await ogcItems(layer, this.bbox(), 5, 1);
          if (fs.some(isOSM)) {
            osm = true;
            break;
          }
        }
      } catch {
        return;
      }
      for (const f of [...this.pipes.values()].slice(0, 50)) if (isOSM(f)) osm = true;
      this.setOSM(osm);
    }, 3000);
  }

  private setOSM(osm: boolean): void {
    if (osm === this.osmShown) return;
    this.osmShown = osm;
    const attrs = ['citytwin'];
    if (osm) attrs.push('© OpenStreetMap contributors');
    this.map.removeControl(this.attribution);
    this.attribution = new maplibregl.AttributionControl({ compact: false, customAttribution: attrs });
    this.map.addControl(this.attribution, 'bottom-right');
    $('#app').dataset.osm = String(osm);
  }

  toast(text: string, alert = false): void {
    const el = h('div', { class: `toast${alert ? ' alert' : ''}`, text });
    $('#toasts').append(el);
    window.setTimeout(() => el.remove(), 5000);
  }

  // ---------- for tests and measurements ----------

  // synthetic adds n markers around the centre that change every second,
  // through the same path as live deltas, to measure frame times.
  synthetic(n: number): () => void {
    const c = this.map.getCenter();
    let version = 1e9;
    const tick = () => {
      const now = new Date().toISOString();
      for (let i = 0; i < n; i++) {
        const a = (i / n) * Math.PI * 2 * 7, r = 0.0005 + (i / n) * 0.01;
        this.live.apply({
          type: 'delta', entity: `device:synthetic-${i}`, kind: 'device', layer: 'devices', version: version++,
          data: { id: `synthetic-${i}`, kind: 'sensor', name: `S${i}`, lon: c.lng + Math.cos(a) * r, lat: c.lat + Math.sin(a) * r * 0.8,
            status: Math.random() < 0.05 ? 'fault' : 'online', values: { v: { value: Math.round(Math.random() * 100), time: now } } },
        } as any);
      }
    };
    tick();
    const timer = window.setInterval(tick, 1000);
    return () => {
      clearInterval(timer);
      for (let i = 0; i < n; i++) this.live.devices.delete(`synthetic-${i}`);
      this.liveVersion++;
      this.updateDeck();
    };
  }
}

// isOSM tells a feature imported from OpenStreetMap: by its source, its
// source id (way/123) or its osm: properties.
function isOSM(f: Feature): boolean {
  const p = f.properties || {};
  if (typeof p.source === 'string' && /osm|openstreetmap/i.test(p.source)) return true;
  if (typeof p.source_id === 'string' && /^(node|way|relation)\/\d+$/.test(p.source_id)) return true;
  return Object.keys(p).some((k) => k.startsWith('osm:'));
}

// What the 3D pipes and nodes read of each feature (tooltips, colours,
// depth, the OSM attribution), and the node kinds they draw.
const pipeProps = 'network,depth_m,diameter_mm,status,source,source_id';
const nodeProps = 'kind,network,depth_m,valve_state,source,source_id';
const nodeFilter = "kind IN ('valve','hydrant','pump','tank')";

// deck.gl layer parameters: drawn over everything, or tested against the
// map's depth (see updateDeck).
const drawOnTop = { depthCompare: 'always' as const };
const depthTested = {};

// whenPageIdle runs fn when the main thread has nothing else to do (or
// after a second at the latest).
function whenPageIdle(fn: () => void): void {
  if (typeof window.requestIdleCallback === 'function') window.requestIdleCallback(() => fn(), { timeout: 1000 });
  else setTimeout(fn, 50);
}

function sameOriginURL(url: string): string {
  try {
    const u = new URL(url, location.href);
    if (u.origin !== location.origin && /^\/(tiles|ogc|api)\//.test(u.pathname)) return location.origin + u.pathname + u.search;
  } catch {
    // not a URL: leave it
  }
  return url;
}

function emptyStyle(): maplibregl.StyleSpecification {
  return { version: 8, sources: {}, layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#0b1220' } }] };
}


// countOf is a list answer's total: its "count" when it has one (a list may
// be cut short), else the number of items.
function countOf(x: any, items: any[]): number {
  return x && typeof x === 'object' && !Array.isArray(x) && typeof x.count === 'number' ? x.count : items.length;
}

function fmtValue(v: any): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(2);
  if (typeof v === 'boolean') return tv(v ? 'on' : 'off');
  return v === undefined || v === null ? '—' : String(v);
}

function deviceLabel(d: DeviceState): string {
  const vals = Object.entries(d.values || {}).slice(0, 3).map(([m, v]: [string, any]) => `${m} ${fmtValue(v?.value ?? v)}`);
  return vals.length ? vals.join('  ') : tv(d.status || '');
}

function deviceColor(d: DeviceState): RGBA {
  if (d.status === 'offline' || d.status === 'fault') return statusColor[d.status];
  const on = d.values?.on ?? d.values?.lamp ?? d.values?.power ?? d.values?.switch;
  if (on && typeof on.value === 'number' && /lamp|light/.test(d.kind || '')) return on.value > 0 ? statusColor.on : statusColor.off;
  return statusColor[d.status || ''] || [100, 210, 255, 255];
}

const twin = new CityTwin(await fetchStyle().catch((err) => {
  console.warn('style:', err.message);
  return null;
}));
(window as any).__citytwin = {
  twin,
  map: twin.map,
  get overlay() {
    return twin.overlay;
  },
  loadDeck: () => twin.loadDeck(),
  live: twin.live,
  timings: twin.timings,
  errors: twin.errors,
  select: (layer: string, id: string) => twin.select(layer, id),
  setVisible: (name: string, on: boolean) => twin.setVisible(name, on),
  styleLayersOf: (name: string) => twin.styleLayersOf(name),
  synthetic: (n: number) => twin.synthetic(n),
  deckLayer: (id: string) => (twin.overlay as any)?._deck?.props.layers.find((l: any) => l?.id === id),
  isolation: () => twin.isolation,
};
