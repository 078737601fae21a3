// The live feed: a websocket client of /ws (protocol in twin/hub/doc.go) that
// subscribes to the viewport, keeps the latest state of devices and the open
// alarms, reconnects by itself with "since" and says when it is offline.

export interface DeviceState {
  id: string;
  kind?: string;
  name?: string;
  lon: number;
  lat: number;
  feature?: { layer: string; id: string | number } | null;
  status?: string;
  last_seen?: string;
  values?: Record<string, { value: number; time: string }>;
}

export interface Alarm {
  id: string | number;
  device?: string;
  type?: string;
  severity?: string;
  message?: string;
  active?: boolean;
  acknowledged?: boolean;
  lon?: number;
  lat?: number;
  at?: string;
  // receivedAt is when this client first saw the alarm (for the blink).
  receivedAt: number;
  fresh: boolean;
}

export type LiveStatus = 'connecting' | 'online' | 'offline';

interface Msg {
  type: string;
  id?: unknown;
  epoch?: string;
  seq?: number;
  entity?: string;
  kind?: string;
  layer?: string;
  version?: number;
  at?: string;
  data?: any;
  entities?: Msg[];
  events?: Msg[];
  items?: Msg[];
  reason?: string;
  message?: string;
}

export class LiveFeed {
  devices = new Map<string, DeviceState>();
  alarms = new Map<string, Alarm>();
  featureStatus = new Map<string, any>();
  status: LiveStatus = 'connecting';
  epoch = '';
  seq = 0;
  // counters for tests and the status line
  messages = 0;
  reconnects = 0;

  private versions = new Map<string, number>();
  private ws: WebSocket | null = null;
  private bbox: [number, number, number, number] | null = null;
  private layers: string[] = ['devices', 'alarms'];
  private backoff = 500;
  private timer: number | undefined;
  private closed = false;
  private changedTimer: number | undefined;
  private listeners: Array<(what: Set<string>) => void> = [];
  private statusListeners: Array<(s: LiveStatus) => void> = [];
  private alarmListeners: Array<(a: Alarm) => void> = [];
  private pending = new Set<string>();
  private subId = 0;

  constructor(private url: string) {}

  onChange(fn: (what: Set<string>) => void): void {
    this.listeners.push(fn);
  }
  onStatus(fn: (s: LiveStatus) => void): void {
    this.statusListeners.push(fn);
  }
  onNewAlarm(fn: (a: Alarm) => void): void {
    this.alarmListeners.push(fn);
  }

  start(): void {
    this.closed = false;
    this.connect();
  }

  stop(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.ws?.close(1000);
  }

  // setViewport subscribes to what is in bbox; sent again as the view moves.
  setViewport(bbox: [number, number, number, number]): void {
    const b = bbox.map((v, i) => {
      const lim = i % 2 === 0 ? 180 : 90;
      return Math.max(-lim, Math.min(lim, v));
    }) as [number, number, number, number];
    if (b[0] >= b[2] || b[1] >= b[3]) return;
    this.bbox = b;
    this.subscribe(false);
  }

  private setStatus(s: LiveStatus): void {
    if (s === this.status) return;
    this.status = s;
    for (const fn of this.statusListeners) fn(s);
  }

  private connect(): void {
    if (this.closed) return;
    const u = new URL(this.url, location.href);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    const key = localStorage.getItem('citytwin.key');
    if (key) u.searchParams.set('access_token', key);
    let ws: WebSocket;
    try {
      ws = new WebSocket(u.toString());
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = 500;
      this.subscribe(true);
    };
    ws.onmessage = (ev) => {
      let m: Msg;
      try {
        m = JSON.parse(typeof ev.data === 'string' ? ev.data : '');
      } catch {
        return;
      }
      this.handle(m);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.setStatus('offline');
      this.retry();
    };
    ws.onerror = () => {
      // onclose follows
    };
  }

  private retry(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    const wait = this.backoff * (0.75 + Math.random() * 0.5);
    this.backoff = Math.min(this.backoff * 2, 10000);
    this.reconnects++;
    this.timer = window.setTimeout(() => this.connect(), wait);
  }

  private subscribe(afterConnect: boolean): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || !this.bbox) return;
    const msg: Record<string, unknown> = { type: 'subscribe', id: ++this.subId, layers: this.layers, bbox: this.bbox };
    // Resume after a reconnect: the server sends what was missed, or a reset
    // and a fresh snapshot. A viewport change asks for a fresh snapshot.
    if (afterConnect && this.epoch) msg.since = { epoch: this.epoch, seq: this.seq };
    ws.send(JSON.stringify(msg));
  }

  private handle(m: Msg): void {
    this.messages++;
    if (m.epoch) this.epoch = m.epoch;
    switch (m.type) {
      case 'snapshot':
        this.applySnapshot(m);
        this.setStatus('online');
        break;
      case 'resumed':
        this.setStatus('online');
        break;
      case 'reset':
        // a snapshot follows at once
        break;
      case 'delta':
      case 'event':
        this.apply(m);
        break;
      case 'batch':
        for (const it of m.items || []) this.apply(it);
        break;
      case 'error':
        console.warn('live feed:', m.message);
        break;
    }
    if (typeof m.seq === 'number' && m.seq > this.seq && m.type !== 'error') this.seq = m.seq;
    if (m.type === 'snapshot' || m.type === 'reset') this.seq = m.seq ?? this.seq;
  }

  private applySnapshot(m: Msg): void {
    this.devices.clear();
    this.featureStatus.clear();
    this.versions.clear();
    const oldAlarms = this.alarms;
    this.alarms = new Map();
    for (const e of m.entities || []) this.apply(e, true);
    for (const e of m.events || []) {
      const key = alarmKey(e);
      const prev = key ? oldAlarms.get(key) : undefined;
      this.apply(e, true, prev);
    }
    this.changed('devices');
    this.changed('alarms');
  }

  // apply puts one entity or event into the state. Older versions are ignored.
  apply(m: Msg, fromSnapshot = false, prevAlarm?: Alarm): void {
    const entity = m.entity || '';
    if (entity && typeof m.version === 'number') {
      const v = this.versions.get(entity);
      if (v !== undefined && m.version <= v) return;
      this.versions.set(entity, m.version);
    }
    const kind = m.kind || '';
    if (kind === 'alarm' || m.layer === 'alarms') {
      this.applyAlarm(m, fromSnapshot, prevAlarm);
      return;
    }
    if (kind === 'feature_status') {
      if (m.data == null) this.featureStatus.delete(entity);
      else this.featureStatus.set(entity, m.data);
      this.changed('features');
      return;
    }
    if (kind.startsWith('device') || m.layer === 'devices') {
      const id = m.data?.id ?? entity.replace(/^device:/, '');
      if (m.data == null) {
        this.devices.delete(id);
      } else {
        const prev = this.devices.get(id);
        const d: DeviceState = { ...(prev || {}), ...m.data, id };
        if (prev?.values && m.data.values) d.values = { ...prev.values, ...m.data.values };
        this.devices.set(id, d);
      }
      this.changed('devices');
    }
  }

  private applyAlarm(m: Msg, fromSnapshot: boolean, prev?: Alarm): void {
    const key = alarmKey(m);
    if (!key) return;
    if (m.data == null) {
      this.alarms.delete(key);
      this.changed('alarms');
      return;
    }
    const old = prev || this.alarms.get(key);
    const a: Alarm = {
      ...m.data,
      id: m.data.id ?? key,
      at: m.data.raised_at || m.data.at || m.at,
      receivedAt: old ? old.receivedAt : Date.now(),
      fresh: old ? old.fresh : !fromSnapshot,
    };
    const open = a.active !== false || a.acknowledged === false;
    if (!open || (a.active === false && a.acknowledged)) {
      this.alarms.delete(key);
    } else {
      this.alarms.set(key, a);
      if (!old && !fromSnapshot) for (const fn of this.alarmListeners) fn(a);
    }
    this.changed('alarms');
  }

  // changed batches notifications: at most one each 200 ms, so that a busy
  // feed does not redraw the map on every message.
  private changed(what: string): void {
    this.pending.add(what);
    if (this.changedTimer !== undefined) return;
    this.changedTimer = window.setTimeout(() => {
      this.changedTimer = undefined;
      const p = this.pending;
      this.pending = new Set();
      for (const fn of this.listeners) fn(p);
    }, 200);
  }
}

function alarmKey(m: Msg): string {
  if (m.data && m.data.id !== undefined && m.data.id !== null) return String(m.data.id);
  return (m.entity || '').replace(/^alarm:/, '');
}
