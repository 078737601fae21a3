// deck.gl, loaded on demand: main.ts imports this module dynamically once
// the first map is drawn (or when a deck layer is first needed), so that
// deck.gl's ~900 KB are neither parsed nor run before the city is on screen.

export { MapboxOverlay } from '@deck.gl/mapbox';
export { PathLayer, ScatterplotLayer, TextLayer, GeoJsonLayer } from '@deck.gl/layers';
