/* geogame's game summary page: every round's answer, guess and (against a machine) the
 * opponent's pin on one map, each dot numbered by its round. Plain browser JavaScript, no build
 * step; after common.js. */
(function () {
  "use strict";

  const { $, worldMap, greatCircle, numberedPin } = window.geogame;
  const { line: LINE_STYLE } = window.geogame.styles;

  function summaryPage(container) {
    const map = worldMap(container, container.dataset.worldUrl);
    const bounds = [];
    const opponent = container.dataset.opponent || "opponent";
    document.querySelectorAll(".summary-row[data-answer-lat]").forEach((row) => {
      const round = row.dataset.round;
      const answer = [Number(row.dataset.answerLat), Number(row.dataset.answerLon)];
      bounds.push(answer);
      const pins = [];
      if (row.dataset.guessLat) {
        pins.push({ at: [Number(row.dataset.guessLat), Number(row.dataset.guessLon)], kind: "guess", who: "your guess" });
      }
      // The machine opponent's pin: the server writes it only for rounds the player has finished.
      if (row.dataset.opponentLat) {
        pins.push({
          at: [Number(row.dataset.opponentLat), Number(row.dataset.opponentLon)],
          kind: "opponent",
          who: `${opponent}'s guess`,
        });
      }
      pins.forEach((pin) => {
        bounds.push(pin.at);
        L.polyline(greatCircle(pin.at, answer), {
          ...LINE_STYLE,
          weight: 2,
          color: pin.kind === "opponent" ? "#9a3412" : "#1d4ed8",
          interactive: false,
        }).addTo(map);
        numberedPin(pin.at, round, pin.kind, `Round ${round}: ${pin.who}`).addTo(map);
      });
      numberedPin(answer, round, "answer", `Round ${round}: the place`).addTo(map);
    });
    // No animation: the outlines arrive while it would run, and paths added mid-zoom land misplaced.
    if (bounds.length) map.fitBounds(L.latLngBounds(bounds), { padding: [30, 30], maxZoom: 10, animate: false });
    container.dataset.pins = String(container.querySelectorAll(".num-pin").length);
  }

  const summaryMap = $("summary-map");
  if (summaryMap) summaryPage(summaryMap);
})();
