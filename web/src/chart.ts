// The history chart of a device metric (uPlot): mean line with a min–max band.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Bucket {
  t: number; // seconds
  min: number | null;
  mean: number | null;
  max: number | null;
}

// parseHistory reads the history API's answer: an array of buckets, or an
// object with them under points/buckets/observations/data.
export function parseHistory(x: any, metric?: string): Bucket[] {
  // citytwin's answer: {"device","from","to","bucket_s","metrics":{"m":[{time,min,mean,max,count}]}}
  if (x && x.metrics && typeof x.metrics === 'object' && !Array.isArray(x.metrics)) {
    x = (metric && x.metrics[metric]) || Object.values(x.metrics)[0] || [];
  }
  const arr: any[] = Array.isArray(x) ? x : x?.points || x?.buckets || x?.observations || x?.data || x?.series || [];
  const out: Bucket[] = [];
  for (const p of arr) {
    if (!p) continue;
    const time = p.time ?? p.t ?? p.bucket ?? p.start ?? p.ts;
    const t = typeof time === 'number' ? (time > 1e12 ? time / 1000 : time) : Date.parse(time) / 1000;
    if (!Number.isFinite(t)) continue;
    const num = (v: any) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
    const mean = num(p.mean ?? p.avg ?? p.value);
    out.push({ t, mean, min: num(p.min) ?? mean, max: num(p.max) ?? mean });
  }
  out.sort((a, b) => a.t - b.t);
  return out;
}

// labelWidth is the y axis's width for its longest tick label.
function labelWidth(_u: uPlot, values: string[] | null): number {
  const longest = Math.max(0, ...(values || []).map((v) => String(v ?? '').length));
  return Math.max(40, longest * 7 + 16);
}

export function drawChart(el: HTMLElement, buckets: Bucket[], label: string): uPlot {
  el.innerHTML = '';
  const width = Math.max(240, el.clientWidth || 320);
  const data: uPlot.AlignedData = [
    buckets.map((b) => b.t),
    buckets.map((b) => b.min),
    buckets.map((b) => b.mean),
    buckets.map((b) => b.max),
  ];
  const t0 = buckets.length ? buckets[0].t : Date.now() / 1000;
  const opts: uPlot.Options = {
    width,
    height: 160,
    legend: { show: false },
    cursor: { drag: { x: true, y: false } },
    // one bucket alone would stretch the time axis over years: show the hour
    // round it (a fixed range; uPlot does not ask a range function then)
    scales: { x: buckets.length > 1 ? { time: true } : { time: true, auto: false, range: [t0 - 1800, t0 + 1800] } },
    axes: [
      { stroke: '#9fb0c8', grid: { stroke: '#23304a' }, ticks: { stroke: '#23304a' } },
      // wide enough for the longest value label (energy meters count in the millions)
      { stroke: '#9fb0c8', grid: { stroke: '#23304a' }, ticks: { stroke: '#23304a' }, size: labelWidth },
    ],
    series: [
      {},
      { label: 'min', stroke: 'rgba(79,195,247,0.35)', width: 1 },
      { label, stroke: '#4fc3f7', width: 2 },
      { label: 'max', stroke: 'rgba(79,195,247,0.35)', width: 1 },
    ],
    bands: [{ series: [3, 1], fill: 'rgba(79,195,247,0.12)' }],
  };
  return new uPlot(opts, data, el);
}
