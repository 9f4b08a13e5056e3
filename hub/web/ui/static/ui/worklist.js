// Live AI status on the worklist: swap the status cells of the studies on this page when
// their jobs change. Uses the /ws/jobs WebSocket when the page names it (a message means
// "something changed, ask again"), and otherwise polls the worklist's status view.
(function () {
  "use strict";
  var table = document.getElementById("worklist");
  if (!table) { return; }
  var statusUrl = table.getAttribute("data-status-url");
  var wsUrl = table.getAttribute("data-ws-url");
  var latest = table.getAttribute("data-latest") || "";
  var note = document.getElementById("live-note");
  var POLL_MS = 5000, SLOW_POLL_MS = 30000;
  var timer = null, busy = false, pending = false, socketOpen = false;

  function studies() {
    var rows = table.querySelectorAll("tbody tr[data-study]");
    return Array.prototype.map.call(rows, function (r) { return r.getAttribute("data-study"); });
  }

  function apply(data) {
    var found = data.studies || {};
    Array.prototype.forEach.call(table.querySelectorAll("tbody tr[data-study]"), function (row) {
      var item = found[row.getAttribute("data-study")];
      var cell = row.querySelector(".ai-cell");
      if (!item || !cell || cell.getAttribute("data-html") === item.html) { return; }
      cell.innerHTML = item.html;
      cell.setAttribute("data-html", item.html);
      row.className = "status-" + item.status;
    });
    if (note && data.latest && data.latest > latest) { note.hidden = false; }
  }

  function refresh() {
    var uids = studies();
    if (busy) { pending = true; return; }
    if (document.hidden) { schedule(); return; }
    busy = true;
    pending = false;
    var query = uids.map(function (u) { return "study=" + encodeURIComponent(u); }).join("&");
    fetch(statusUrl + "?" + query, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { apply(data); } })
      .catch(function () { /* offline for a moment: try again on the next tick */ })
      .then(function () {
        busy = false;
        if (pending) { refresh(); } else { schedule(); }
      });
  }

  function schedule() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(refresh, socketOpen ? SLOW_POLL_MS : POLL_MS);
  }

  function connect() {
    if (!wsUrl || !window.WebSocket) { return; }
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + wsUrl);
    socket.onopen = function () { socketOpen = true; schedule(); };
    socket.onmessage = function () { refresh(); };
    socket.onclose = function () { socketOpen = false; schedule(); };
  }

  connect();
  schedule();
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(); } });
}());
