/* A challenge's pins, shown to a player who has finished it: one small map per round with the
 * answer and every player's pin (machines in the opponent colour). Names go into tooltips as DOM
 * nodes (textLabel), never as HTML. After common.js. */
(function () {
  "use strict";

  const { $, textLabel, worldMap } = window.geogame;
  const styles = window.geogame.styles;
  const dataNode = $("pins-data");
  if (!dataNode) return;
  const rounds = JSON.parse(dataNode.textContent);

  document.querySelectorAll(".pins-map").forEach((container) => {
    const data = rounds.find((r) => String(r.number) === container.dataset.round);
    if (!data) return;
    const map = worldMap(container, container.dataset.worldUrl);
    const answer = [data.answer.lat, data.answer.lon];
    const bounds = [answer];
    data.pins.forEach((pin) => {
      const at = [pin.lat, pin.lon];
      bounds.push(at);
      const style = pin.is_machine ? styles.opponent : styles.guess;
      L.circleMarker(at, { ...style, radius: 6 })
        .bindTooltip(textLabel(`${pin.name}: ${pin.points}`))
        .addTo(map);
    });
    L.circleMarker(answer, { ...styles.answer, radius: 7 }).bindTooltip(textLabel("The answer")).addTo(map);
    map.fitBounds(L.latLngBounds(bounds), { padding: [30, 30], maxZoom: 8, animate: false });
  });
})();
