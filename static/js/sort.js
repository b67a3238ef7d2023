// Sortable report tables (the programs page): click a column heading to sort the rows by
// it, again to reverse. No framework, no inline code (CSP 'self' only). Rows of class
// "pinned" ("No program") stay after the sorted rows; the totals (tfoot) stay last.
(function () {
  "use strict";

  // A cell's sort key: its raw number (data-sort, written by the server) in a numeric
  // column, null where it has none (no data: always last), else the lower-cased text.
  function key(cell) {
    if (!cell) { return null; }
    if (cell.classList.contains("num")) {
      var raw = cell.getAttribute("data-sort");
      return raw === null || raw === "" || isNaN(Number(raw)) ? null : Number(raw);
    }
    var text = cell.textContent.trim();
    return text === "" || text === "—" ? null : text.toLowerCase();
  }

  function compare(a, b, descending) {
    if (a === null && b === null) { return 0; }
    if (a === null) { return 1; }
    if (b === null) { return -1; }
    var order;
    if (typeof a === "number" && typeof b === "number") { order = a - b; }
    else { order = String(a).localeCompare(String(b)); }
    return descending ? -order : order;
  }

  document.querySelectorAll("[data-sortable-table] table").forEach(function (table) {
    var body = table.tBodies[0];
    var headers = table.tHead ? table.tHead.rows[0].cells : [];
    if (!body || !headers.length) { return; }
    var hint = document.querySelector("[data-sort-hint]");
    if (hint) { hint.hidden = false; }
    Array.prototype.forEach.call(headers, function (th, index) {
      var label = th.textContent.trim();
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort-button";
      button.textContent = label;
      button.setAttribute("data-sort-column", String(index));
      th.textContent = "";
      th.appendChild(button);
      th.setAttribute("aria-sort", "none");
      button.addEventListener("click", function () {
        var descending = th.getAttribute("aria-sort") === "ascending";
        Array.prototype.forEach.call(headers, function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        var rows = Array.prototype.slice.call(body.rows);
        var pinned = rows.filter(function (r) { return r.classList.contains("pinned"); });
        var sorted = rows.filter(function (r) { return pinned.indexOf(r) < 0; });
        sorted.sort(function (a, b) {
          return compare(key(a.cells[index]), key(b.cells[index]), descending);
        });
        sorted.concat(pinned).forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
