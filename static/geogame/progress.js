/* Staff pages with background work (map builds, model training): while something is running,
 * poll the page's status API so progress shows without a click, and reload the page when a row's
 * status changes or a new row appears. Plain browser JavaScript, no build step; a file of its own
 * because the Content-Security-Policy allows no inline script. */
(function () {
  "use strict";

  const POLL_MS = 1000;

  // What each table's rows are, and how a status API entry updates its row.
  const TABLES = {
    builds: {
      entries: (data) => data.builds,
      row: (table, b) => table.querySelector(`tr[data-build="${CSS.escape(String(b.id))}"]`),
      update(row, b) {
        row.querySelector(".found").textContent = `${b.found} / ${b.requested}`;
        row.querySelector(".tried").textContent = b.tried;
      },
      busy: (status) => status === "queued" || status === "running",
    },
    models: {
      entries: (data) => data.models,
      row: (table, m) =>
        table.querySelector(
          `tr[data-player="${CSS.escape(String(m.player))}"][data-version="${CSS.escape(String(m.version))}"]`
        ),
      update() {},
      busy: (status) => status === "training",
    },
  };

  function statusOf(cell) {
    return cell.textContent.split(":")[0];
  }

  function watch(table, kind) {
    async function poll() {
      const data = await (await fetch(table.dataset.statusUrl, { credentials: "same-origin" })).json();
      for (const entry of kind.entries(data)) {
        const row = kind.row(table, entry);
        if (!row) {
          location.reload();
          return;
        }
        row.querySelector("progress").value = entry.progress;
        kind.update(row, entry);
        if (statusOf(row.querySelector(".status")) !== entry.status) {
          location.reload();
          return;
        }
      }
      if (kind.entries(data).some((e) => kind.busy(e.status))) setTimeout(poll, POLL_MS);
    }
    if ([...table.querySelectorAll("td.status")].some((td) => kind.busy(statusOf(td)))) poll();
  }

  Object.entries(TABLES).forEach(([id, kind]) => {
    const table = document.getElementById(id);
    if (table && table.dataset.statusUrl) watch(table, kind);
  });
})();
