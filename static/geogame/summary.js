/* geogame's game summary page: every round's answer, guess and (against a machine) the
 * opponent's pin on one map. Plain browser JavaScript, no build step; after common.js. */
(function () {
  "use strict";

  const { $, textLabel, worldMap, greatCircle } = window.geogame;
  const { answer: ANSWER_STYLE, guess: GUESS_STYLE, line: LINE_STYLE, opponent: OPPONENT_STYLE } =
    window.geogame.styles;

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

  const summaryMap = $("summary-map");
  if (summaryMap) summaryPage(summaryMap);
})();
