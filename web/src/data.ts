// Reading features and the answers of the analysis APIs, which are tolerant
// of the shapes the server may give (GeoJSON features, id lists, objects).

export interface Feature {
  type: 'Feature';
  id?: string | number;
  geometry: any;
  properties: Record<string, any>;
}

export function featureId(f: Feature): string {
  const id = f.id ?? f.properties?.id;
  return id === undefined || id === null ? '' : String(id);
}

// lines returns the line strings of a LineString or MultiLineString.
export function lines(g: any): number[][][] {
  if (!g) return [];
  if (g.type === 'LineString') return [g.coordinates];
  if (g.type === 'MultiLineString') return g.coordinates;
  return [];
}

export function pointOf(x: any): [number, number] | null {
  if (!x) return null;
  if (typeof x.lon === 'number' && typeof x.lat === 'number') return [x.lon, x.lat];
  if (Array.isArray(x.point) && typeof x.point[0] === 'number') return [x.point[0], x.point[1]];
  const g = x.geometry || (x.type === 'Point' ? x : null);
  if (g && g.type === 'Point') return [g.coordinates[0], g.coordinates[1]];
  if (Array.isArray(x.coordinates) && typeof x.coordinates[0] === 'number') return [x.coordinates[0], x.coordinates[1]];
  return null;
}

// bboxOf returns [w, s, e, n] of a GeoJSON geometry.
export function bboxOf(g: any): [number, number, number, number] | null {
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  const walk = (c: any) => {
    if (typeof c[0] === 'number') {
      w = Math.min(w, c[0]); e = Math.max(e, c[0]);
      s = Math.min(s, c[1]); n = Math.max(n, c[1]);
      return;
    }
    for (const x of c) walk(x);
  };
  if (!g) return null;
  if (g.type === 'GeometryCollection') for (const x of g.geometries) walk(x.coordinates);
  else if (g.coordinates) walk(g.coordinates);
  return Number.isFinite(w) ? [w, s, e, n] : null;
}

// itemsOf turns a list answer into an array: a FeatureCollection, an array,
// or an object holding one under a known key.
export function itemsOf(x: any, ...keys: string[]): any[] {
  if (!x) return [];
  if (Array.isArray(x)) return x;
  if (x.type === 'FeatureCollection') return x.features || [];
  for (const k of [...keys, 'items', 'features']) {
    if (x[k] !== undefined && x[k] !== null) return itemsOf(x[k]);
  }
  return [];
}

export function idOf(x: any): string {
  if (x === null || x === undefined) return '';
  if (typeof x !== 'object') return String(x);
  const id = x.id ?? x.properties?.id ?? x.feature_id;
  return id === undefined || id === null ? '' : String(id);
}

export interface Isolation {
  valves: any[];
  inoperable: any[];
  pipes: any[];
  nodes: any[];
  buildings: any[];
  raw: any;
}

export function parseIsolation(x: any): Isolation {
  return {
    valves: itemsOf(x, 'valves', 'valves_to_close', 'close_valves'),
    inoperable: itemsOf(x, 'inoperable_valves'),
    pipes: itemsOf(x, 'lost_pipes', 'pipes', 'segment_pipes', 'affected_pipes'),
    nodes: itemsOf(x, 'lost_nodes', 'nodes', 'segment_nodes', 'affected_nodes'),
    buildings: itemsOf(x, 'buildings', 'affected_buildings'),
    raw: x,
  };
}

// ogcItems reads every feature of a collection in bbox, following next links.
// extra adds query parameters (properties, filter).
export async function ogcItems(layer: string, bbox: number[], limit: number, maxPages: number, signal?: AbortSignal, extra: Record<string, string> = {}): Promise<Feature[]> {
  const out: Feature[] = [];
  const q = new URLSearchParams({ bbox: bbox.map((v) => v.toFixed(6)).join(','), limit: String(limit), f: 'json', ...extra });
  let url: string | null = `/ogc/collections/${encodeURIComponent(layer)}/items?${q}`;
  for (let page = 0; url && page < maxPages; page++) {
    const res: Response = await fetch(url, { headers: { Accept: 'application/geo+json, application/json' }, signal });
    if (!res.ok) throw new Error(`${layer}: HTTP ${res.status}`);
    const fc = await res.json();
    out.push(...(fc.features || []));
    const next: any = (fc.links || []).find((l: any) => l.rel === 'next');
    url = next ? sameOrigin(next.href) : null;
  }
  return out;
}

// sameOrigin keeps a server-given link on this origin (the server may name
// itself by another host name than the one the browser used).
export function sameOrigin(href: string): string {
  try {
    const u = new URL(href, location.href);
    return u.pathname + u.search;
  } catch {
    return href;
  }
}
