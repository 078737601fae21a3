// UI text in Chinese (the default, for the city's staff) and English.

export type Lang = 'zh' | 'en';

const zh: Record<string, string> = {
  title: '城市数字孪生 · 一张图',
  layers: '图层',
  base: '基础图层',
  infra: '基础设施',
  live: '实时',
  analysis: '分析',
  search: '搜索名称或编号…',
  noResults: '无结果',
  district: '行政区…',
  alarms: '告警',
  noAlarms: '无活动告警',
  ack: '确认',
  acked: '已确认',
  online: '实时在线',
  offline: '离线，正在重连…',
  connecting: '连接中…',
  tilesMissing: '底图服务暂不可用，正在重试…',
  close: '关闭',
  attributes: '属性',
  devices: '设备',
  noDevices: '无绑定设备',
  history: '历史曲线',
  isolation: '关阀分析',
  valvesToClose: '需关闭阀门',
  pipesOut: '停水管段',
  buildingsOut: '受影响建筑',
  nodesOut: '受影响节点',
  inoperable: '无法操作的阀门',
  impact: '影响范围',
  impactMode: '点选影响分析',
  radius: '半径',
  cameras: '可视摄像头',
  poles: '灯杆',
  buildings: '建筑',
  pipes: '管线',
  liftGround: '掀开地面',
  pipes3d: '地下管线 (3D)',
  nodes3d: '阀门/消火栓 (3D)',
  liveDevices: '实时设备',
  liveAlarms: '告警点',
  hexagons: 'H3 蜂窝聚合',
  hexMetric: '统计',
  count: '数量',
  filter: '筛选',
  legend: '图例',
  language: 'English',
  key: 'API 密钥（写操作）',
  switchOn: '开灯',
  switchOff: '关灯',
  sent: '已发送',
  failed: '失败',
  loading: '加载中…',
  error: '错误',
  status: '状态',
  lastSeen: '最后上报',
  metric: '指标',
  progress: '进度',
  exaggeration: '深度放大',
  newAlarm: '新告警',
  trace: '追踪',
  clear: '清除',
  view3d: '3D',
  north: '正北',
  total: '合计',
};

const en: Record<string, string> = {
  title: 'City digital twin · one map',
  layers: 'Layers',
  base: 'Base map',
  infra: 'Infrastructure',
  live: 'Live',
  analysis: 'Analysis',
  search: 'Search name or id…',
  noResults: 'No results',
  district: 'District…',
  alarms: 'Alarms',
  noAlarms: 'No active alarms',
  ack: 'Ack',
  acked: 'acknowledged',
  online: 'Live',
  offline: 'Offline, reconnecting…',
  connecting: 'Connecting…',
  tilesMissing: 'Map tiles unavailable, retrying…',
  close: 'Close',
  attributes: 'Attributes',
  devices: 'Devices',
  noDevices: 'No devices bound',
  history: 'History',
  isolation: 'Isolation trace',
  valvesToClose: 'Valves to close',
  pipesOut: 'Pipes out of service',
  buildingsOut: 'Buildings affected',
  nodesOut: 'Nodes affected',
  inoperable: 'Inoperable valves',
  impact: 'Impact',
  impactMode: 'Impact at a clicked point',
  radius: 'Radius',
  cameras: 'Cameras that see it',
  poles: 'Poles',
  buildings: 'Buildings',
  pipes: 'Pipes',
  liftGround: 'Lift the ground',
  pipes3d: 'Underground pipes (3D)',
  nodes3d: 'Valves & hydrants (3D)',
  liveDevices: 'Live devices',
  liveAlarms: 'Alarm markers',
  hexagons: 'H3 hexagons',
  hexMetric: 'Metric',
  count: 'Count',
  filter: 'Filter',
  legend: 'Legend',
  language: '中文',
  key: 'API key (for writes)',
  switchOn: 'Light on',
  switchOff: 'Light off',
  sent: 'sent',
  failed: 'failed',
  loading: 'Loading…',
  error: 'Error',
  status: 'Status',
  lastSeen: 'Last seen',
  metric: 'Metric',
  progress: 'Progress',
  exaggeration: 'Depth exaggeration',
  newAlarm: 'New alarm',
  trace: 'Trace',
  clear: 'Clear',
  view3d: '3D',
  north: 'North up',
  total: 'Total',
};

// Words of the data (attribute values) shown translated in Chinese.
const valuesZH: Record<string, string> = {
  residential: '居住', commercial: '商业', office: '办公', industrial: '工业', school: '学校',
  education: '教育', hospital: '医院', public: '公共', retail: '零售', park: '公园', grass: '绿地',
  forest: '林地', construction: '在建',
  water: '给水', gas: '燃气', heat: '供热', drainage: '雨水', sewer: '污水', power: '电力', telecom: '通信',
  valve: '阀门', hydrant: '消火栓', tank: '水箱', reservoir: '水库', source: '水源', pump: '泵站',
  manhole: '检查井', outfall: '排放口', junction: '节点', meter: '水表',
  ok: '正常', fault: '故障', offline: '离线', online: '在线', maintenance: '维护',
  planned: '规划', approved: '已批复', under_construction: '在建', completed: '已完工', stalled: '停滞',
  open: '开', closed: '关', low: '低', medium: '中', high: '高',
  critical: '严重', major: '重要', minor: '次要', warning: '警告', info: '提示',
  motorway: '高速', trunk: '快速路', primary: '主干路', secondary: '次干路', tertiary: '支路', service: '服务路',
  on: '开', off: '关',
};

let lang: Lang = 'zh';
const listeners: Array<() => void> = [];

export function initLang(fromHash: string | null): void {
  const saved = fromHash || (typeof localStorage !== 'undefined' ? localStorage.getItem('citytwin.lang') : null);
  lang = saved === 'en' ? 'en' : 'zh';
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
}

export function getLang(): Lang {
  return lang;
}

export function setLang(l: Lang): void {
  if (l === lang) return;
  lang = l;
  localStorage.setItem('citytwin.lang', l);
  document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en';
  for (const fn of listeners) fn();
}

export function onLangChange(fn: () => void): void {
  listeners.push(fn);
}

export function t(key: string): string {
  const d = lang === 'zh' ? zh : en;
  return d[key] ?? en[key] ?? key;
}

// tv translates a data value (a use, a network, a status) for display.
export function tv(value: unknown): string {
  if (value === null || value === undefined) return '';
  const s = String(value);
  if (lang === 'zh' && valuesZH[s]) return valuesZH[s];
  return s.replace(/_/g, ' ');
}
