// The view kept in the URL's hash, so that a link reopens the same place:
//   #LON/LAT/ZOOM/PITCH/BEARING[&lang=en][&sel=LAYER:ID]

export interface View {
  lon: number;
  lat: number;
  zoom: number;
  pitch: number;
  bearing: number;
}

export interface HashState {
  view: View | null;
  lang: string | null;
  sel: { layer: string; id: string } | null;
}

export const defaultView: View = { lon: 116.3, lat: 37.45, zoom: 14.5, pitch: 50, bearing: -20 };

export function parseHash(hash: string): HashState {
  const out: HashState = { view: null, lang: null, sel: null };
  const h = hash.replace(/^#/, '');
  if (!h) return out;
  const [first, ...rest] = h.split('&');
  const parts = first.split('/').map(Number);
  if (parts.length >= 3 && parts.slice(0, 3).every(Number.isFinite)) {
    const [lon, lat, zoom, pitch = 0, bearing = 0] = parts;
    if (Math.abs(lon) <= 180 && Math.abs(lat) <= 85.06 && zoom >= 0 && zoom <= 24) {
      out.view = {
        lon, lat, zoom,
        pitch: Number.isFinite(pitch) ? Math.min(85, Math.max(0, pitch)) : 0,
        bearing: Number.isFinite(bearing) ? bearing : 0,
      };
    }
  }
  for (const kv of rest) {
    const [k, v = ''] = kv.split('=');
    if (k === 'lang') out.lang = v;
    if (k === 'sel') {
      const i = v.indexOf(':');
      if (i > 0) out.sel = { layer: decodeURIComponent(v.slice(0, i)), id: decodeURIComponent(v.slice(i + 1)) };
    }
  }
  return out;
}

export function formatHash(v: View, lang: string, sel: { layer: string; id: string } | null): string {
  let h = `#${v.lon.toFixed(5)}/${v.lat.toFixed(5)}/${v.zoom.toFixed(2)}/${Math.round(v.pitch)}/${Math.round(v.bearing)}`;
  if (lang !== 'zh') h += `&lang=${lang}`;
  if (sel) h += `&sel=${encodeURIComponent(sel.layer)}:${encodeURIComponent(sel.id)}`;
  return h;
}
