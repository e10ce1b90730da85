/* Helpers shared by geogame's pages (play, summary, duel): the offline world map, great-circle
 * lines and number formatting, as `window.geogame`. Plain browser JavaScript, no build step.
 * The round UI that the play and duel pages share is round.js, on top of this. */
(function () {
  "use strict";

  const OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";
  const OSM_ATTRIBUTION =
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors';
  const OUTLINE_ATTRIBUTION = 'Outlines: <a href="https://www.naturalearthdata.com/">Natural Earth</a>';
  const OUTLINE_STYLE = { color: "#8a97a5", weight: 1, fillColor: "#f3efe4", fillOpacity: 1 };
  const OUTLINE_OVER_TILES = { color: "#8a97a5", weight: 1, opacity: 0.3, fillOpacity: 0 };
  const ANSWER_STYLE = { radius: 9, color: "#ffffff", weight: 3, fillColor: "#1a7f37", fillOpacity: 1 };
  const GUESS_STYLE = { radius: 8, color: "#ffffff", weight: 3, fillColor: "#2463eb", fillOpacity: 1 };
  const OPPONENT_STYLE = { radius: 8, color: "#ffffff", weight: 3, fillColor: "#c2410c", fillOpacity: 1 };
  const LINE_STYLE = { color: "#c2410c", weight: 3, dashArray: "6 8" };
  const WORLD_VIEW = [[-58, -180], [78, 180]]; // the inhabited world, less the polar seas

  function $(id) {
    return document.getElementById(id);
  }

  /** A new element. Text from people or files goes in only through here (as textContent) or
   * another textContent; never through innerHTML or an HTML string. */
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** Content for Leaflet's bindTooltip/bindPopup: Leaflet writes a string there as HTML, so a
   * display name or a manifest's city would become markup; a node is inserted as it is. */
  function textLabel(text) {
    return el("span", {}, String(text));
  }

  /** Natural Earth rings that cross the antimeridian jump from +180 to -180, which Leaflet draws
   * as a line across the whole map (Russia, Fiji). Make such rings continuous instead, letting them
   * run past 180. Rings that go round a pole (Antarctica) are left alone. */
  function unwrapAntimeridian(geometry) {
    const fixRing = (ring) => {
      let shift = 0;
      let winding = 0;
      const out = [ring[0]];
      for (let i = 1; i < ring.length; i++) {
        const step = ring[i][0] - ring[i - 1][0];
        const wrap = step > 180 ? -360 : step < -180 ? 360 : 0;
        shift += wrap;
        winding += step + wrap;
        out.push([ring[i][0] + shift, ring[i][1]]);
      }
      if (Math.abs(winding) > 180) return ring; // round a pole
      return out.some(([lon]) => lon < -180) ? out.map(([lon, lat]) => [lon + 360, lat]) : out;
    };
    if (geometry.type === "Polygon") geometry.coordinates = geometry.coordinates.map(fixRing);
    if (geometry.type === "MultiPolygon") {
      geometry.coordinates = geometry.coordinates.map((polygon) => polygon.map(fixRing));
    }
  }

  /** A Leaflet map with the Natural Earth country outlines, which work offline; OpenStreetMap
   * tiles are added underneath only if a probe tile loads. */
  function worldMap(container, worldUrl) {
    const map = L.map(container, {
      minZoom: 1,
      maxZoom: 18,
      zoomSnap: 0.25,
      worldCopyJump: false,
      maxBounds: [[-90, -250], [90, 250]],
      maxBoundsViscosity: 1,
      keyboard: false, // Left/Right switch the views on the play page, not pan the map
      fadeAnimation: false, // so a removed answer label leaves the page at once, not 200 ms later
    });
    map.fitBounds(WORLD_VIEW);
    // The container changes size when the result panel or a hidden map appears; Leaflet only
    // notices window resizes by itself.
    new ResizeObserver(() => map.invalidateSize()).observe(container);
    // The outlines get a pane of their own between the tiles (200) and the markers and lines
    // (400): they load last, and would otherwise be drawn over what is already on the map.
    map.createPane("outlines").style.zIndex = 350;
    const outline = L.geoJSON(null, {
      pane: "outlines",
      style: OUTLINE_STYLE,
      interactive: false, // clicks go through to the map
      attribution: OUTLINE_ATTRIBUTION,
    }).addTo(map);
    fetch(worldUrl)
      .then((r) => r.json())
      .then((topo) => {
        const countries = topojson.feature(topo, topo.objects.countries);
        countries.features.forEach((f) => f.geometry && unwrapAntimeridian(f.geometry));
        outline.addData(countries);
        container.dataset.outlines = "loaded";
      });
    const probe = new Image();
    probe.onload = () => {
      L.tileLayer(OSM_TILES, { maxZoom: 19, attribution: OSM_ATTRIBUTION }).addTo(map);
      outline.setStyle(OUTLINE_OVER_TILES);
      container.dataset.tiles = "osm";
    };
    // No onerror: offline (or blocked), the outlines are the map.
    probe.src = OSM_TILES.replace("{z}", "0").replace("{x}", "0").replace("{y}", "0");
    return map;
  }

  /** Points along the great circle from a to b ([lat, lon] in degrees), cut where it crosses the
   * antimeridian, so Leaflet draws the short way round. Returns a list of polylines. */
  function greatCircle(a, b, steps) {
    const rad = Math.PI / 180;
    const vec = ([lat, lon]) => [
      Math.cos(lat * rad) * Math.cos(lon * rad),
      Math.cos(lat * rad) * Math.sin(lon * rad),
      Math.sin(lat * rad),
    ];
    const va = vec(a);
    const vb = vec(b);
    const dot = Math.min(1, Math.max(-1, va[0] * vb[0] + va[1] * vb[1] + va[2] * vb[2]));
    const omega = Math.acos(dot);
    if (omega < 1e-9) return [[a, b]];
    const n = steps || 64;
    const points = [];
    for (let i = 0; i <= n; i++) {
      const f = i / n;
      const wa = Math.sin((1 - f) * omega) / Math.sin(omega);
      const wb = Math.sin(f * omega) / Math.sin(omega);
      const [x, y, z] = [0, 1, 2].map((k) => wa * va[k] + wb * vb[k]);
      points.push([Math.atan2(z, Math.hypot(x, y)) / rad, Math.atan2(y, x) / rad]);
    }
    const lines = [[points[0]]];
    for (let i = 1; i < points.length; i++) {
      const [plat, plon] = points[i - 1];
      const [qlat, qlon] = points[i];
      if (Math.abs(qlon - plon) > 180) {
        // Crossing the antimeridian: end this piece at the edge and start the next on the other side.
        const edge = plon > 0 ? 180 : -180;
        const span = 360 - Math.abs(qlon - plon);
        const t = Math.abs(edge - plon) / span;
        const lat = plat + t * (qlat - plat);
        lines[lines.length - 1].push([lat, edge]);
        lines.push([[lat, -edge]]);
      }
      lines[lines.length - 1].push(points[i]);
    }
    return lines;
  }

  function formatDistance(km) {
    if (km === null || km === undefined) return "no guess";
    if (km < 1) return `${Math.round(km * 1000)} m`;
    return `${km.toLocaleString("en", { minimumFractionDigits: 1, maximumFractionDigits: 1 })} km`;
  }

  function formatPoints(points) {
    return `${points.toLocaleString("en")} point${points === 1 ? "" : "s"}`;
  }

  function placeLabel(answer) {
    return [answer.city, answer.country].filter(Boolean).join(", ") || "an unnamed place";
  }

  window.geogame = {
    $,
    el,
    textLabel,
    worldMap,
    greatCircle,
    formatDistance,
    formatPoints,
    placeLabel,
    styles: { answer: ANSWER_STYLE, guess: GUESS_STYLE, opponent: OPPONENT_STYLE, line: LINE_STYLE },
    worldView: WORLD_VIEW,
  };
})();
