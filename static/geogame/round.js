/* The round UI that the play page (play.js) and the duel page (duel.js) share, as
 * `window.geogame.round`: the views of the place, the guess map with its pin and the reveal, the
 * countdown on the server's clock, the keyboard, and the result panel's text. Each part is given
 * its page's elements and callbacks; the pages keep only what differs (how a guess travels, what
 * a result says). Plain browser JavaScript, no build step; after common.js. */
(function () {
  "use strict";

  const { el, textLabel, worldMap, greatCircle, placeLabel } = window.geogame;
  const { answer: ANSWER_STYLE, line: LINE_STYLE } = window.geogame.styles;
  const URGENT_S = 10; // the countdown turns red from here
  const TICK_MS = 250;
  const ANSWER_TOOLTIP = { permanent: true, direction: "top", offset: [0, -8], className: "reveal-label" };
  const PHONE_QUERY = "(max-width: 700px)"; // as in style.css

  /** Data the server put in the page with Django's json_script: a JSON tag, which the
   * Content-Security-Policy allows where it allows no inline script. */
  function serverData(id) {
    const node = document.getElementById(id);
    if (!node) throw new Error(`the page lacks the server's #${id} data`);
    return JSON.parse(node.textContent);
  }

  /** The server's clock as this page sees it. Each observation (a server timestamp and when it
   * arrived here) gives the clocks' difference plus that message's delay; the smallest is kept. */
  function serverClock() {
    let offsetMs = null;
    return {
      observe(serverMs, arrivedMs = Date.now()) {
        const offset = arrivedMs - serverMs;
        if (Number.isFinite(offset) && (offsetMs === null || offset < offsetMs)) offsetMs = offset;
      },
      now: () => Date.now() - (offsetMs || 0),
    };
  }

  /** Calls `tick` now and every TICK_MS until stop(); a tick may stop it. */
  function repeat(tick) {
    let id = null;
    const timer = {
      start() {
        timer.stop();
        id = setInterval(tick, TICK_MS);
        tick();
      },
      stop() {
        clearInterval(id);
        id = null;
      },
    };
    return timer;
  }

  /** A m:ss countdown to an ISO `deadline` on `clock`, in `node` (data-seconds holds the
   * seconds left); `onEnd` runs once when it reaches zero. */
  function countdown(node, clock) {
    let end = null;
    let onEnd = null;
    const timer = repeat(() => {
      const left = end - clock.now();
      const s = Math.max(0, Math.ceil(left / 1000));
      node.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
      node.dataset.seconds = s;
      node.classList.toggle("urgent", s <= URGENT_S);
      if (left <= 0) {
        timer.stop();
        onEnd();
      }
    });
    return {
      start(deadline, whenEnded) {
        timer.stop();
        node.hidden = !deadline;
        if (!deadline) return;
        end = Date.parse(deadline);
        onEnd = whenEnded;
        timer.start();
      },
      hide() {
        timer.stop();
        node.hidden = true;
      },
    };
  }

  /** The views of the place: a thumbnail button per view and the photo shown. Keeps which views
   * were opened (ascending view numbers) and how long each was on screen while `counting()`.
   * `lightbox` ({box, image, close, openers}) is optional: the play page enlarges the photo, the duel not. */
  function viewStrip({ root, image, buttons, lightbox, counting }) {
    let views = [];
    let index = 0;
    let seen = new Set();
    let viewMs = [];
    let shownAt = null; // performance.now() when the current view appeared; null while paused

    function countTime() {
      if (shownAt === null || !counting()) return;
      const now = performance.now();
      viewMs[index] += Math.round(now - shownAt);
      shownAt = now;
    }

    function seenViews() {
      return [...seen].sort((a, b) => a - b);
    }

    function show(i) {
      if (!views.length) return;
      countTime();
      index = ((i % views.length) + views.length) % views.length;
      shownAt = performance.now();
      seen.add(index);
      image.src = views[index].url;
      image.dataset.index = index;
      image.alt = `A street view of the place to find (view ${index + 1} of ${views.length})`;
      if (lightbox) lightbox.image.src = views[index].url;
      root.dataset.viewsSeen = seenViews().join(",");
      buttons.querySelectorAll(".view-btn").forEach((b, k) => {
        b.classList.toggle("active", k === index);
        b.setAttribute("aria-pressed", String(k === index));
      });
    }

    function renderButtons() {
      buttons.replaceChildren();
      buttons.hidden = views.length < 2;
      views.forEach((view, i) => {
        const button = el("button", {
          type: "button",
          id: `view-btn-${i}`,
          class: "view-btn",
          "aria-label": `View ${i + 1}`,
          "aria-pressed": "false",
        });
        button.append(el("img", { src: view.thumb, alt: "" }), el("span", { class: "view-num" }, String(i + 1)));
        button.addEventListener("click", () => show(i));
        buttons.append(button);
      });
    }

    function closeLightbox() {
      if (!lightbox || lightbox.box.hidden) return false;
      lightbox.box.hidden = true;
      return true;
    }

    // Zoom and pan in the full-screen view (@panzoom/panzoom: it moves the image with CSS
    // transforms set through the CSSOM, which the Content-Security-Policy allows).
    let zoom = null;
    function zoomer() {
      if (!zoom && window.Panzoom) {
        zoom = window.Panzoom(lightbox.image, { minScale: 1, maxScale: 8, step: 0.4, cursor: "grab" });
        lightbox.box.addEventListener("wheel", zoom.zoomWithWheel);
        lightbox.zoomIn.addEventListener("click", () => zoom.zoomIn());
        lightbox.zoomOut.addEventListener("click", () => zoom.zoomOut());
        lightbox.reset.addEventListener("click", () => zoom.reset());
        lightbox.image.addEventListener("panzoomchange", (e) => {
          lightbox.box.dataset.scale = e.detail.scale.toFixed(2);
        });
      }
      return zoom;
    }

    if (lightbox) {
      const open = () => {
        lightbox.box.hidden = false;
        const z = zoomer();
        if (z) z.reset({ animate: false });
        lightbox.close.focus();
      };
      image.addEventListener("click", open);
      lightbox.openers.forEach((node) => node.addEventListener("click", open));
      lightbox.close.addEventListener("click", closeLightbox);
      lightbox.box.addEventListener("click", (e) => {
        if (e.target === lightbox.box) closeLightbox();
      });
    }

    /** In the full-screen view, + and - zoom and 0 resets; says whether it took the key. */
    function zoomKey(key) {
      if (!lightbox || lightbox.box.hidden || !zoomer()) return false;
      if (key === "+" || key === "=") zoom.zoomIn();
      else if (key === "-") zoom.zoomOut();
      else if (key === "0") zoom.reset();
      else return false;
      return true;
    }

    return {
      /** A new round's views: the first is shown, the others only fetched into the cache, since
       * opening a view is what counts as seeing it. */
      start(roundViews) {
        views = roundViews;
        seen = new Set();
        viewMs = views.map(() => 0);
        shownAt = null;
        renderButtons();
        show(0);
        views.slice(1).forEach((v) => {
          new Image().src = v.url;
        });
      },
      step: (by) => show(index + by),
      hasViews: () => views.length > 0,
      seen: seenViews,
      viewMs: () => viewMs.slice(),
      /** Stop counting time (a guess is on its way); resume() starts again from now. */
      pause() {
        countTime();
        shownAt = null;
      },
      resume() {
        shownAt = performance.now();
      },
      closeLightbox,
      zoomKey,
    };
  }

  /** The world map: the player's pin while guessing, the reveal after. `canPlace()` says whether
   * a click places the pin now; `onPin()` runs whenever the pin moves. */
  function guessMap({ container, worldUrl, canPlace, onPin }) {
    const map = worldMap(container, worldUrl);
    const phone = phoneMap(container);
    // From the keyboard too: Tab to the map, arrows pan it, + and - zoom, Space puts the pin at
    // its centre (the crosshair); Enter then guesses (R.keyboard). Clicking also focuses it, so
    // Enter after a click goes to the page, not to a view button that still has the focus.
    container.tabIndex = 0;
    container.setAttribute("role", "region");
    container.setAttribute(
      "aria-label",
      "World map: arrow keys move it, + and - zoom, Space puts your pin at the centre, Enter guesses"
    );
    const PAN_PX = 120;
    container.addEventListener("keydown", (e) => {
      if (e.target !== container || e.altKey || e.ctrlKey || e.metaKey) return;
      const pan = { ArrowLeft: [-PAN_PX, 0], ArrowRight: [PAN_PX, 0], ArrowUp: [0, -PAN_PX], ArrowDown: [0, PAN_PX] }[e.key];
      if (pan) map.panBy(pan, { animate: false });
      else if (e.key === "+" || e.key === "=") map.zoomIn(1, { animate: false });
      else if (e.key === "-") map.zoomOut(1, { animate: false });
      else if (e.key === " ") {
        if (phone.collapsed()) phone.open(true);
        else if (canPlace()) place(map.getCenter());
      } else return;
      e.preventDefault();
      e.stopPropagation(); // the arrows move the map here, not switch the views
    });
    let pin = null;
    let layer = null; // the reveal's markers and lines
    let answerMarker = null;
    let fit = null; // what the reveal keeps in view: [answer, ...guesses]

    function place(latlng, { locked = false, drawAt = null } = {}) {
      // Leaflet gives longitudes beyond ±180 left or right of the main world; the server wants [-180, 180].
      const ll = L.latLng(Math.max(-90, Math.min(90, latlng.lat)), latlng.lng).wrap();
      const shown = drawAt || ll; // the reveal draws it on the answer's side of the antimeridian
      if (!pin) {
        pin = L.marker(shown, { draggable: !locked, keyboard: false, title: "Your guess" }).addTo(map);
        pin.on("dragend", () => place(pin.getLatLng()));
      } else {
        pin.setLatLng(shown);
      }
      if (locked) lockPin(true);
      container.dataset.markerLat = ll.lat;
      container.dataset.markerLon = ll.lng;
      onPin();
    }

    function lockPin(locked) {
      if (pin && pin.dragging) pin.dragging[locked ? "disable" : "enable"]();
    }

    function removePin() {
      if (pin) map.removeLayer(pin); // its label goes with it
      pin = null;
      delete container.dataset.markerLat;
      delete container.dataset.markerLon;
    }

    function clearReveal() {
      if (layer) map.removeLayer(layer);
      layer = null;
      fit = null;
    }

    // Views are set without animation: while Leaflet animates a zoom it drops any other view it
    // is given, so a fit made during one (the panel growing, a reload's reset) would be lost.
    function fitReveal() {
      if (fit.length > 1) {
        // Room at the sides and top for the labels; less on a phone's small map.
        const small = window.matchMedia(PHONE_QUERY).matches;
        map.fitBounds(L.latLngBounds(fit), { padding: small ? [40, 30] : [100, 60], maxZoom: 15, animate: false });
      } else {
        map.setView(fit[0], 5, { animate: false });
      }
    }

    /** A mark on the reveal: a dot with a text tooltip (`label`), or, with `pin`, the player's
     * own pin (locked) where it was sent. */
    function addMark(mark) {
      const tooltip = { permanent: true, direction: "auto", offset: [0, 0], className: "reveal-label", ...(mark.tooltip || {}) };
      if (mark.pin) {
        place(L.latLng(mark.at[0], mark.at[1]), { locked: true, drawAt: L.latLng(mark.drawAt || mark.at) });
        if (mark.label) pin.bindTooltip(textLabel(mark.label), tooltip).openTooltip();
        return;
      }
      L.circleMarker(mark.drawAt || mark.at, { ...mark.style, className: mark.className || "" })
        .bindTooltip(textLabel(mark.label), tooltip)
        .addTo(layer);
    }

    /** `mark` drawn on the answer's side of the antimeridian (its longitude moved by 360 degrees
     * where that brings it nearer), so the reveal can fit both however far apart they are. */
    function nearAnswer(mark, at) {
      const lon = mark.at[1] + 360 * Math.round((at[1] - mark.at[1]) / 360);
      return { ...mark, drawAt: [mark.at[0], lon] };
    }

    /** The great circle from a mark to the answer (each guess's distance line), as one line whose
     * longitudes run on continuously from the mark as drawn. */
    function addLine(mark, at) {
      let previous = mark.drawAt[1];
      const points = greatCircle(mark.at, at)
        .flat()
        .map(([lat, lon]) => {
          const near = lon + 360 * Math.round((previous - lon) / 360);
          previous = near;
          return [lat, near];
        });
      L.polyline(points, { ...LINE_STYLE, ...(mark.line || {}), interactive: false, className: "reveal-line" }).addTo(
        layer
      );
    }

    map.on("click", (e) => {
      if (phone.collapsed()) phone.open(true); // on a phone, the first tap grows the small map
      else if (canPlace()) place(e.latlng);
    });
    // Keep the whole reveal in view when the map changes size (a phone turned, a window resized).
    map.on("resize", () => {
      if (fit) fitReveal();
    });

    return {
      map,
      place,
      lockPin,
      hasPin: () => pin !== null,
      pinAt: () => pin && pin.getLatLng(),
      /** A new round: no pin, no reveal, the whole world. */
      reset() {
        removePin();
        clearReveal();
        phone.revealed(false);
        phone.open(false);
        map.fitBounds(window.geogame.worldView, { animate: false });
      },
      removePin,
      /** The result: the answer (named by placeLabel) and each guess's mark, joined to it by the
       * great circle. Call once the result panel has its size: the map shrinks to make room. */
      reveal(answer, marks) {
        phone.revealed(true);
        map.invalidateSize();
        clearReveal();
        layer = L.layerGroup().addTo(map);
        const at = [answer.lat, answer.lon];
        const drawn = marks.map((mark) => nearAnswer(mark, at));
        drawn.forEach((mark) => {
          addLine(mark, at);
          addMark(mark);
        });
        answerMarker = L.circleMarker(at, { ...ANSWER_STYLE, className: "answer-marker" })
          .bindTooltip(textLabel(placeLabel(answer)), ANSWER_TOOLTIP)
          .addTo(layer);
        fit = [at, ...drawn.map((m) => m.drawAt)];
        fitReveal();
      },
      /** One more guess on the reveal (an opponent's, which may arrive after it): joined to the
       * answer by its distance line, labelled, and kept in view with the rest. */
      addMark(mark) {
        if (!layer) return;
        const answerAt = answerMarker.getLatLng();
        const at = [answerAt.lat, answerAt.lng];
        const drawn = nearAnswer(mark, at);
        addLine(drawn, at);
        addMark(drawn);
        answerMarker.bringToFront(); // a guess close to the answer must not hide it
        fit.push(drawn.drawAt);
        fitReveal();
      },
    };
  }

  /** On a phone (PHONE_QUERY) the guess map is a small overlay on the photo (style.css): a tap on
   * it or its button (#map-toggle) grows it; the reveal covers the photo. Marks the page's `.play`
   * with the classes map-open and revealed; on wider screens they change nothing. */
  function phoneMap(container) {
    const play = container.closest(".play");
    const toggle = document.getElementById("map-toggle");
    const small = window.matchMedia(PHONE_QUERY);
    const set = (cls, on) => play && play.classList.toggle(cls, on);
    function open(on) {
      set("map-open", on);
      if (toggle) {
        toggle.setAttribute("aria-expanded", String(on));
        toggle.textContent = on ? "Smaller map" : "Bigger map";
      }
    }
    if (toggle) toggle.addEventListener("click", () => open(!play.classList.contains("map-open")));
    return {
      open,
      revealed: (on) => set("revealed", on),
      collapsed: () =>
        Boolean(play) && play.dataset.mode === "coordinates" && small.matches && !play.classList.contains("map-open") && !play.classList.contains("revealed"),
    };
  }

  /** Left/Right switch the views, Escape closes the enlarged view, Enter calls `enter()`, which
   * says whether it did something; keys typed into a field or a control are left alone. */
  function keyboard(views, enter) {
    document.addEventListener("keydown", (e) => {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      const inField = e.target.closest && e.target.closest("input, textarea, select");
      const onControl = e.target.closest && e.target.closest("button, a, input, textarea, select");
      if (e.key === "Escape") {
        views.closeLightbox();
      } else if (views.zoomKey && views.zoomKey(e.key)) {
        e.preventDefault();
      } else if ((e.key === "ArrowLeft" || e.key === "ArrowRight") && !inField && views.hasViews()) {
        e.preventDefault();
        views.step(e.key === "ArrowRight" ? 1 : -1);
      } else if (e.key === "Enter" && !onControl && enter()) {
        e.preventDefault();
      }
    });
  }

  /** A line for errors: `show(text)`, and `show("")` hides it. */
  function messageLine(node) {
    return (text) => {
      node.textContent = text || "";
      node.hidden = !text;
    };
  }

  /** The photo's source and licence, from a result's `attribution`. */
  function photoCredit(a) {
    const parts = [`Photo: ${a.source || ""} ${a.source_id || ""}`.trim()];
    if (a.license) parts.push(a.license);
    if (a.attribution) parts.push(a.attribution);
    if (a.captured_at) parts.push(`captured ${a.captured_at.slice(0, 10)}`);
    return parts.join(" · ");
  }

  /** The result panel's answer and credit lines; all text, and emptied for a new round. */
  function answerText(ui, result) {
    ui.answer.textContent = result ? `The place: ${placeLabel(result.answer)}` : "";
    ui.credit.textContent = result ? photoCredit(result.attribution || {}) : "";
  }

  /** Forgets what a result panel held (its text is set again by the next result). */
  function clearResult(panel, nodes) {
    panel.hidden = true;
    Object.keys(panel.dataset).forEach((k) => delete panel.dataset[k]);
    nodes.forEach((node) => {
      node.textContent = "";
      Object.keys(node.dataset).forEach((k) => delete node.dataset[k]);
    });
  }

  window.geogame.round = {
    serverData,
    serverClock,
    repeat,
    countdown,
    viewStrip,
    guessMap,
    keyboard,
    messageLine,
    photoCredit,
    answerText,
    clearResult,
  };
})();
