// Colours as deck.gl arrays.

export type RGBA = [number, number, number, number];

export function hexToRGBA(hex: string | undefined, alpha = 255): RGBA {
  if (!hex) return [154, 165, 184, alpha];
  let h = hex.replace('#', '');
  if (h.length === 3) h = h.split('').map((c) => c + c).join('');
  const n = parseInt(h.slice(0, 6), 16);
  if (!Number.isFinite(n)) return [154, 165, 184, alpha];
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255, alpha];
}

export const statusColor: Record<string, RGBA> = {
  ok: [48, 209, 88, 255],
  online: [48, 209, 88, 255],
  on: [255, 214, 10, 255],
  off: [90, 100, 120, 255],
  fault: [255, 59, 48, 255],
  offline: [142, 142, 147, 255],
  maintenance: [255, 159, 10, 255],
};

export const severityColor: Record<string, RGBA> = {
  critical: [255, 45, 85, 255],
  major: [255, 59, 48, 255],
  high: [255, 59, 48, 255],
  minor: [255, 159, 10, 255],
  medium: [255, 159, 10, 255],
  warning: [255, 204, 0, 255],
  low: [255, 204, 0, 255],
  info: [100, 210, 255, 255],
};
