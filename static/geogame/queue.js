/* The duel lobby's "Find a ranked opponent": joins the ranked queue of the map chosen in the form
 * over its WebSocket (/ws/ranked/queue/<map>/, geogame/duels/queue_protocol.py) and goes to the
 * duel once matched. Text from the server goes in only as textContent. */
(function () {
  "use strict";

  const find = document.getElementById("find-ranked");
  const leave = document.getElementById("leave-queue");
  const status = document.getElementById("queue-status");
  if (!find || !leave || !status) return;
  let socket = null;
  let timer = null;
  let matched = false;

  function say(text) {
    status.textContent = text;
  }

  function idle() {
    socket = null;
    clearInterval(timer);
    find.hidden = false;
    find.disabled = false;
    leave.hidden = true;
  }

  function chosenMap() {
    const input = document.querySelector('input[name="map"]:checked');
    return input ? input.value : "";
  }

  function onMessage(event) {
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    if (msg.type === "queued") {
      const started = Date.now();
      const waited = () => Math.round((Date.now() - started) / 1000);
      const show = () =>
        say(
          "Looking for an opponent on " + msg.map + " (your rating " + msg.rating + "): " +
            waited() + " s. A machine player after " + Math.round(msg.machine_after_s) + " s."
        );
      show();
      timer = setInterval(show, 1000);
    } else if (msg.type === "matched") {
      matched = true;
      clearInterval(timer);
      const who = msg.opponent.kind === "machine" ? msg.opponent.name + " (machine)" : msg.opponent.name;
      say("Matched with " + who + ", rating " + msg.opponent.rating + ". Starting the duel…");
      if (typeof msg.url === "string" && /^\/duels\/[0-9a-f-]{36}\/$/.test(msg.url)) {
        window.location.assign(msg.url);
      }
    } else if (msg.type === "error") {
      say(String(msg.reason));
    } else if (msg.type === "left") {
      say("You left the queue.");
    }
  }

  find.addEventListener("click", function () {
    const slug = chosenMap();
    if (!slug || socket) return;
    matched = false;
    find.disabled = true;
    say("Joining the ranked queue…");
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(scheme + "//" + window.location.host + "/ws/ranked/queue/" + encodeURIComponent(slug) + "/");
    socket.addEventListener("open", function () {
      find.hidden = true;
      leave.hidden = false;
    });
    socket.addEventListener("message", onMessage);
    socket.addEventListener("close", function (event) {
      const wasError = event.code !== 1000 && !matched;
      idle();
      if (wasError && status.textContent.indexOf("Joining") === 0) {
        say("The queue could not be reached; try again.");
      }
    });
  });

  leave.addEventListener("click", function () {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "leave" }));
  });
})();
