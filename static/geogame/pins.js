/* A challenge's pins, shown to a player who has finished it: one small map per round with the
 * answer and every player's pin (machines in the opponent colour), each pin labelled with its
 * player's name and joined to the answer by its distance line (the great circle). Names are
 * chosen by players: they go into the labels as DOM nodes (textLabel), never as HTML.
 * After common.js. */
(function () {
  "use strict";

  const { $, textLabel, worldMap, greatCircle } = window.geogame;
  const styles = window.geogame.styles;
  const dataNode = $("pins-data");
  if (!dataNode) return;
  const rounds = JSON.parse(dataNode.textContent);
  const LABEL = { permanent: true, direction: "auto", className: "reveal-label pin-label" };

  /** `at` with its longitude moved by 360 degrees where that brings it nearer `answer`, so a pin
   * across the antimeridian is drawn (and fitted) on the answer's side. */
  function nearAnswer(at, answer) {
    return [at[0], at[1] + 360 * Math.round((answer[1] - at[1]) / 360)];
  }

  /** A pin's distance line: the great circle to the answer, its pieces' longitudes run on from
   * the pin as drawn, so the line meets it on either side of the antimeridian. */
  function distanceLine(pin, drawnAt, answer) {
    let previous = drawnAt[1];
    const points = greatCircle(pin, answer)
      .flat()
      .map(([lat, lon]) => {
        const near = lon + 360 * Math.round((previous - lon) / 360);
        previous = near;
        return [lat, near];
      });
    return L.polyline(points, { ...styles.line, weight: 2, interactive: false, className: "pin-line" });
  }

  document.querySelectorAll(".pins-map").forEach((container) => {
    const data = rounds.find((r) => String(r.number) === container.dataset.round);
    if (!data) return;
    const map = worldMap(container, container.dataset.worldUrl);
    const answer = [data.answer.lat, data.answer.lon];
    const bounds = [answer];
    data.pins.forEach((pin) => {
      const at = [pin.lat, pin.lon];
      const drawnAt = nearAnswer(at, answer);
      bounds.push(drawnAt);
      distanceLine(at, drawnAt, answer).addTo(map);
      const style = pin.is_machine ? styles.opponent : styles.guess;
      L.circleMarker(drawnAt, { ...style, radius: 6, className: pin.is_machine ? "pin-machine" : "pin-person" })
        .bindTooltip(textLabel(pin.name), LABEL)
        .addTo(map);
    });
    L.circleMarker(answer, { ...styles.answer, radius: 7, className: "pin-answer" })
      .bindTooltip(textLabel("The answer"), { ...LABEL, className: "reveal-label pin-label pin-answer-label" })
      .addTo(map)
      .bringToFront();
    map.fitBounds(L.latLngBounds(bounds), { padding: [40, 40], maxZoom: 8, animate: false });
  });
})();
