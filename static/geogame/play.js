/* geogame's play and summary pages. Plain browser JavaScript, no build step.
 *
 * The play page knows nothing about a round until it fetches the state JSON
 * (geogame/selectors.py: game_state). The answer reaches the browser only in
 * `state.result`, after the guess; nothing here may guess at it before.
 * A study participant's page is the same page over geogame/study_selectors.py: study_state,
 * whose result may be `{hidden: true}` (no answer shown) and whose total is null.
 */
(function () {
  "use strict";

  const { $, el, textLabel, worldMap, greatCircle, formatDistance, formatPoints, placeLabel } = window.geogame;
  const { answer: ANSWER_STYLE, guess: GUESS_STYLE, line: LINE_STYLE } = window.geogame.styles;
  const WORLD_VIEW = window.geogame.worldView;
  const OPPONENT_STYLE = { radius: 8, color: "#ffffff", weight: 3, fillColor: "#c2410c", fillOpacity: 1 };
  const OPPONENT_POLL_MS = 1000;
  const OPPONENT_POLLS = 30;
  const EXPIRE_POLLS = 10; // GETs after the clock runs out, one a second, until the server records it

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
      opponent: $("result-opponent"),
      next: $("next-round"),
      summaryLink: $("summary-link"),
      timer: $("timer"),
      total: $("total-points"),
      roundNumber: $("round-number"),
      roundsTotal: $("rounds-total"),
      phaseLabel: $("phase-label"),
    };
    const game = {
      state: null,
      roundNumber: null,
      viewIndex: 0,
      viewsSeen: new Set(),
      viewMs: [], // time each view has been on screen this round
      viewShownAt: null, // when the current view was shown (performance.now())
      marker: null,
      revealLayer: null,
      revealView: null, // [answer, guess or null]: what the reveal keeps in view
      busy: false, // a guess or next-round request is on its way
      clockOffsetMs: 0, // client clock minus server clock
      timerId: null,
      opponentPoll: null, // timer while the machine opponent is still thinking
    };

    const map = worldMap(ui.mapEl, root.dataset.worldUrl);
    // Focusable by click (not by Tab): after placing a pin, Enter goes to the page, not to a
    // view button that still has the focus.
    ui.mapEl.tabIndex = -1;
    if (mode === "city") {
      ui.mapEl.hidden = true; // no pin to place: the map appears at the reveal
      ui.guessActions.hidden = true;
    } else {
      ui.cityChoices.hidden = true;
    }

    // -- Talking to the server

    function csrfToken() {
      const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
      if (m) return decodeURIComponent(m[1]);
      const input = root.querySelector("input[name=csrfmiddlewaretoken]");
      return input ? input.value : "";
    }

    /** fetch() as {status, data, arrivedAt}; data is the parsed JSON body (or {}). */
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
      return { status: response.status, data, arrivedAt };
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
      if (state.total_points !== null) {
        ui.total.textContent = state.total_points.toLocaleString("en");
        ui.total.dataset.points = state.total_points;
      }
      ui.roundsTotal.textContent = state.rounds_total;
      const round = state.round;
      if (!round) return;
      ui.roundNumber.textContent = round.number;
      if (ui.phaseLabel && round.label) {
        ui.phaseLabel.textContent = round.label;
        ui.phaseLabel.dataset.phase = round.phase;
      }
      if (round.number !== game.roundNumber) startRound(state);
      if (state.result) showResult(state);
      else startTimer(state, reply);
    }

    function startRound(state) {
      const round = state.round;
      clearTimeout(game.opponentPoll);
      ui.opponent.hidden = true;
      ui.opponent.textContent = "";
      ["points", "lat", "lon"].forEach((k) => delete ui.opponent.dataset[k]);
      game.roundNumber = round.number;
      game.viewsSeen = new Set();
      game.viewMs = round.views.map(() => 0);
      game.viewShownAt = null;
      game.busy = false;
      if (game.marker) map.removeLayer(game.marker);
      game.marker = null;
      if (game.revealLayer) map.removeLayer(game.revealLayer);
      game.revealLayer = null;
      game.revealView = null;
      delete ui.mapEl.dataset.markerLat;
      delete ui.mapEl.dataset.markerLon;
      ui.result.hidden = true;
      // Forget the last round's answer: the page holds nothing about this round's until the guess.
      [ui.verdict, ui.distance, ui.points, ui.answer, ui.credit].forEach((node) => (node.textContent = ""));
      delete ui.distance.dataset.km;
      delete ui.points.dataset.points;
      ["answerLat", "answerLon", "guessLat", "guessLon", "correct", "timedOut", "hidden"].forEach(
        (k) => delete ui.result.dataset[k]
      );
      ui.submit.disabled = true;
      ui.submit.textContent = "Place a pin on the map";
      if (mode === "city") {
        ui.mapEl.hidden = true;
        renderCityChoices(state.candidates || []);
      } else {
        ui.guessActions.hidden = false;
        map.fitBounds(WORLD_VIEW);
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
      countViewTime();
      game.viewIndex = index;
      game.viewShownAt = performance.now();
      game.viewsSeen.add(index);
      ui.image.src = views[index].url;
      ui.image.dataset.index = index;
      ui.image.alt = `A street view of the place to find (view ${index + 1} of ${views.length})`;
      ui.lightboxImage.src = views[index].url;
      root.dataset.viewsSeen = viewsSeen().join(",");
      ui.viewButtons.querySelectorAll(".view-btn").forEach((b, k) => {
        b.classList.toggle("active", k === index);
        b.setAttribute("aria-pressed", String(k === index));
      });
    }

    function viewsSeen() {
      return [...game.viewsSeen].sort((a, b) => a - b);
    }

    // Adds the time since the current view was shown to its count (while guessing only).
    function countViewTime() {
      if (game.viewShownAt === null || !guessing()) return;
      const now = performance.now();
      game.viewMs[game.viewIndex] += Math.round(now - game.viewShownAt);
      game.viewShownAt = now;
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
      countViewTime();
      game.viewShownAt = null;
      game.busy = true;
      ui.submit.disabled = true;
      if (game.marker) game.marker.dragging.disable(); // the pin stays where it was sent
      ui.cityChoices.querySelectorAll("button").forEach((b) => (b.disabled = true));
      const body = {
        ...guess,
        views_seen: viewsSeen(),
        view_ms: game.viewMs,
        screen: { w: window.innerWidth, h: window.innerHeight },
      };
      if (game.state.round.phase) body.phase = game.state.round.phase;
      const reply = await request(game.state.round.guess_url, "POST", body);
      if (!reply) {
        game.busy = false;
        if (!game.state.result) {
          game.viewShownAt = performance.now(); // still guessing: keep counting
          ui.submit.disabled = !game.marker;
          if (game.marker) game.marker.dragging.enable();
          ui.cityChoices.querySelectorAll("button").forEach((b) => {
            b.disabled = false;
            b.classList.remove("chosen");
          });
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

    function startTimer(state, reply) {
      const round = state.round;
      stopTimer();
      if (!round.deadline) {
        ui.timer.hidden = true;
        return;
      }
      // Offset of the client clock from the server's, taken when the state arrived. The state's
      // server_time gives it directly; without it, the round's start does, though only for a
      // round that has just started (after a reload it would also count the time already played).
      game.clockOffsetMs = reply.arrivedAt - Date.parse(state.server_time || round.started_at);
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
      if (result.hidden) {
        showRecorded(state);
        return;
      }
      ui.cityChoices.querySelectorAll("button").forEach((b) => {
        b.disabled = true;
        b.classList.toggle("right", b.dataset.city === placeLabel(result.answer));
      });

      const answer = [result.answer.lat, result.answer.lon];
      const guess = result.guess ? [result.guess.lat, result.guess.lon] : null;
      ui.result.dataset.answerLat = answer[0];
      ui.result.dataset.answerLon = answer[1];
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
      // Last, once the panel has its final size: the map shrinks to make room for it.
      ui.result.hidden = false;
      drawReveal(answer, guess, result);
      showOpponent(result.opponent);
    }

    // A study's test trial: the answer is recorded, and not shown.
    function showRecorded(state) {
      ui.cityChoices.querySelectorAll("button").forEach((b) => (b.disabled = true));
      if (game.marker && game.marker.dragging) game.marker.dragging.disable();
      ui.result.dataset.hidden = "true";
      ui.verdict.textContent = state.result.timed_out ? "Time's up — recorded as no answer." : "Answer recorded.";
      ui.verdict.className = "verdict";
      ui.answer.textContent = "Answers are not shown in this part of the study.";
      ui.next.hidden = state.finished;
      ui.next.disabled = false;
      ui.summaryLink.hidden = !state.finished;
      ui.summaryLink.href = state.summary_url;
      ui.result.hidden = false;
    }

    // The machine opponent's guess: shown only now, after ours; it may still be thinking.
    function showOpponent(opponent, polls = 0) {
      ui.opponent.hidden = !opponent;
      if (!opponent) return;
      if (opponent.pending) {
        ui.opponent.textContent = `${opponent.name} is still thinking…`;
        if (polls < OPPONENT_POLLS) {
          game.opponentPoll = setTimeout(async () => {
            const state = await (await fetch(root.dataset.stateUrl, { credentials: "same-origin" })).json();
            const sameRound = state.round && state.round.number === game.roundNumber;
            if (sameRound && state.result) showOpponent(state.result.opponent, polls + 1);
          }, OPPONENT_POLL_MS);
        }
        return;
      }
      ui.opponent.dataset.points = opponent.points;
      if (opponent.guess) {
        ui.opponent.dataset.lat = opponent.guess.lat;
        ui.opponent.dataset.lon = opponent.guess.lon;
      }
      const where = opponent.guess
        ? mode === "city"
          ? `picked ${opponent.guess.city} (${opponent.correct ? "right" : "wrong"})`
          : `${formatDistance(opponent.distance_km)} away`
        : "no guess in time";
      ui.opponent.textContent = `${opponent.name}: ${where}, ${formatPoints(opponent.points)}`;
      if (opponent.guess && game.revealLayer) {
        L.circleMarker([opponent.guess.lat, opponent.guess.lon], { ...OPPONENT_STYLE, className: "opponent-marker" })
          .bindTooltip(textLabel(opponent.name))
          .addTo(game.revealLayer);
      }
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
      if (mode === "city") ui.mapEl.hidden = false;
      map.invalidateSize(); // the layout just changed; fit to the map's new size
      if (game.revealLayer) map.removeLayer(game.revealLayer);
      const layer = L.layerGroup().addTo(map);
      game.revealLayer = layer;
      if (guess && mode === "coordinates") {
        if (!game.marker) game.marker = L.marker(guess, { title: "Your guess", keyboard: false }).addTo(map);
        game.marker.setLatLng(guess);
        if (game.marker.dragging) game.marker.dragging.disable();
      } else if (guess) {
        L.circleMarker(guess, { ...GUESS_STYLE, className: "guess-marker" })
          .bindTooltip(textLabel(`Your pick: ${result.guess.city}`))
          .addTo(layer);
      }
      if (guess) {
        L.polyline(greatCircle(guess, answer), { ...LINE_STYLE, interactive: false, className: "reveal-line" }).addTo(
          layer
        );
      }
      L.circleMarker(answer, { ...ANSWER_STYLE, className: "answer-marker" })
        .bindTooltip(textLabel(placeLabel(result.answer)), { permanent: true, direction: "top", offset: [0, -8] })
        .addTo(layer);
      game.revealView = [answer, guess];
      fitReveal();
    }

    function fitReveal() {
      const [answer, guess] = game.revealView;
      if (guess) {
        // Room at the sides and top for the answer's label.
        map.fitBounds(L.latLngBounds([guess, answer]), { padding: [80, 50], maxZoom: 15 });
      } else {
        map.setView(answer, 5);
      }
    }

    // Keep the whole reveal in view when the map changes size (a phone turned, a window resized).
    map.on("resize", () => {
      if (game.revealView) fitReveal();
    });

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
        L.circleMarker(guess, { ...GUESS_STYLE, radius: 6 })
          .bindTooltip(textLabel(`Round ${row.dataset.round}: your guess`))
          .addTo(map);
      }
      // The machine opponent's pin: the server writes it only for rounds the player has finished.
      if (row.dataset.opponentLat) {
        const pin = [Number(row.dataset.opponentLat), Number(row.dataset.opponentLon)];
        bounds.push(pin);
        L.circleMarker(pin, { ...OPPONENT_STYLE, radius: 6, className: "opponent-marker" })
          .bindTooltip(textLabel(row.dataset.round), {
            permanent: true,
            direction: "right",
            className: "opponent-round",
          })
          .bindPopup(textLabel(`Round ${row.dataset.round}: ${container.dataset.opponent || "opponent"}`))
          .addTo(map);
      }
      L.circleMarker(answer, { ...ANSWER_STYLE, radius: 7 })
        .bindTooltip(textLabel(`Round ${row.dataset.round}`))
        .addTo(map);
    });
    // No animation: the outlines arrive while it would run, and paths added mid-zoom land misplaced.
    if (bounds.length) map.fitBounds(L.latLngBounds(bounds), { padding: [30, 30], maxZoom: 10, animate: false });
  }

  const playRoot = $("game");
  if (playRoot) playPage(playRoot);
  const summaryMap = $("summary-map");
  if (summaryMap) summaryPage(summaryMap);
})();
