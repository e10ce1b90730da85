/* geogame's duel page. Plain browser JavaScript, no build step; helpers from common.js.
 *
 * The server is the only authority: this page sends guesses and draws what the socket says
 * (protocol: geogame/duel_protocol.py). Every broadcast event carries the duel's version; an
 * event that is not the next one makes the page ask for the whole state again (`sync`), and a
 * reconnect gets the whole state by itself.
 */
(function () {
  "use strict";

  const G = window.geogame;
  const { $, el } = G;
  const START_HEALTH = 6000;
  const SEAT_STYLES = [
    { radius: 8, color: "#ffffff", weight: 3, fillColor: "#2463eb", fillOpacity: 1 },
    { radius: 8, color: "#ffffff", weight: 3, fillColor: "#b42318", fillOpacity: 1 },
    { radius: 7, color: "#ffffff", weight: 3, fillColor: "#7c3aed", fillOpacity: 1 },
  ];
  const RECONNECT_MS = [300, 1000, 2000, 4000];
  const EVENTS = ["seat_joined", "round_started", "opponent_guessed", "round_result", "duel_over"];

  function duelPage(root) {
    const me = Number(root.dataset.seat);
    const ui = {
      message: $("message"),
      statusLine: $("status-line"),
      waiting: $("waiting"),
      inviteLink: $("invite-link"),
      over: $("duel-over"),
      winner: $("winner"),
      image: $("view-image"),
      viewButtons: $("view-buttons"),
      mapEl: $("map"),
      submit: $("submit-guess"),
      guessActions: $("guess-actions"),
      result: $("round-result"),
      verdict: $("result-verdict"),
      damage: $("result-damage"),
      answer: $("result-answer"),
      credit: $("result-attribution"),
      timer: $("timer"),
      roundNumber: $("round-number"),
      multiplier: $("multiplier"),
      connection: $("connection"),
    };
    const duel = {
      version: -1,
      seats: [],
      health: [START_HEALTH, START_HEALTH],
      status: null,
      round: null, // the current round's public part: index, number, views, deadline
      roundOpen: false,
      guessed: [],
      mine: false, // my guess for the current round is in
      sending: false, // a guess is on its way
      viewIndex: 0,
      viewsSeen: new Set(),
      marker: null,
      revealLayer: null,
      clockOffsetMs: null, // client clock minus server clock (at most the latency off)
      timerId: null,
      nextRoundAt: null,
      socket: null,
      retries: 0,
    };

    const map = G.worldMap(ui.mapEl, root.dataset.worldUrl);
    ui.mapEl.tabIndex = -1; // focusable by click, so Enter after placing a pin goes to the page

    // -- The socket

    function connect() {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const socket = new WebSocket(`${scheme}//${location.host}${root.dataset.wsPath}`);
      duel.socket = socket;
      setConnection("connecting");
      socket.addEventListener("open", () => {
        duel.retries = 0;
        setConnection("open");
      });
      socket.addEventListener("message", (e) => {
        let msg;
        try {
          msg = JSON.parse(e.data);
        } catch (err) {
          return;
        }
        receive(msg);
      });
      socket.addEventListener("close", () => {
        if (duel.socket !== socket) return;
        setConnection("closed");
        duel.sending = false;
        if (duel.status === "finished") return;
        const delay = RECONNECT_MS[Math.min(duel.retries++, RECONNECT_MS.length - 1)];
        setTimeout(connect, delay);
      });
    }

    function send(msg) {
      if (!duel.socket || duel.socket.readyState !== WebSocket.OPEN) return false;
      duel.socket.send(JSON.stringify(msg));
      return true;
    }

    function setConnection(state) {
      ui.connection.dataset.state = state;
      ui.connection.title = `Connection to the server: ${state}`;
    }

    function receive(msg) {
      if (typeof msg.at === "number") {
        const offset = Date.now() - msg.at * 1000;
        if (duel.clockOffsetMs === null || offset < duel.clockOffsetMs) duel.clockOffsetMs = offset;
      }
      if (msg.type === "state") {
        applyState(msg);
      } else if (msg.type === "error") {
        showMessage(msg.reason);
        duel.sending = false;
        refreshGuessButton();
      } else if (msg.type === "guess_ack") {
        duel.sending = false;
        if (duel.round && msg.round === duel.round.index) markGuessed(me);
      } else if (EVENTS.includes(msg.type)) {
        if (msg.version <= duel.version) return; // already part of the state we have
        if (msg.version !== duel.version + 1) {
          send({ type: "sync" }); // missed one: the whole state replaces ours
          return;
        }
        duel.version = msg.version;
        HANDLERS[msg.type](msg);
      }
    }

    function showMessage(text) {
      ui.message.textContent = text || "";
      ui.message.hidden = !text;
    }

    function serverNow() {
      return Date.now() - (duel.clockOffsetMs || 0);
    }

    // -- The whole state (on connect, and after a gap)

    function applyState(s) {
      duel.version = s.version;
      duel.status = s.status;
      duel.seats = s.seats;
      duel.health = s.health;
      duel.guessed = s.guessed.slice();
      renderSeats();
      renderHealth(s.health);
      ui.waiting.hidden = s.status !== "waiting";
      if (s.status === "waiting") root.dataset.phase = "waiting";
      else if (!s.round) root.dataset.phase = "starting";
      if (s.invite_url) ui.inviteLink.value = new URL(s.invite_url, location.href).href;
      const last = s.results.length ? s.results[s.results.length - 1] : null;
      if (s.round) {
        if (!duel.round || duel.round.index !== s.round.index) startRound(s.round, s.multiplier);
        duel.round = s.round;
        duel.roundOpen = s.round_open;
        if (s.round_open) {
          ui.result.hidden = true;
          duel.mine = s.guessed.includes(me) || Boolean(s.your_guess);
          if (s.your_guess) placeMarker(L.latLng(s.your_guess.lat, s.your_guess.lon), true);
          startTimer(s.round.deadline);
        } else if (last && last.round === s.round.index) {
          showResult(last);
        }
      }
      renderStatuses();
      duel.nextRoundAt = s.next_round_at;
      showNextRound();
      if (s.status === "finished") showOver(s.winner, s.reason);
      refreshGuessButton();
    }

    // -- Events

    const HANDLERS = {
      seat_joined(e) {
        const seat = duel.seats.find((x) => x.seat === e.seat);
        if (seat) seat.name = e.name;
        duel.status = "active";
        ui.waiting.hidden = true;
        renderSeats();
        duel.nextRoundAt = e.next_round_at;
        showNextRound();
      },
      round_started(e) {
        duel.status = "active";
        ui.waiting.hidden = true;
        startRound(e.round, e.multiplier);
        duel.round = e.round;
        duel.roundOpen = true;
        duel.guessed = [];
        duel.mine = false;
        duel.nextRoundAt = null;
        showNextRound();
        renderStatuses();
        startTimer(e.round.deadline);
        refreshGuessButton();
      },
      opponent_guessed(e) {
        if (!duel.round || e.round !== duel.round.index) return;
        markGuessed(e.seat);
        duel.round.deadline = e.deadline;
        startTimer(e.deadline);
      },
      round_result(e) {
        duel.roundOpen = false;
        duel.health = e.health;
        renderHealth(e.health);
        showResult(e);
        duel.nextRoundAt = e.next_round_at;
        showNextRound();
      },
      duel_over(e) {
        duel.status = "finished";
        renderHealth(e.health);
        showOver(e.winner, e.reason);
      },
    };

    // -- Seats, health and who has guessed

    function seatName(seat) {
      const s = duel.seats.find((x) => x.seat === seat);
      const name = (s && s.name) || (seat === 2 ? "Machine" : "Waiting…");
      return seat === me ? `${name} (you)` : name;
    }

    function renderSeats() {
      [0, 1].forEach((side) => {
        $(`seat-name-${side}`).textContent = seatName(side);
        $(`side-${side}`).classList.toggle("you", side === me);
      });
    }

    function renderHealth(health) {
      [0, 1].forEach((side) => {
        const h = health[side];
        const fill = $(`health-${side}`);
        fill.style.width = `${Math.max(0, Math.min(100, (100 * h) / START_HEALTH))}%`;
        fill.dataset.health = h;
        fill.classList.toggle("low", h <= START_HEALTH / 4);
        $(`health-text-${side}`).textContent = h.toLocaleString("en");
      });
    }

    function markGuessed(seat) {
      if (!duel.guessed.includes(seat)) duel.guessed.push(seat);
      if (seat === me) {
        duel.mine = true;
        if (duel.marker) duel.marker.dragging.disable();
      }
      renderStatuses();
      refreshGuessButton();
    }

    function renderStatuses() {
      [0, 1].forEach((side) => {
        const status = $(`status-${side}`);
        let state = "";
        if (duel.roundOpen) state = duel.guessed.includes(side) ? "guessed" : "thinking";
        status.dataset.status = state;
        if (state === "guessed") status.textContent = "Guessed";
        else if (state === "thinking") status.textContent = side === me ? "Your guess…" : "Thinking…";
        else status.textContent = "";
      });
    }

    // -- A round: the views

    function startRound(round, multiplier) {
      duel.viewsSeen = new Set();
      duel.mine = false;
      duel.sending = false;
      if (duel.marker) map.removeLayer(duel.marker);
      duel.marker = null;
      if (duel.revealLayer) map.removeLayer(duel.revealLayer);
      duel.revealLayer = null;
      delete ui.mapEl.dataset.markerLat;
      delete ui.mapEl.dataset.markerLon;
      ui.result.hidden = true;
      ui.guessActions.hidden = me > 1;
      showMessage("");
      ui.roundNumber.textContent = round.number;
      ui.multiplier.hidden = !(multiplier > 1);
      ui.multiplier.textContent = `×${multiplier} damage`;
      ui.multiplier.dataset.multiplier = multiplier;
      root.dataset.round = round.index;
      root.dataset.phase = "guessing";
      map.fitWorld();
      duel.round = round;
      renderViewButtons(round.views);
      showView(0);
      round.views.slice(1).forEach((v) => {
        new Image().src = v.url; // warm the cache; only opening a view counts as seeing it
      });
    }

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
      const views = duel.round ? duel.round.views : [];
      if (!views.length) return;
      const index = ((i % views.length) + views.length) % views.length;
      duel.viewIndex = index;
      duel.viewsSeen.add(index);
      ui.image.src = views[index].url;
      ui.image.dataset.index = index;
      ui.image.alt = `A street view of the place to find (view ${index + 1} of ${views.length})`;
      ui.viewButtons.querySelectorAll(".view-btn").forEach((b, k) => {
        b.classList.toggle("active", k === index);
        b.setAttribute("aria-pressed", String(k === index));
      });
    }

    // -- Guessing

    function canGuess() {
      return duel.roundOpen && !duel.mine && !duel.sending && me <= 1 && duel.status === "active";
    }

    function refreshGuessButton() {
      const ready = canGuess() && duel.marker;
      ui.submit.disabled = !ready;
      if (duel.mine) ui.submit.textContent = "Guessed — waiting for the round to end";
      else if (duel.sending) ui.submit.textContent = "Sending…";
      else ui.submit.textContent = duel.marker ? "Guess" : "Place a pin on the map";
    }

    function placeMarker(latlng, locked) {
      // Leaflet gives longitudes beyond ±180 left or right of the main world; the server wants [-180, 180].
      const ll = L.latLng(Math.max(-90, Math.min(90, latlng.lat)), latlng.lng).wrap();
      if (!duel.marker) {
        duel.marker = L.marker(ll, { draggable: !locked, keyboard: false, title: "Your guess" }).addTo(map);
        duel.marker.on("dragend", () => placeMarker(duel.marker.getLatLng()));
      } else {
        duel.marker.setLatLng(ll);
      }
      ui.mapEl.dataset.markerLat = ll.lat;
      ui.mapEl.dataset.markerLon = ll.lng;
      refreshGuessButton();
    }

    map.on("click", (e) => {
      if (canGuess()) placeMarker(e.latlng);
    });

    function submitGuess() {
      if (!duel.marker || !canGuess()) return;
      const ll = duel.marker.getLatLng();
      const sent = send({
        type: "guess",
        round: duel.round.index,
        lat: ll.lat,
        lon: ll.lng,
        views_seen: [...duel.viewsSeen].sort(),
      });
      if (!sent) {
        showMessage("Not connected to the server; reconnecting…");
        return;
      }
      duel.sending = true;
      refreshGuessButton();
    }

    ui.submit.addEventListener("click", submitGuess);

    // -- The clock

    function startTimer(deadline) {
      stopTimer();
      if (!deadline || !duel.roundOpen) {
        ui.timer.hidden = true;
        return;
      }
      const end = Date.parse(deadline);
      ui.timer.hidden = false;
      const tick = () => {
        const left = end - serverNow();
        const s = Math.max(0, Math.ceil(left / 1000));
        ui.timer.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
        ui.timer.dataset.seconds = s;
        ui.timer.classList.toggle("urgent", s <= 10);
        if (left <= 0) {
          stopTimer();
          if (duel.marker && canGuess()) submitGuess(); // within the server's grace period
        }
      };
      tick();
      if (ui.timer.dataset.seconds !== "0") duel.timerId = setInterval(tick, 250);
    }

    function stopTimer() {
      if (duel.timerId !== null) clearInterval(duel.timerId);
      duel.timerId = null;
    }

    function showNextRound() {
      clearInterval(duel.nextTimerId);
      if (!duel.nextRoundAt || duel.status === "finished") {
        ui.statusLine.textContent = duel.status === "waiting" ? "Waiting for your opponent to join." : "";
        return;
      }
      const at = Date.parse(duel.nextRoundAt);
      const tick = () => {
        const s = Math.max(0, Math.ceil((at - serverNow()) / 1000));
        const what = duel.round ? "Next round" : "The duel starts";
        ui.statusLine.textContent = s > 0 ? `${what} in ${s} s` : `${what} now…`;
      };
      tick();
      duel.nextTimerId = setInterval(tick, 250);
    }

    // -- The result of a round

    function showResult(r) {
      stopTimer();
      ui.timer.hidden = true;
      duel.roundOpen = false;
      renderStatuses();
      refreshGuessButton();
      ui.guessActions.hidden = true;
      ui.result.hidden = false; // before fitting the map: the panel takes some of its height
      const answer = [r.answer.lat, r.answer.lon];
      if (duel.revealLayer) map.removeLayer(duel.revealLayer);
      if (duel.marker) map.removeLayer(duel.marker);
      duel.marker = null;
      const layer = L.layerGroup().addTo(map);
      duel.revealLayer = layer;
      const bounds = [answer];
      Object.keys(ui.result.dataset).forEach((k) => delete ui.result.dataset[k]);
      ui.result.dataset.round = r.round;
      ui.result.dataset.answerLat = r.answer.lat;
      ui.result.dataset.answerLon = r.answer.lon;
      $("result-row-2").hidden = true;
      r.guesses.forEach((g) => {
        const row = $(`result-row-${g.seat}`);
        if (!row) return;
        row.hidden = false;
        $(`result-name-${g.seat}`).textContent = seatName(g.seat);
        $(`result-distance-${g.seat}`).textContent = g.timed_out ? "no guess" : G.formatDistance(g.distance_km);
        const points = $(`result-points-${g.seat}`);
        points.textContent = G.formatPoints(g.points);
        points.dataset.points = g.points;
        if (g.lat === null || g.lat === undefined) return;
        const at = [g.lat, g.lon];
        bounds.push(at);
        ui.result.dataset[`guess${g.seat}Lat`] = g.lat;
        ui.result.dataset[`guess${g.seat}Lon`] = g.lon;
        L.polyline(G.greatCircle(at, answer), { ...G.styles.line, weight: 2, interactive: false }).addTo(layer);
        L.circleMarker(at, SEAT_STYLES[g.seat] || SEAT_STYLES[2])
          .bindTooltip(G.textLabel(`${seatName(g.seat)}: ${G.formatDistance(g.distance_km)}`))
          .addTo(layer);
      });
      L.circleMarker(answer, G.styles.answer)
        .bindTooltip(G.textLabel(G.placeLabel(r.answer)), { permanent: true, direction: "top", offset: [0, -8] })
        .addTo(layer);
      map.invalidateSize();
      if (bounds.length > 1) map.fitBounds(L.latLngBounds(bounds), { padding: [40, 40], maxZoom: 12 });
      else map.setView(answer, 5);

      const hurt = r.damage[0] > 0 ? 0 : r.damage[1] > 0 ? 1 : null;
      ui.damage.dataset.damage = r.damage.join(",");
      ui.damage.textContent =
        hurt === null ? "No damage" : `${seatName(hurt)} −${r.damage[hurt].toLocaleString("en")}`;
      if (r.multiplier > 1) ui.damage.textContent += ` (×${r.multiplier})`;
      const mineWon = hurt !== null && me <= 1 && hurt !== me;
      if (hurt === null) ui.verdict.textContent = "An even round.";
      else if (me > 1) ui.verdict.textContent = `${seatName(1 - hurt)} wins the round.`;
      else ui.verdict.textContent = mineWon ? "You win the round!" : "You lose the round.";
      ui.verdict.className = `verdict ${hurt === null || mineWon ? "good" : "poor"}`;
      ui.answer.textContent = `The place: ${G.placeLabel(r.answer)}`;
      const a = r.attribution || {};
      ui.credit.textContent = [`Photo: ${a.source || ""} ${a.source_id || ""}`, a.license, a.attribution]
        .filter(Boolean)
        .join(" · ");
      root.dataset.phase = "result";
    }

    function showOver(winner, reason) {
      stopTimer();
      clearInterval(duel.nextTimerId);
      ui.statusLine.textContent = "";
      ui.timer.hidden = true;
      ui.guessActions.hidden = true;
      ui.over.hidden = false;
      ui.over.dataset.winner = winner === null || winner === undefined ? "draw" : winner;
      let text;
      if (winner === null || winner === undefined) text = "The duel is a draw.";
      else if (winner === me) text = "You win the duel!";
      else text = `${seatName(winner)} wins the duel.`;
      if (reason === "last_round") text += " (after the last round)";
      ui.winner.textContent = text;
      root.dataset.phase = "over";
    }

    // -- Keyboard: Left/Right switch views, Enter guesses

    document.addEventListener("keydown", (e) => {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      const inField = e.target.closest && e.target.closest("input, textarea, select");
      const onControl = e.target.closest && e.target.closest("button, a, input, textarea, select");
      if ((e.key === "ArrowLeft" || e.key === "ArrowRight") && !inField && duel.round) {
        e.preventDefault();
        showView(duel.viewIndex + (e.key === "ArrowRight" ? 1 : -1));
      } else if (e.key === "Enter" && !onControl && duel.marker && canGuess()) {
        e.preventDefault();
        submitGuess();
      }
    });

    renderHealth(duel.health);
    connect();
  }

  const root = document.getElementById("duel");
  if (root) duelPage(root);
})();
