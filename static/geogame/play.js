/* geogame's play page: one game over its state JSON, on the shared round UI (round.js).
 *
 * The play page knows nothing about a round until it fetches the state JSON
 * (geogame/selectors.py: game_state). The answer reaches the browser only in
 * `state.result`, after the guess; nothing here may guess at it before.
 * A study participant's page is the same page over geogame/studies/selectors.py: study_state,
 * whose result may be `{hidden: true}` (no answer shown) and whose total is null.
 */
(function () {
  "use strict";

  const { $, el, formatDistance, formatPoints, placeLabel } = window.geogame;
  const R = window.geogame.round;
  const { guess: GUESS_STYLE, opponent: OPPONENT_STYLE } = window.geogame.styles;
  const OPPONENT_POLL_MS = 1000;
  const OPPONENT_POLLS = 30;
  const EXPIRE_POLLS = 10; // GETs after the clock runs out, one a second, until the server records it

  /** The pannable 360-degree view of a round's panorama (Pannellum), where the map offers it
   * (round.panorama: a per-round URL, or null): a full-screen dialog over the page. The image is
   * fetched by an <img> and handed to Pannellum already loaded ("dynamic" content, drawn on
   * demand): Pannellum's own loader would make a blob: URL of it, which the page's
   * Content-Security-Policy (img-src) does not allow. While it is open it has the keyboard:
   * arrows look round, + and - zoom, Escape closes it; nothing reaches the page's own keys. */
  function panoramaView() {
    const button = $("panorama-open");
    const box = $("panorama-box");
    const target = $("panorama-viewer");
    if (!button || !box || !window.pannellum) return { start() {}, close() {} };
    let url = null;
    let viewer = null;
    let opener = null;

    function close() {
      if (box.hidden) return;
      box.hidden = true;
      if (viewer) viewer.destroy();
      viewer = null;
      delete box.dataset.state;
      delete box.dataset.yaw;
      if (opener && document.contains(opener)) opener.focus();
    }

    function open() {
      if (!url) return;
      opener = document.activeElement;
      box.hidden = false;
      box.dataset.state = "loading";
      target.focus();
      const image = new Image();
      const wanted = url;
      image.addEventListener("load", () => {
        if (box.hidden || wanted !== url) return;
        viewer = window.pannellum.viewer(target, {
          type: "equirectangular",
          panorama: image,
          dynamic: true,
          autoLoad: true,
          showFullscreenCtrl: false,
          compass: false,
          hfov: 100,
          minHfov: 40,
          maxHfov: 120,
          friction: 0.2,
        });
        viewer.on("load", () => {
          box.dataset.state = "shown";
          box.dataset.yaw = viewer.getYaw().toFixed(1);
        });
        viewer.on("animatefinished", ({ yaw }) => {
          box.dataset.yaw = yaw.toFixed(1);
        });
        viewer.on("error", () => {
          box.dataset.state = "failed";
        });
        viewer.setUpdate(false); // draw it (dynamic content waits for this), and only when it moves
        target.focus();
      });
      image.addEventListener("error", () => {
        box.dataset.state = "failed";
      });
      image.src = wanted;
    }

    button.addEventListener("click", open);
    $("panorama-close").addEventListener("click", close);
    box.addEventListener("keydown", (e) => {
      if (e.key === "Escape") close();
      if (e.key !== "Tab") e.stopPropagation(); // not the views' arrows, nor Enter's guess
    });
    return {
      /** A new round: its panorama URL, or null; an open view of the last round's closes. */
      start(panoramaUrl) {
        close();
        url = panoramaUrl || null;
        button.hidden = !url;
      },
      close,
    };
  }

  function playPage(root) {
    const mode = root.dataset.mode;
    const { max_points: MAX_POINTS } = R.serverData("play-config");
    const ui = {
      image: $("view-image"),
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
      total: $("total-points"),
      roundNumber: $("round-number"),
      roundsTotal: $("rounds-total"),
      phaseLabel: $("phase-label"),
    };
    const game = {
      state: null,
      roundNumber: null,
      busy: false, // a guess or next-round request is on its way
      opponentPoll: null, // timer while the machine opponent is still thinking
    };

    const showMessage = R.messageLine($("message"));
    const clock = R.serverClock();
    const timer = R.countdown($("timer"), clock);
    const views = R.viewStrip({
      root,
      image: ui.image,
      buttons: $("view-buttons"),
      lightbox: {
        box: $("lightbox"),
        image: $("lightbox-image"),
        close: $("lightbox-close"),
        zoomIn: $("zoom-in"),
        zoomOut: $("zoom-out"),
        reset: $("zoom-reset"),
        openers: [$("enlarge")],
      },
      counting: guessing,
    });
    const panorama = panoramaView();
    const guessMap = R.guessMap({
      container: ui.mapEl,
      worldUrl: root.dataset.worldUrl,
      canPlace: () => mode === "coordinates" && guessing(),
      onPin: refreshGuessButton,
    });
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

    // -- Applying a state

    function applyState(reply) {
      const state = reply.data;
      game.state = state;
      clock.observe(Date.parse(state.server_time), reply.arrivedAt);
      if (state.total_points !== null) {
        ui.total.textContent = state.total_points.toLocaleString("en");
        ui.total.dataset.points = state.total_points;
      }
      showOpponentTotal(state);
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
      else timer.start(round.deadline, timeUp);
    }

    /** The machine's running total, over the rounds this player has finished only. */
    function showOpponentTotal(state) {
      const node = $("opponent-total-points");
      if (!node || !Number.isFinite(state.opponent_total_points)) return;
      node.textContent = state.opponent_total_points.toLocaleString("en");
      node.dataset.points = state.opponent_total_points;
    }

    function startRound(state) {
      const round = state.round;
      clearTimeout(game.opponentPoll);
      ui.opponent.hidden = true;
      game.roundNumber = round.number;
      game.busy = false;
      guessMap.reset();
      // Forget the last round's answer: the page holds nothing about this round's until the guess.
      R.clearResult(ui.result, [ui.verdict, ui.distance, ui.points, ui.answer, ui.credit, ui.opponent]);
      refreshGuessButton();
      if (mode === "city") {
        ui.mapEl.hidden = true;
        renderCityChoices(state.candidates || [], round.prompt);
      } else {
        ui.guessActions.hidden = false;
      }
      views.start(round.views);
      panorama.start(round.panorama);
      attention.start();
    }

    // A study's browser measures (geogame/studies): time hidden, focus losses, and reaction time
    // from the first image's load to the answer.
    const attention = (() => {
      let loadedAt = null;
      let hiddenSince = null;
      let hiddenMs = 0;
      let blurs = 0;
      ui.image.addEventListener("load", () => {
        if (loadedAt === null) loadedAt = performance.now();
      });
      document.addEventListener("visibilitychange", () => {
        if (document.hidden) hiddenSince = performance.now();
        else if (hiddenSince !== null) {
          hiddenMs += performance.now() - hiddenSince;
          hiddenSince = null;
        }
      });
      window.addEventListener("blur", () => (blurs += 1));
      return {
        start() {
          loadedAt = null;
          hiddenSince = document.hidden ? performance.now() : null;
          hiddenMs = 0;
          blurs = 0;
        },
        measures() {
          const now = performance.now();
          const hidden = hiddenMs + (hiddenSince === null ? 0 : now - hiddenSince);
          return {
            hidden_ms: Math.round(hidden),
            blur_count: blurs,
            rt_ms: loadedAt === null ? null : Math.round(now - loadedAt),
          };
        },
      };
    })();

    // -- Guessing

    function guessing() {
      return game.state && game.state.round && !game.state.result && !game.busy;
    }

    function refreshGuessButton() {
      ui.submit.disabled = !(guessing() && guessMap.hasPin());
      ui.submit.textContent = guessMap.hasPin() ? "Guess" : "Place a pin on the map";
    }

    function submitPin() {
      if (!guessMap.hasPin() || !guessing()) return false;
      const ll = guessMap.pinAt();
      submitGuess({ lat: ll.lat, lon: ll.lng });
      return true;
    }

    async function submitGuess(guess) {
      views.pause();
      game.busy = true;
      refreshGuessButton();
      guessMap.lockPin(true); // the pin stays where it was sent
      setCityChoices({ disabled: true });
      const body = {
        ...guess,
        views_seen: views.seen(),
        view_ms: views.viewMs(),
        screen: { w: window.innerWidth, h: window.innerHeight },
      };
      if (game.state.study) body.client = attention.measures();
      if (game.state.round.phase) body.phase = game.state.round.phase;
      const reply = await request(game.state.round.guess_url, "POST", body);
      if (!reply) {
        game.busy = false;
        if (!game.state.result) {
          views.resume(); // still guessing: keep counting
          refreshGuessButton();
          guessMap.lockPin(false);
          setCityChoices({ disabled: false });
        }
      }
    }

    ui.submit.addEventListener("click", submitPin);

    function renderCityChoices(candidates, prompt) {
      ui.cityChoices.replaceChildren();
      ui.cityChoices.hidden = false;
      ui.cityChoices.append(el("p", { class: prompt ? "city-prompt" : "muted", id: "city-prompt" }, prompt || "Which city is this?"));
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

    /** Enables or disables the city buttons; `right` marks the answer's, `picked` the player's
     * (marked wrong when it is not the answer). */
    function setCityChoices({ disabled, right, picked }) {
      ui.cityChoices.querySelectorAll("button").forEach((b) => {
        b.disabled = disabled;
        if (!disabled) b.classList.remove("chosen");
        if (right !== undefined) b.classList.toggle("right", b.dataset.city === right);
        const wrong = picked !== undefined && b.dataset.city === picked && picked !== right;
        b.classList.toggle("wrong", wrong);
        if (wrong) b.setAttribute("aria-label", `${b.dataset.city} (your pick, wrong)`);
        else b.removeAttribute("aria-label");
      });
    }

    function timeUp() {
      if (!guessing()) return;
      if (mode === "coordinates" && submitPin()) return; // within the server's grace period
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
      timer.hide();
      game.busy = false;
      refreshGuessButton();
      ui.guessActions.hidden = true;
      ui.next.hidden = state.finished;
      ui.next.disabled = false;
      ui.summaryLink.hidden = !state.finished;
      ui.summaryLink.href = state.summary_url;
      if (state.summary_label) ui.summaryLink.textContent = state.summary_label;
      if (result.hidden) {
        showRecorded(result);
        return;
      }
      setCityChoices({
        disabled: true,
        right: placeLabel(result.answer),
        picked: result.guess && result.guess.city ? result.guess.city : undefined,
      });
      const guess = result.guess ? [result.guess.lat, result.guess.lon] : null;
      ui.result.dataset.answerLat = result.answer.lat;
      ui.result.dataset.answerLon = result.answer.lon;
      if (guess) {
        ui.result.dataset.guessLat = guess[0];
        ui.result.dataset.guessLon = guess[1];
      }
      ui.result.dataset.timedOut = result.timed_out;
      if (result.correct !== null && result.correct !== undefined) ui.result.dataset.correct = result.correct;

      ui.verdict.textContent = verdict(result);
      ui.verdict.className = `verdict ${result.points >= MAX_POINTS / 2 ? "good" : "poor"}`;
      ui.distance.textContent = formatDistance(result.distance_km);
      ui.distance.dataset.km = result.distance_km === null ? "" : result.distance_km;
      ui.points.textContent = formatPoints(result.points);
      ui.points.dataset.points = result.points;
      R.answerText(ui, result);
      // Last, once the panel has its final size: the map shrinks to make room for it.
      ui.result.hidden = false;
      ui.mapEl.hidden = false;
      const marks = !guess
        ? []
        : mode === "coordinates"
          ? [{ at: guess, pin: true, label: `You: ${formatDistance(result.distance_km)}` }]
          : [{ at: guess, style: GUESS_STYLE, className: "guess-marker", label: `Your pick: ${result.guess.city}` }];
      guessMap.reveal(result.answer, marks);
      showOpponent(result.opponent);
    }

    // A study's test trial: the answer is recorded, and not shown.
    function showRecorded(result) {
      setCityChoices({ disabled: true });
      guessMap.lockPin(true);
      ui.result.dataset.hidden = "true";
      ui.verdict.textContent = result.timed_out ? "Time's up — recorded as no answer." : "Answer recorded.";
      ui.verdict.className = "verdict";
      ui.answer.textContent = "Answers are not shown in this part of the study.";
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
            if (sameRound && state.result) {
              showOpponentTotal(state);
              showOpponent(state.result.opponent, polls + 1);
            }
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
      if (opponent.guess) {
        const at = [opponent.guess.lat, opponent.guess.lon];
        guessMap.addMark({
          at,
          style: OPPONENT_STYLE,
          className: "opponent-marker",
          label: `${opponent.name}: ${formatDistance(opponent.distance_km)}`,
          line: { color: "#9a3412" },
        });
      }
    }

    function verdict(result) {
      if (result.timed_out && !result.guess) return "Time's up — no guess this round.";
      if (mode === "city") {
        return result.correct ? "Correct!" : `Not quite — you picked ${result.guess.city}.`;
      }
      const share = result.points / MAX_POINTS;
      if (share >= 0.9) return "Superb!";
      if (share >= 0.6) return "Close!";
      if (share >= 0.2) return "Not bad.";
      return "Far off this time.";
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

    // Enter guesses with the pin, or moves on to the next round.
    R.keyboard(views, () => {
      if (mode === "coordinates" && submitPin()) return true;
      if (!game.state || !game.state.result || ui.next.hidden) return false;
      ui.next.click();
      return true;
    });

    loadState();
  }

  const playRoot = $("game");
  if (playRoot) playPage(playRoot);
})();
