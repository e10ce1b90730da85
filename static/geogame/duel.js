/* geogame's duel page: the socket, health and seats, on the shared round UI (round.js).
 *
 * The server is the only authority: this page sends guesses and draws what the socket says
 * (protocol: geogame/duels/protocol.py). Every broadcast event carries the duel's version; an
 * event that is not the next one makes the page ask for the whole state again (`sync`), and a
 * reconnect gets the whole state by itself. The protocol's message names, the starting health
 * and the duel's statuses come from the server (#duel-config, written by geogame/duels/views.py).
 */
(function () {
  "use strict";

  const { $, formatDistance, formatPoints } = window.geogame;
  const R = window.geogame.round;
  const SEAT_STYLES = [
    { radius: 8, color: "#ffffff", weight: 3, fillColor: "#2463eb", fillOpacity: 1 },
    { radius: 8, color: "#ffffff", weight: 3, fillColor: "#b42318", fillOpacity: 1 },
    { radius: 7, color: "#ffffff", weight: 3, fillColor: "#7c3aed", fillOpacity: 1 },
  ];
  const SIDES = [0, 1]; // the two sides that take damage; a third seat only guesses along
  const RECONNECT_MS = [300, 1000, 2000, 4000];

  function duelPage(root) {
    const config = R.serverData("duel-config");
    const STATUS = config.status;
    const me = Number(root.dataset.seat);
    const ui = {
      statusLine: $("status-line"),
      waiting: $("waiting"),
      inviteLink: $("invite-link"),
      over: $("duel-over"),
      winner: $("winner"),
      submit: $("submit-guess"),
      guessActions: $("guess-actions"),
      result: $("round-result"),
      verdict: $("result-verdict"),
      damage: $("result-damage"),
      answer: $("result-answer"),
      credit: $("result-attribution"),
      roundNumber: $("round-number"),
      multiplier: $("multiplier"),
      connection: $("connection"),
    };
    const duel = {
      version: -1,
      seats: [],
      health: [config.start_health, config.start_health],
      status: null,
      round: null, // the current round's public part: index, number, views, deadline
      roundOpen: false,
      guessed: [],
      mine: false, // my guess for the current round is in
      sending: false, // a guess is on its way
      nextRoundAt: null,
      socket: null,
      retries: 0,
    };

    const showMessage = R.messageLine($("message"));
    const clock = R.serverClock();
    const timer = R.countdown($("timer"), clock);
    const nextRound = R.repeat(tickNextRound);
    const views = R.viewStrip({ root, image: $("view-image"), buttons: $("view-buttons"), counting: canGuess });
    const guessMap = R.guessMap({
      container: $("map"),
      worldUrl: root.dataset.worldUrl,
      canPlace: canGuess,
      onPin: refreshGuessButton,
    });

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
        if (duel.status === STATUS.finished) return;
        const delay = RECONNECT_MS[Math.min(duel.retries++, RECONNECT_MS.length - 1)];
        setTimeout(connect, delay);
      });
    }

    function send(type, fields) {
      if (!config.requests.includes(type)) throw new Error(`the server takes no "${type}" message`);
      if (!duel.socket || duel.socket.readyState !== WebSocket.OPEN) return false;
      duel.socket.send(JSON.stringify({ type, ...fields }));
      return true;
    }

    function setConnection(state) {
      ui.connection.dataset.state = state;
      ui.connection.title = `Connection to the server: ${state}`;
    }

    function receive(msg) {
      if (typeof msg.at === "number") clock.observe(msg.at * 1000);
      if (config.replies.includes(msg.type)) {
        REPLIES[msg.type](msg);
      } else if (config.events.includes(msg.type)) {
        if (msg.version <= duel.version) return; // already part of the state we have
        if (msg.version !== duel.version + 1) {
          send("sync"); // missed one: the whole state replaces ours
          return;
        }
        duel.version = msg.version;
        EVENTS[msg.type](msg);
      }
    }

    // -- Replies to this page only

    const REPLIES = {
      state: applyState,
      error(e) {
        showMessage(e.reason);
        duel.sending = false;
        refreshGuessButton();
      },
      guess_ack(e) {
        duel.sending = false;
        if (duel.round && e.round === duel.round.index) markGuessed(me);
      },
    };

    /** The whole state, on connect and after a gap. */
    function applyState(s) {
      duel.version = s.version;
      duel.status = s.status;
      duel.seats = s.seats;
      duel.health = s.health;
      duel.guessed = s.guessed.slice();
      renderSeats();
      renderHealth(s.health);
      ui.waiting.hidden = s.status !== STATUS.waiting;
      if (s.status === STATUS.waiting) root.dataset.phase = "waiting";
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
          if (s.your_guess) guessMap.place(L.latLng(s.your_guess.lat, s.your_guess.lon), { locked: true });
          timer.start(s.round.deadline, timeUp);
        } else if (last && last.round === s.round.index) {
          showResult(last);
        }
      }
      renderStatuses();
      showNextRound(s.next_round_at);
      if (s.status === STATUS.finished) showOver(s.winner, s.reason);
      refreshGuessButton();
    }

    // -- Events, broadcast to every seat

    const EVENTS = {
      seat_joined(e) {
        const seat = duel.seats.find((x) => x.seat === e.seat);
        if (seat) seat.name = e.name;
        duel.status = STATUS.active;
        ui.waiting.hidden = true;
        renderSeats();
        showNextRound(e.next_round_at);
      },
      round_started(e) {
        duel.status = STATUS.active;
        ui.waiting.hidden = true;
        startRound(e.round, e.multiplier);
        duel.roundOpen = true;
        duel.guessed = [];
        showNextRound(null);
        renderStatuses();
        timer.start(e.round.deadline, timeUp);
        refreshGuessButton();
      },
      opponent_guessed(e) {
        if (!duel.round || e.round !== duel.round.index) return;
        markGuessed(e.seat);
        duel.round.deadline = e.deadline;
        if (duel.roundOpen) timer.start(e.deadline, timeUp);
      },
      round_result(e) {
        duel.roundOpen = false;
        duel.health = e.health;
        renderHealth(e.health);
        showResult(e);
        showNextRound(e.next_round_at);
      },
      duel_over(e) {
        duel.status = STATUS.finished;
        renderHealth(e.health);
        showOver(e.winner, e.reason);
      },
    };

    // Names the server sends that this page cannot handle are a bug: say so at once.
    const unhandled = [...config.events.filter((t) => !EVENTS[t]), ...config.replies.filter((t) => !REPLIES[t])];
    if (unhandled.length) throw new Error(`duel.js handles no ${unhandled.join(", ")} message`);

    // -- Seats, health and who has guessed

    function seatName(seat) {
      const s = duel.seats.find((x) => x.seat === seat);
      const name = (s && s.name) || (seat === 2 ? "Machine" : "Waiting…");
      return seat === me ? `${name} (you)` : name;
    }

    function renderSeats() {
      SIDES.forEach((side) => {
        $(`seat-name-${side}`).textContent = seatName(side);
        $(`side-${side}`).classList.toggle("you", side === me);
      });
    }

    function renderHealth(health) {
      SIDES.forEach((side) => {
        const h = health[side];
        const fill = $(`health-${side}`);
        fill.style.width = `${Math.max(0, Math.min(100, (100 * h) / config.start_health))}%`;
        fill.dataset.health = h;
        fill.classList.toggle("low", h <= config.start_health / 4);
        $(`health-text-${side}`).textContent = h.toLocaleString("en");
      });
    }

    function markGuessed(seat) {
      if (!duel.guessed.includes(seat)) duel.guessed.push(seat);
      if (seat === me) {
        duel.mine = true;
        guessMap.lockPin(true);
      }
      renderStatuses();
      refreshGuessButton();
    }

    function renderStatuses() {
      SIDES.forEach((side) => {
        const status = $(`status-${side}`);
        let state = "";
        if (duel.roundOpen) state = duel.guessed.includes(side) ? "guessed" : "thinking";
        status.dataset.status = state;
        if (state === "guessed") status.textContent = "Guessed";
        else if (state === "thinking") status.textContent = side === me ? "Your guess…" : "Thinking…";
        else status.textContent = "";
      });
    }

    // -- A round

    function startRound(round, multiplier) {
      duel.round = round;
      duel.mine = false;
      duel.sending = false;
      guessMap.reset();
      R.clearResult(ui.result, [ui.verdict, ui.damage, ui.answer, ui.credit]);
      ui.guessActions.hidden = !SIDES.includes(me);
      showMessage("");
      ui.roundNumber.textContent = round.number;
      ui.multiplier.hidden = !(multiplier > 1);
      ui.multiplier.textContent = `×${multiplier} damage`;
      ui.multiplier.dataset.multiplier = multiplier;
      root.dataset.round = round.index;
      root.dataset.phase = "guessing";
      views.start(round.views);
    }

    function canGuess() {
      return duel.roundOpen && !duel.mine && !duel.sending && SIDES.includes(me) && duel.status === STATUS.active;
    }

    function refreshGuessButton() {
      ui.submit.disabled = !(canGuess() && guessMap.hasPin());
      if (duel.mine) ui.submit.textContent = "Guessed — waiting for the round to end";
      else if (duel.sending) ui.submit.textContent = "Sending…";
      else ui.submit.textContent = guessMap.hasPin() ? "Guess" : "Place a pin on the map";
    }

    function submitGuess() {
      if (!guessMap.hasPin() || !canGuess()) return false;
      const ll = guessMap.pinAt();
      const sent = send("guess", { round: duel.round.index, lat: ll.lat, lon: ll.lng, views_seen: views.seen() });
      if (!sent) {
        showMessage("Not connected to the server; reconnecting…");
        return false;
      }
      duel.sending = true;
      refreshGuessButton();
      return true;
    }

    ui.submit.addEventListener("click", submitGuess);
    R.keyboard(views, submitGuess);

    function timeUp() {
      submitGuess(); // with a pin placed, within the server's grace period
    }

    /** The status line's count to the next round (or the first), at `at` (ISO) or none. */
    function showNextRound(at) {
      duel.nextRoundAt = at;
      nextRound.stop();
      if (!at || duel.status === STATUS.finished) {
        ui.statusLine.textContent = duel.status === STATUS.waiting ? "Waiting for your opponent to join." : "";
        return;
      }
      nextRound.start();
    }

    function tickNextRound() {
      const s = Math.max(0, Math.ceil((Date.parse(duel.nextRoundAt) - clock.now()) / 1000));
      const what = duel.round ? "Next round" : "The duel starts";
      ui.statusLine.textContent = s > 0 ? `${what} in ${s} s` : `${what} now…`;
    }

    // -- The result of a round

    function showResult(r) {
      timer.hide();
      duel.roundOpen = false;
      renderStatuses();
      refreshGuessButton();
      ui.guessActions.hidden = true;
      ui.result.hidden = false;
      guessMap.removePin(); // each seat's guess is drawn as a dot instead
      Object.keys(ui.result.dataset).forEach((k) => delete ui.result.dataset[k]);
      ui.result.dataset.round = r.round;
      ui.result.dataset.answerLat = r.answer.lat;
      ui.result.dataset.answerLon = r.answer.lon;
      $("result-row-2").hidden = true;
      const marks = [];
      r.guesses.forEach((g) => {
        const row = $(`result-row-${g.seat}`);
        if (!row) return;
        row.hidden = false;
        $(`result-name-${g.seat}`).textContent = seatName(g.seat);
        $(`result-distance-${g.seat}`).textContent = g.timed_out ? "no guess" : formatDistance(g.distance_km);
        const points = $(`result-points-${g.seat}`);
        points.textContent = formatPoints(g.points);
        points.dataset.points = g.points;
        if (g.lat === null || g.lat === undefined) return;
        ui.result.dataset[`guess${g.seat}Lat`] = g.lat;
        ui.result.dataset[`guess${g.seat}Lon`] = g.lon;
        marks.push({
          at: [g.lat, g.lon],
          style: SEAT_STYLES[g.seat] || SEAT_STYLES[2],
          className: `seat-marker seat-${g.seat}`,
          label: `${seatName(g.seat)}: ${formatDistance(g.distance_km)}`,
        });
      });

      const hurt = r.damage[0] > 0 ? 0 : r.damage[1] > 0 ? 1 : null;
      ui.damage.dataset.damage = r.damage.join(",");
      ui.damage.textContent =
        hurt === null ? "No damage" : `${seatName(hurt)} −${r.damage[hurt].toLocaleString("en")}`;
      if (r.multiplier > 1) ui.damage.textContent += ` (×${r.multiplier})`;
      const player = SIDES.includes(me);
      const mineWon = hurt !== null && player && hurt !== me;
      if (hurt === null) ui.verdict.textContent = "An even round.";
      else if (!player) ui.verdict.textContent = `${seatName(1 - hurt)} wins the round.`;
      else ui.verdict.textContent = mineWon ? "You win the round!" : "You lose the round.";
      ui.verdict.className = `verdict ${hurt === null || mineWon ? "good" : "poor"}`;
      R.answerText(ui, r);
      guessMap.reveal(r.answer, marks); // last, once the panel has its size: the map makes room for it
      root.dataset.phase = "result";
    }

    function showOver(winner, reason) {
      timer.hide();
      nextRound.stop();
      ui.statusLine.textContent = "";
      ui.guessActions.hidden = true;
      ui.over.hidden = false;
      ui.over.dataset.winner = winner === null || winner === undefined ? "draw" : winner;
      let text;
      if (winner === null || winner === undefined) text = "The duel is a draw.";
      else if (winner === me) text = "You win the duel!";
      else text = `${seatName(winner)} wins the duel.`;
      if (reason === config.reasons.last_round) text += " (after the last round)";
      if (reason === config.reasons.forfeit) text += " (a side made no guess in time: a forfeit)";
      ui.winner.textContent = text;
      root.dataset.phase = "over";
    }

    renderHealth(duel.health);
    connect();
  }

  const root = document.getElementById("duel");
  if (root) duelPage(root);
})();
