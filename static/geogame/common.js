/* Helpers shared by geogame's pages (play, summary, duel): the offline world map, great-circle
 * lines and number formatting, as `window.geogame`. Plain browser JavaScript, no build step.
 * The round UI that the play and duel pages share is round.js, on top of this. */
(function () {
  "use strict";

  const OUTLINE_ATTRIBUTION = 'Map: <a href="https://www.naturalearthdata.com/">Natural Earth</a>, <a href="https://www.geonames.org/">GeoNames</a>';
  const OUTLINE_STYLE = { color: "#9aa5b1", weight: 0.8, fillColor: "#f3efe4", fillOpacity: 1 };
  const OUTLINE_OVER_TILES = { color: "#8a97a5", weight: 1, opacity: 0.3, fillOpacity: 0 };
  // Lakes in the sea's colour (style.css, .map background); admin-1 lines faint, and only from
  // ADMIN1_MIN_ZOOM, where a country is big enough on screen for its provinces to help.
  const LAKE_STYLE = { color: "#9fbcd4", weight: 0.6, fillColor: "#c9dcea", fillOpacity: 1 };
  const ADMIN1_STYLE = { color: "#8d96a0", weight: 0.7, opacity: 0.55, dashArray: "3 3" };
  const ADMIN1_MIN_ZOOM = 5;
  // Which cities are labelled at each zoom (GeoNames population): more as the map zooms in.
  const CITY_LABEL_MIN_POPULATION = [8e6, 8e6, 5e6, 2e6, 1e6, 5e5, 2.5e5, 1e5, 5e4];
  const CITY_LABELS_MAX = 120; // labels drawn at once, the most populous in view first
  const LABEL_CHAR_PX = 6.5; // about what one character of a label is wide (11px bold)
  const LABEL_HALF_HEIGHT_PX = 9;
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

  /** The page's base map settings (geogame.maps.context_processors.basemap, in base.html). */
  function basemapConfig() {
    const node = document.getElementById("basemap-config");
    return node ? JSON.parse(node.textContent) || {} : {};
  }

  /** `text` with &, <, > and " escaped: Leaflet writes attributions as HTML. */
  function escapeHtml(text) {
    return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  }

  /** City names by zoom, from the site's cached GeoNames layer: the most populous cities in view
   * above the zoom's population threshold, redrawn when the map stops moving. Labels take no
   * clicks (a click places the pin) and are DOM text, never HTML. */
  function cityLabels(map, url) {
    const layer = L.layerGroup().addTo(map);
    let cities = [];
    function redraw() {
      layer.clearLayers();
      const zoom = Math.max(0, Math.floor(map.getZoom()));
      const minPopulation = CITY_LABEL_MIN_POPULATION[Math.min(zoom, CITY_LABEL_MIN_POPULATION.length - 1)];
      const view = map.getBounds().pad(0.1);
      const taken = []; // the boxes of the labels drawn so far, in container pixels
      let drawn = 0;
      for (const [name, lat, lon, population] of cities) {
        if (population < minPopulation || drawn >= CITY_LABELS_MAX) break;
        if (!view.contains([lat, lon])) continue;
        // A label that would overlap a bigger city's is left out.
        const p = map.latLngToContainerPoint([lat, lon]);
        const half = (name.length * LABEL_CHAR_PX + 8) / 2;
        const box = [p.x - half, p.y - LABEL_HALF_HEIGHT_PX, p.x + half, p.y + LABEL_HALF_HEIGHT_PX];
        if (taken.some((t) => box[0] < t[2] && t[0] < box[2] && box[1] < t[3] && t[1] < box[3])) continue;
        taken.push(box);
        const label = el("span", { class: "city-label-text" }, name);
        L.marker([lat, lon], {
          pane: "labels",
          interactive: false,
          keyboard: false,
          icon: L.divIcon({ className: "city-label", html: label, iconSize: null }),
        }).addTo(layer);
        drawn++;
      }
      map.getContainer().dataset.cityLabels = String(drawn);
    }
    fetch(url)
      .then((r) => r.json())
      .then((data) => {
        cities = data.cities || [];
        redraw();
        map.on("moveend zoomend", redraw);
      })
      .catch(() => {}); // without labels the map still works
  }

  /** Lakes over the countries (fetched at once) and admin-1 lines (fetched the first time the map
   * is zoomed to ADMIN1_MIN_ZOOM, then shown only from there): both the site's cached Natural Earth
   * layers. Tiles, where configured, draw their own, so this is for the offline map only. */
  function waterAndProvinces(map, config) {
    const container = map.getContainer();
    map.createPane("water").style.zIndex = 360;
    map.createPane("provinces").style.zIndex = 370;
    const geoLayer = (pane, style) => L.geoJSON(null, { pane, style, interactive: false });
    if (config.lakes_url) {
      const lakes = geoLayer("water", LAKE_STYLE).addTo(map);
      fetch(config.lakes_url)
        .then((r) => r.json())
        .then((data) => {
          lakes.addData(data);
          container.dataset.lakes = String(data.features.length);
        })
        .catch(() => {}); // without lakes the map still works
    }
    if (config.admin1_url) {
      const provinces = geoLayer("provinces", ADMIN1_STYLE);
      let requested = false;
      const update = () => {
        const wanted = map.getZoom() >= ADMIN1_MIN_ZOOM;
        if (wanted && !requested) {
          requested = true;
          fetch(config.admin1_url)
            .then((r) => r.json())
            .then((data) => {
              provinces.addData(data);
              container.dataset.admin1 = "loaded";
            })
            .catch(() => {});
        }
        if (wanted && !map.hasLayer(provinces)) provinces.addTo(map);
        if (!wanted && map.hasLayer(provinces)) provinces.remove();
        container.dataset.admin1Shown = String(wanted);
      };
      map.on("zoomend", update);
      update();
    }
  }

  /** A Leaflet map that works offline: Natural Earth 1:50m country outlines (`worldUrl`), lakes,
   * admin-1 lines from zoom ADMIN1_MIN_ZOOM and city labels by zoom; raster tiles underneath only
   * where the server names a tile server (GEOGAME_TILE_URL, with its attribution). */
  function worldMap(container, worldUrl) {
    const config = basemapConfig();
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
    map.createPane("labels").style.zIndex = 380;
    map.getPane("labels").style.pointerEvents = "none";
    const outline = L.geoJSON(null, {
      pane: "outlines",
      style: OUTLINE_STYLE,
      interactive: false, // clicks go through to the map
      attribution: OUTLINE_ATTRIBUTION,
    }).addTo(map);
    fetch(config.outlines_url || worldUrl)
      .then((r) => r.json())
      .then((topo) => {
        const countries = topojson.feature(topo, topo.objects.countries);
        countries.features.forEach((f) => f.geometry && unwrapAntimeridian(f.geometry));
        outline.addData(countries);
        container.dataset.outlines = "loaded";
      });
    if (!config.tile_url) waterAndProvinces(map, config);
    if (config.cities_url) cityLabels(map, config.cities_url);
    if (config.tile_url) {
      L.tileLayer(config.tile_url, { maxZoom: 19, attribution: escapeHtml(config.tile_attribution || "") }).addTo(map);
      outline.setStyle(OUTLINE_OVER_TILES);
      outline.options.style = OUTLINE_OVER_TILES;
      container.dataset.tiles = "configured";
    }
    return map;
  }

  /** A round-numbered dot (`kind`: answer, guess or opponent; styled in style.css), its number
   * DOM text; `title` says what it is on hover. */
  function numberedPin(at, number, kind, title) {
    return L.marker(at, {
      title,
      keyboard: false,
      icon: L.divIcon({ className: `num-pin num-pin-${kind}`, html: el("span", {}, String(number)), iconSize: [22, 22] }),
    });
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
    numberedPin,
    greatCircle,
    formatDistance,
    formatPoints,
    placeLabel,
    styles: { answer: ANSWER_STYLE, guess: GUESS_STYLE, opponent: OPPONENT_STYLE, line: LINE_STYLE },
    worldView: WORLD_VIEW,
  };
})();
