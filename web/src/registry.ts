// The layer registry as the server describes it: titles in Chinese and
// English, geometry type, attributes and style hints (palette, extrusion).

import { getJSON } from './api';
import { getLang } from './i18n';

export interface Attribute {
  name: string;
  type: string;
  title?: string;
  unit?: string;
  enum?: string[];
}

export interface LayerInfo {
  name: string;
  title: string;
  title_zh?: string;
  geometry_type: string;
  group: string;
  attributes: Attribute[];
  min_zoom?: number;
  max_zoom?: number;
  style: { color: string; color_by?: string; palette?: Record<string, string>; extrude?: string };
  user?: boolean;
}

// fromCollection reads a layer out of an OGC collection, which carries the
// registry description either inline or under a "citytwin" member.
function fromCollection(c: any): LayerInfo | null {
  if (!c || typeof c !== 'object' || !c.id) return null;
  const src = c.citytwin || c.layer || c;
  return {
    name: c.id,
    title: c.title || src.title || c.id,
    title_zh: src.title_zh || c.title_zh,
    geometry_type: src.geometry_type || c.geometry_type || c.itemType || '',
    group: src.group || c.group || 'base',
    attributes: Array.isArray(src.attributes) ? src.attributes : [],
    min_zoom: src.min_zoom,
    max_zoom: src.max_zoom,
    style: src.style || c.style || { color: '#9aa5b8' },
    user: src.user,
  };
}

export async function loadRegistry(): Promise<LayerInfo[]> {
  let layers: LayerInfo[] = [];
  try {
    const body = await getJSON<any>('/api/v1/layers');
    const list = Array.isArray(body) ? body : body.layers;
    if (Array.isArray(list)) layers = list;
  } catch {
    // fall through to the OGC collections
  }
  if (layers.length === 0) {
    const body = await getJSON<any>('/ogc/collections');
    layers = (body.collections || []).map(fromCollection).filter(Boolean) as LayerInfo[];
  }
  return layers;
}

// Chinese titles of the built-in layers, for a server that gives only the
// English ones (OGC collections).
const layerZH: Record<string, string> = {
  districts: '行政区', landuse: '用地', water: '水域', waterways: '河道', roads: '道路', parking_lots: '停车场',
  buildings: '建筑', pipes: '管线', network_nodes: '管网节点', smart_poles: '智慧灯杆', cameras: '摄像头', project_sites: '重大项目',
};

export function layerTitle(l: LayerInfo | undefined, fallback = ''): string {
  if (!l) return fallback;
  if (getLang() === 'zh') return l.title_zh || layerZH[l.name] || l.title;
  return l.title;
}

const attrZH: Record<string, string> = {
  name: '名称', name_en: '英文名', code: '代码', population: '人口', class: '类别', lanes: '车道数',
  oneway: '单行', capacity: '车位', kind: '类型', address: '地址', use: '用途', height_m: '高度',
  floors: '层数', year_built: '建成年份', network: '管网', diameter_mm: '管径', material: '材质',
  depth_m: '埋深', length_m: '长度', install_year: '敷设年份', status: '状态', from_node: '起点',
  to_node: '终点', from_invert_m: '上游管底', to_invert_m: '下游管底', tunnel: '综合管廊',
  elevation_m: '高程', valve_state: '阀门状态', on_pipe: '所在管段', near_node: '邻近节点',
  functions: '功能', road: '道路', pole: '灯杆', direction_deg: '朝向', fov_deg: '视场角',
  range_m: '视距', stream_url: '视频流', type: '类型', stage: '阶段', investment: '投资（百万元）',
  progress_pct: '进度', start_date: '开工', planned_end: '计划完工', owner: '业主', risk_level: '风险',
  id: '编号', source: '来源',
};

export function attrTitle(a: Attribute | undefined, name: string): string {
  if (getLang() === 'zh' && attrZH[name]) return attrZH[name];
  return a?.title || name;
}
