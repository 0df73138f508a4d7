// protomaps-leaflet reads Leaflet from a global `L`; the widget keeps Leaflet out of the page's
// globals, so build.mjs injects this module wherever that bundle names `L`, and the widget
// hands its own Leaflet over (useLeaflet: GridLayer, DomUtil and latLngBounds, all that the
// renderer and protomaps-leaflet use) before it asks for a layer.
export let L;
export function useLeaflet(leaflet) {
  L = leaflet;
}
