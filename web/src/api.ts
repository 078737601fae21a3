// Calls to citytwin's own HTTP API. Errors carry the server's JSON error body.

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public where?: string,
  ) {
    super(message);
  }
}

export function apiKey(): string {
  return localStorage.getItem('citytwin.key') || '';
}

function headers(extra?: Record<string, string>): Record<string, string> {
  const h: Record<string, string> = { Accept: 'application/json', ...extra };
  const k = apiKey();
  if (k) h.Authorization = 'Bearer ' + k;
  return h;
}

async function check(res: Response): Promise<Response> {
  if (res.ok) return res;
  let code = 'http_' + res.status;
  let message = res.statusText || 'HTTP ' + res.status;
  let where: string | undefined;
  try {
    const body = await res.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
      where = body.error.where;
    }
  } catch {
    // not JSON: keep the status text
  }
  throw new ApiError(res.status, code, message, where);
}

export async function getJSON<T = any>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { headers: headers(), signal });
  await check(res);
  return res.json() as Promise<T>;
}

export async function postJSON<T = any>(path: string, body: unknown): Promise<T> {
  const res = await fetch(path, {
    method: 'POST',
    headers: headers({ 'Content-Type': 'application/json' }),
    body: JSON.stringify(body ?? {}),
  });
  await check(res);
  const text = await res.text();
  return (text ? JSON.parse(text) : {}) as T;
}

export function qs(params: Record<string, string | number | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') u.set(k, String(v));
  return u.toString();
}
