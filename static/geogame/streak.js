/* The country streak page (templates/streaks/play.html): one place a round; the player clicks a
 * country on the map (the point is sent; the server finds its country) or types its name (its code
 * is sent). Everything about a round comes from the state JSON, and nothing before the answer
 * names the place. Text goes into the page as textContent only. */
(function () {
  "use strict";
  const { el } = window.geogame;
  const root = document.getElementById("streak");
  const names = JSON.parse(document.getElementById("country-names").textContent); // [[code, name]]
  const codeByName = new Map(names.map(([code, name]) => [name.toLowerCase(), code]));
  const list = document.getElementById("country-list");
  names.forEach(([, name]) => list.appendChild(el("option", { value: name })));

  const $ = (id) => document.getElementById(id);
  const message = $("message");
  let current = null; // the round being answered
  let busy = false;
  let answerMarker = null;
  let timer = null;

  const map = window.geogame.worldMap($("map"), root.dataset.worldUrl);

  function csrfToken() {
    const input = root.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function say(text) {
    message.textContent = text || "";
    message.hidden = !text;
  }

  function showTimer(deadline) {
    clearInterval(timer);
    const box = $("timer");
    if (!deadline) {
      box.hidden = true;
      return;
    }
    const end = Date.parse(deadline);
    const tick = () => {
      const left = Math.max(0, Math.round((end - Date.now()) / 1000));
      box.textContent = `${left} s`;
      box.hidden = false;
      if (left <= 0) {
        clearInterval(timer);
        load();
      }
    };
    tick();
    timer = setInterval(tick, 1000);
  }

  function showRound(round) {
    current = round;
    $("result").hidden = true;
    $("country-input").value = "";
    $("country-input").disabled = false;
    $("country-submit").disabled = false;
    if (answerMarker) answerMarker.remove();
    const thumbs = $("thumbs");
    thumbs.replaceChildren();
    round.views.forEach((view, i) => {
      const button = el("button", { type: "button", class: "streak-thumb", "aria-label": `View ${i + 1}` });
      button.appendChild(el("img", { src: view.thumb, alt: "" }));
      button.addEventListener("click", () => ($("view-image").src = view.url));
      thumbs.appendChild(button);
    });
    $("view-image").src = round.views.length ? round.views[0].url : "";
    showTimer(round.deadline);
  }

  function showResult(state) {
    const last = state.last;
    $("streak-length").textContent = String(state.length);
    const result = $("result");
    if (last) {
      const verdict = last.correct
        ? `Right: ${last.answer.name}.`
        : last.timed_out
          ? `Out of time: it was ${last.answer.name}.`
          : `Wrong: you said ${last.guess ? last.guess.name : "nothing"}, it was ${last.answer.name}.`;
      $("result-verdict").textContent = verdict;
      $("result-verdict").className = last.correct ? "verdict good" : "verdict bad";
      const place = [last.city, last.attribution].filter(Boolean).join(" · ");
      $("result-place").textContent = place;
      if (answerMarker) answerMarker.remove();
      answerMarker = L.circleMarker([last.lat, last.lon], window.geogame.styles.answer).addTo(map);
      answerMarker.bindTooltip(window.geogame.textLabel(last.answer.name));
      result.hidden = false;
    }
    const over = state.status === "ended";
    $("next").hidden = over;
    $("board-link").hidden = !over;
    $("again-link").hidden = !over;
    if (over) {
      $("result-verdict").textContent += ` Your streak: ${state.length}.`;
      showTimer(null);
      result.hidden = false;
    }
    $("country-input").disabled = true;
    $("country-submit").disabled = true;
    clearInterval(timer);
    $("timer").hidden = true;
    if (!result.hidden) result.scrollIntoView({ block: "nearest" });
  }

  function request(url, body) {
    const options = body
      ? { method: "POST", headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() }, body: JSON.stringify(body) }
      : {};
    return fetch(url, options).then((r) => r.json().then((data) => ({ ok: r.ok, data })));
  }

  function load() {
    request(root.dataset.stateUrl).then(({ ok, data }) => {
      if (!ok) return say(data.error);
      $("streak-length").textContent = String(data.length);
      if (data.round) showRound(data.round);
      else showResult(data);
    });
  }

  function answer(body) {
    if (!current || busy) return;
    busy = true;
    say("");
    request(current.guess_url, body).then(({ ok, data }) => {
      busy = false;
      if (!ok) return say(data.error);
      current = null;
      clearInterval(timer);
      showResult(data);
    });
  }

  map.on("click", (e) => {
    const p = e.latlng.wrap();
    answer({ lat: p.lat, lon: p.lng });
  });
  $("country-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const code = codeByName.get($("country-input").value.trim().toLowerCase());
    if (!code) return say("Pick a country from the list.");
    answer({ country: code });
  });
  $("next").addEventListener("click", load);
  load();
})();
