/* The replay page (/me/games/<id>/): one small map per round with the player's pin and, for a
 * finished round, the answer and the machine's pin, from the page's json_script data. Names go
 * into tooltips as DOM nodes (textLabel), never as HTML. After common.js. */
(function () {
  "use strict";

  const { $, textLabel, worldMap, greatCircle } = window.geogame;
  const styles = window.geogame.styles;
  const dataNode = $("replay-data");
  if (!dataNode) return;
  const rounds = JSON.parse(dataNode.textContent);

  document.querySelectorAll(".replay-map").forEach((container) => {
    const data = rounds.find((r) => String(r.number) === container.dataset.round);
    if (!data) return;
    const map = worldMap(container, container.dataset.worldUrl);
    const bounds = [];
    const answer = data.answer ? [data.answer.lat, data.answer.lon] : null;
    if (data.pin) {
      const pin = [data.pin.lat, data.pin.lon];
      bounds.push(pin);
      if (answer) L.polyline(greatCircle(pin, answer), { ...styles.line, weight: 2, interactive: false }).addTo(map);
      L.circleMarker(pin, { ...styles.guess, radius: 6 }).bindTooltip(textLabel("Your pin")).addTo(map);
    }
    if (data.machine && data.machine.pin) {
      const pin = [data.machine.pin.lat, data.machine.pin.lon];
      bounds.push(pin);
      L.circleMarker(pin, { ...styles.opponent, radius: 6, className: "opponent-marker" })
        .bindTooltip(textLabel(data.machine.name))
        .addTo(map);
    }
    if (answer) {
      bounds.push(answer);
      L.circleMarker(answer, { ...styles.answer, radius: 7 }).bindTooltip(textLabel("The answer")).addTo(map);
    }
    if (bounds.length) map.fitBounds(L.latLngBounds(bounds), { padding: [30, 30], maxZoom: 8, animate: false });
  });
})();
