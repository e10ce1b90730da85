/* geogame's play and summary pages. Plain browser JavaScript, no build step.
 *
 * The play page knows nothing about a round until it fetches the state JSON
 * (geogame/selectors.py: game_state). The answer reaches the browser only in
 * `state.result`, after the guess; nothing here may guess at it before.
 */
(function () {
  "use strict";

  const OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";
  const OSM_ATTRIBUTION =
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors';
  const OUTLINE_ATTRIBUTION = 'Outlines: <a href="https://www.naturalearthdata.com/">Natural Earth</a>';
  const OUTLINE_STYLE = { color: "#8a97a5", weight: 1, fillColor: "#f3efe4", fillOpacity: 1 };
  const OUTLINE_OVER_TILES = { color: "#8a97a5", weight: 1, opacity: 0.3, fillOpacity: 0 };
  const ANSWER_STYLE = { radius: 9, color: "#ffffff", weight: 3, fillColor: "#1a7f37", fillOpacity: 1 };
  const CITY_GUESS_STYLE = { radius: 8, color: "#ffffff", weight: 3, fillColor: "#2463eb", fillOpacity: 1 };
  const LINE_STYLE = { color: "#c2410c", weight: 3, dashArray: "6 8" };
  const EXPIRE_POLLS = 10; // GETs after the clock runs out, one a second, until the server records it

  // -- Helpers shared by both pages -----------------------------------------------------------------

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined) node.textContent = text;
    return node;
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
    });
    map.fitWorld();
    // The container changes size when the result panel or a hidden map appears; Leaflet only
    // notices window resizes by itself.
    new ResizeObserver(() => map.invalidateSize()).observe(container);
    const outline = L.geoJSON(null, {
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

  // -- The play page --------------------------------------------------------------------------------

  function playPage(root) {
    const mode = root.dataset.mode;
    const ui = {
      message: $("message"),
      image: $("view-image"),
      viewButtons: $("view-buttons"),
      enlarge: $("enlarge"),
      lightbox: $("lightbox"),
      lightboxImage: $("lightbox-image"),
      lightboxClose: $("lightbox-close"),
      mapEl: $("map"),
      cityChoices: $("city-choices"),
      guessActions: $("guess-actions"),
      submit: $("submit-guess"),
      result: $("result"),
      verdict: $("result-verdict"),
      distance: $("result-distance"),
      points: $("result-points"),
      answer: $("result-answer"),
      credit: $("result-attribution"),
      next: $("next-round"),
      summaryLink: $("summary-link"),
      timer: $("timer"),
      total: $("total-points"),
      roundNumber: $("round-number"),
      roundsTotal: $("rounds-total"),
    };
    const game = {
      state: null,
      roundNumber: null,
      viewIndex: 0,
      viewsSeen: new Set(),
      marker: null,
      revealLayer: null,
      busy: false, // a guess or next-round request is on its way
      clockOffsetMs: 0, // client clock minus server clock
      timerId: null,
    };

    const map = worldMap(ui.mapEl, root.dataset.worldUrl);
    // Focusable by click (not by Tab): after placing a pin, Enter goes to the page, not to a
    // view button that still has the focus.
    ui.mapEl.tabIndex = -1;
    if (mode === "city") ui.mapEl.hidden = true; // shown at the reveal
    else ui.cityChoices.hidden = true;
    if (mode === "city") ui.guessActions.hidden = true;

    // -- Talking to the server

    function csrfToken() {
      const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
      if (m) return decodeURIComponent(m[1]);
      const input = root.querySelector("input[name=csrfmiddlewaretoken]");
      return input ? input.value : "";
    }

    /** fetch() as {status, data, date, arrivedAt}; data is the parsed JSON body (or {}). */
    async function api(url, method, body) {
      const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
      if (method !== "GET") {
        options.headers["X-CSRFToken"] = csrfToken();
        if (body !== undefined) {
          options.headers["Content-Type"] = "application/json";
          options.body = JSON.stringify(body);
        }
      }
      const response = await fetch(url, options);
      const arrivedAt = Date.now();
      let data = {};
      try {
        data = await response.json();
      } catch (err) {
        data = { error: `the server answered ${response.status} ${response.statusText}` };
      }
      return { status: response.status, data, date: response.headers.get("Date"), arrivedAt };
    }

    async function request(url, method, body) {
      showMessage("");
      let reply;
      try {
        reply = await api(url, method, body);
      } catch (err) {
        showMessage("Could not reach the server. Check your connection and try again.");
        return null;
      }
      if (reply.status >= 400) {
        // E.g. the deadline passed: the state now holds the recorded timeout, so show it too.
        if (reply.data.result) await loadState();
        showMessage(reply.data.error || `The server refused (${reply.status}).`);
        return null;
      }
      applyState(reply);
      return reply;
    }

    function loadState() {
      return request(root.dataset.stateUrl, "GET");
    }

    function showMessage(text) {
      ui.message.textContent = text;
      ui.message.hidden = !text;
    }

    // -- Applying a state

    function applyState(reply) {
      const state = reply.data;
      game.state = state;
      ui.total.textContent = state.total_points.toLocaleString("en");
      ui.total.dataset.points = state.total_points;
      ui.roundsTotal.textContent = state.rounds_total;
      const round = state.round;
      if (!round) return;
      ui.roundNumber.textContent = round.number;
      if (round.number !== game.roundNumber) startRound(state, reply);
      if (state.result) showResult(state);
      else startTimer(round, reply);
    }

    function startRound(state, reply) {
      const round = state.round;
      game.roundNumber = round.number;
      game.viewsSeen = new Set();
      game.busy = false;
      if (game.marker) map.removeLayer(game.marker);
      game.marker = null;
      if (game.revealLayer) map.removeLayer(game.revealLayer);
      game.revealLayer = null;
      delete ui.mapEl.dataset.markerLat;
      delete ui.mapEl.dataset.markerLon;
      ui.result.hidden = true;
      ["answerLat", "answerLon", "guessLat", "guessLon", "correct", "timedOut"].forEach(
        (k) => delete ui.result.dataset[k]
      );
      ui.submit.disabled = true;
      ui.submit.textContent = "Place a pin on the map";
      if (mode === "city") {
        ui.mapEl.hidden = true;
        renderCityChoices(state.candidates || []);
      } else {
        ui.guessActions.hidden = false;
        map.fitWorld();
      }
      renderViewButtons(round.views);
      showView(0);
      // Warm the cache so switching views is instant; only opening a view counts as seeing it.
      round.views.slice(1).forEach((v) => {
        new Image().src = v.url;
      });
    }

    // -- Views

    function renderViewButtons(views) {
      ui.viewButtons.replaceChildren();
      ui.viewButtons.hidden = views.length < 2;
      views.forEach((view, i) => {
        const button = el("button", {
          type: "button",
          id: `view-btn-${i}`,
          class: "view-btn",
          "aria-label": `View ${i + 1}`,
          "aria-pressed": "false",
        });
        button.append(el("img", { src: view.thumb, alt: "" }), el("span", { class: "view-num" }, String(i + 1)));
        button.addEventListener("click", () => showView(i));
        ui.viewButtons.append(button);
      });
    }

    function showView(i) {
      const views = game.state.round.views;
      if (!views.length) return;
      const index = ((i % views.length) + views.length) % views.length;
      game.viewIndex = index;
      game.viewsSeen.add(index);
      ui.image.src = views[index].url;
      ui.image.dataset.index = index;
      ui.image.alt = `A street view of the place to find (view ${index + 1} of ${views.length})`;
      ui.lightboxImage.src = views[index].url;
      root.dataset.viewsSeen = [...game.viewsSeen].sort().join(",");
      ui.viewButtons.querySelectorAll(".view-btn").forEach((b, k) => {
        b.classList.toggle("active", k === index);
        b.setAttribute("aria-pressed", String(k === index));
      });
    }

    function openLightbox() {
      ui.lightbox.hidden = false;
      ui.lightboxClose.focus();
    }

    function closeLightbox() {
      ui.lightbox.hidden = true;
    }

    ui.image.addEventListener("click", openLightbox);
    ui.enlarge.addEventListener("click", openLightbox);
    ui.lightboxClose.addEventListener("click", closeLightbox);
    ui.lightbox.addEventListener("click", (e) => {
      if (e.target === ui.lightbox) closeLightbox();
    });

    // -- Guessing on the map

    function guessing() {
      return game.state && game.state.round && !game.state.result && !game.busy;
    }

    function placeMarker(latlng) {
      // Leaflet gives longitudes beyond ±180 left or right of the main world; the server wants [-180, 180].
      const ll = L.latLng(Math.max(-90, Math.min(90, latlng.lat)), latlng.lng).wrap();
      if (!game.marker) {
        game.marker = L.marker(ll, { draggable: true, keyboard: false, title: "Your guess" }).addTo(map);
        game.marker.on("dragend", () => placeMarker(game.marker.getLatLng()));
      } else {
        game.marker.setLatLng(ll);
      }
      ui.mapEl.dataset.markerLat = ll.lat;
      ui.mapEl.dataset.markerLon = ll.lng;
      ui.submit.disabled = false;
      ui.submit.textContent = "Guess";
    }

    map.on("click", (e) => {
      if (mode === "coordinates" && guessing()) placeMarker(e.latlng);
    });

    function submitMarker() {
      if (!game.marker || !guessing()) return;
      const ll = game.marker.getLatLng();
      submitGuess({ lat: ll.lat, lon: ll.lng });
    }

    async function submitGuess(guess) {
      game.busy = true;
      ui.submit.disabled = true;
      ui.cityChoices.querySelectorAll("button").forEach((b) => (b.disabled = true));
      const body = { ...guess, views_seen: [...game.viewsSeen].sort() };
      const reply = await request(game.state.round.guess_url, "POST", body);
      if (!reply) {
        game.busy = false;
        if (!game.state.result) {
          ui.submit.disabled = !game.marker;
          ui.cityChoices.querySelectorAll("button").forEach((b) => (b.disabled = false));
        }
      }
    }

    ui.submit.addEventListener("click", submitMarker);

    // -- Guessing a city

    function renderCityChoices(candidates) {
      ui.cityChoices.replaceChildren();
      ui.cityChoices.hidden = false;
      ui.cityChoices.append(el("p", { class: "muted" }, "Which city is this?"));
      candidates.forEach((label) => {
        const button = el("button", { type: "button", class: "city-choice" }, label);
        button.dataset.city = label;
        button.addEventListener("click", () => {
          if (!guessing()) return;
          button.classList.add("chosen");
          submitGuess({ city: label });
        });
        ui.cityChoices.append(button);
      });
    }

    // -- The clock

    function startTimer(round, reply) {
      stopTimer();
      if (!round.deadline) {
        ui.timer.hidden = true;
        return;
      }
      // Offset of the client clock from the server's. arrival − started_at is exact for a round that
      // just started (the usual case: we asked for it), but on a reload mid-round it also counts the
      // time already played; the HTTP Date header (1 s resolution) catches that case.
      let offset = reply.arrivedAt - Date.parse(round.started_at);
      const serverDate = reply.date ? Date.parse(reply.date) : NaN;
      if (!Number.isNaN(serverDate)) {
        const fromHeader = reply.arrivedAt - (serverDate + 500);
        if (offset - fromHeader > 1500) offset = fromHeader;
      }
      game.clockOffsetMs = offset;
      const deadline = Date.parse(round.deadline);
      ui.timer.hidden = false;
      const tick = () => {
        const left = deadline - (Date.now() - game.clockOffsetMs);
        const s = Math.max(0, Math.ceil(left / 1000));
        ui.timer.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
        ui.timer.dataset.seconds = s;
        ui.timer.classList.toggle("urgent", s <= 10);
        if (left <= 0) {
          stopTimer();
          timeUp();
        }
      };
      tick();
      if (ui.timer.dataset.seconds !== "0") game.timerId = setInterval(tick, 250);
    }

    function stopTimer() {
      if (game.timerId !== null) clearInterval(game.timerId);
      game.timerId = null;
    }

    function timeUp() {
      if (!guessing()) return;
      if (mode === "coordinates" && game.marker) {
        submitMarker(); // within the server's grace period
        return;
      }
      // No guess: ask again until the server has recorded the timeout (it waits out a short grace).
      const round = game.roundNumber;
      let polls = 0;
      const poll = async () => {
        if (game.roundNumber !== round || game.state.result || polls++ >= EXPIRE_POLLS) return;
        await loadState();
        if (!game.state.result) setTimeout(poll, 1000);
      };
      poll();
    }

    // -- The reveal

    function showResult(state) {
      const result = state.result;
      stopTimer();
      ui.timer.hidden = true;
      game.busy = false;
      ui.submit.disabled = true;
      ui.guessActions.hidden = true;
      ui.cityChoices.querySelectorAll("button").forEach((b) => {
        b.disabled = true;
        b.classList.toggle("right", b.dataset.city === placeLabel(result.answer));
      });

      const answer = [result.answer.lat, result.answer.lon];
      let guess = null;
      if (result.guess) {
        if (mode === "coordinates" && game.marker) {
          game.marker.setLatLng([result.guess.lat, result.guess.lon]);
        } else if (mode === "coordinates") {
          game.marker = L.marker([result.guess.lat, result.guess.lon], { title: "Your guess" }).addTo(map);
        }
        guess = [result.guess.lat, result.guess.lon];
      }
      if (game.marker) game.marker.dragging.disable();
      drawReveal(answer, guess, result);

      ui.result.dataset.answerLat = result.answer.lat;
      ui.result.dataset.answerLon = result.answer.lon;
      if (guess) {
        ui.result.dataset.guessLat = guess[0];
        ui.result.dataset.guessLon = guess[1];
      }
      ui.result.dataset.timedOut = result.timed_out;
      if (result.correct !== null && result.correct !== undefined) ui.result.dataset.correct = result.correct;

      ui.verdict.textContent = verdict(result);
      ui.verdict.className = `verdict ${result.points >= 2500 ? "good" : "poor"}`;
      ui.distance.textContent = formatDistance(result.distance_km);
      ui.distance.dataset.km = result.distance_km === null ? "" : result.distance_km;
      ui.points.textContent = formatPoints(result.points);
      ui.points.dataset.points = result.points;
      ui.answer.textContent = `The place: ${placeLabel(result.answer)}`;
      ui.credit.textContent = credit(result.attribution);

      ui.next.hidden = state.finished;
      ui.next.disabled = false;
      ui.summaryLink.hidden = !state.finished;
      ui.summaryLink.href = state.summary_url;
      ui.result.hidden = false;
    }

    function verdict(result) {
      if (result.timed_out && !result.guess) return "Time's up — no guess this round.";
      if (mode === "city") {
        return result.correct ? "Correct!" : `Not quite — you picked ${result.guess.city}.`;
      }
      if (result.points >= 4500) return "Superb!";
      if (result.points >= 3000) return "Close!";
      if (result.points >= 1000) return "Not bad.";
      return "Far off this time.";
    }

    function credit(a) {
      const parts = [`Photo: ${a.source} ${a.source_id}`];
      if (a.license) parts.push(a.license);
      if (a.attribution) parts.push(a.attribution);
      if (a.captured_at) parts.push(`captured ${a.captured_at.slice(0, 10)}`);
      return parts.join(" · ");
    }

    function drawReveal(answer, guess, result) {
      ui.result.hidden = false;
      if (mode === "city") ui.mapEl.hidden = false;
      map.invalidateSize(); // before fitting: the panel layout just changed
      if (game.revealLayer) map.removeLayer(game.revealLayer);
      const layer = L.layerGroup().addTo(map);
      game.revealLayer = layer;
      if (guess) {
        L.polyline(greatCircle(guess, answer), { ...LINE_STYLE, interactive: false }).addTo(layer);
        if (mode === "city") {
          L.circleMarker(guess, CITY_GUESS_STYLE).bindTooltip(`Your pick: ${result.guess.city}`).addTo(layer);
        }
      }
      L.circleMarker(answer, ANSWER_STYLE)
        .bindTooltip(placeLabel(result.answer), { permanent: true, direction: "top", offset: [0, -8] })
        .addTo(layer);
      if (guess) {
        map.fitBounds(L.latLngBounds([guess, answer]), { padding: [40, 40], maxZoom: 15 });
      } else {
        map.setView(answer, 5);
      }
    }

    // -- Next round

    ui.next.addEventListener("click", async () => {
      if (game.busy) return;
      game.busy = true;
      ui.next.disabled = true;
      const reply = await request(game.state.next_url, "POST");
      game.busy = false;
      ui.next.disabled = false;
      if (reply) ui.image.scrollIntoView({ block: "nearest" });
    });

    // -- Keyboard: Left/Right switch views, Enter guesses (or moves on), Escape closes the enlarged view

    document.addEventListener("keydown", (e) => {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      const inField = e.target.closest && e.target.closest("input, textarea, select");
      const onControl = e.target.closest && e.target.closest("button, a, input, textarea, select");
      if (e.key === "Escape" && !ui.lightbox.hidden) {
        closeLightbox();
      } else if ((e.key === "ArrowLeft" || e.key === "ArrowRight") && !inField && game.state) {
        e.preventDefault();
        showView(game.viewIndex + (e.key === "ArrowRight" ? 1 : -1));
      } else if (e.key === "Enter" && !onControl) {
        if (mode === "coordinates" && game.marker && guessing()) submitMarker();
        else if (game.state && game.state.result && !ui.next.hidden) ui.next.click();
        else return;
        e.preventDefault();
      }
    });

    loadState();
  }

  // -- The summary page -----------------------------------------------------------------------------

  function summaryPage(container) {
    const map = worldMap(container, container.dataset.worldUrl);
    const bounds = [];
    document.querySelectorAll(".summary-row[data-answer-lat]").forEach((row) => {
      const answer = [Number(row.dataset.answerLat), Number(row.dataset.answerLon)];
      bounds.push(answer);
      if (row.dataset.guessLat) {
        const guess = [Number(row.dataset.guessLat), Number(row.dataset.guessLon)];
        bounds.push(guess);
        L.polyline(greatCircle(guess, answer), { ...LINE_STYLE, weight: 2, interactive: false }).addTo(map);
        L.circleMarker(guess, { ...CITY_GUESS_STYLE, radius: 6 }).addTo(map);
      }
      L.circleMarker(answer, { ...ANSWER_STYLE, radius: 7 }).addTo(map);
    });
    if (bounds.length) map.fitBounds(L.latLngBounds(bounds), { padding: [30, 30], maxZoom: 10 });
  }

  const playRoot = $("game");
  if (playRoot) playPage(playRoot);
  const summaryMap = $("summary-map");
  if (summaryMap) summaryPage(summaryMap);
})();
