// Live updates of the dashboard: the pages work without this script; it
// follows the event stream and refreshes what an event changed.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var board = document.getElementById("board");
  var tracks = document.getElementById("batch-tracks");
  var table = board || tracks;
  if (!table || !window.EventSource) {
    return;
  }
  var after = table.getAttribute("data-after") || "0";
  var es = new EventSource("/ui/events?after=" + encodeURIComponent(after) + "&types=writeback.recorded,batch.settled,writeback.refused");
  var live = document.getElementById("live");
  es.onopen = function () { if (live) { live.hidden = false; } };
  es.onerror = function () { if (live) { live.hidden = true; } };
  var pending = {};
  function batchOf(ev) {
    try { return JSON.parse(ev.data).data.batch_id || ""; } catch (e) { return ""; }
  }
  function findRow(id) {
    var rows = board.querySelectorAll("tr[data-batch]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-batch") === id) { return rows[i]; }
    }
    return null;
  }
  function refreshRow(id) {
    if (pending[id]) { pending[id]++; return; }
    pending[id] = 1;
    var row = findRow(id);
    var at = row ? row.getAttribute("data-at") || "" : "";
    fetch("/ui/batches/" + encodeURIComponent(id) + "/row?at=" + encodeURIComponent(at), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (html) {
        var row = findRow(id);
        if (!row) { return; }
        var tmp = document.createElement("tbody");
        tmp.innerHTML = html.trim();
        var fresh = tmp.firstElementChild;
        if (fresh) { fresh.classList.add("flash"); row.replaceWith(fresh); }
      })
      .catch(function () {})
      .finally(function () {
        var again = pending[id] > 1;
        delete pending[id];
        if (again) { refreshRow(id); }
      });
  }
  function onEvent(ev) {
    var id = batchOf(ev);
    if (!id) { return; }
    if (board) {
      if (findRow(id)) { refreshRow(id); }
    } else if (tracks.getAttribute("data-batch") === id) {
      window.location.reload();
    }
  }
  ["writeback.recorded", "batch.settled", "writeback.refused"].forEach(function (t) {
    es.addEventListener(t, onEvent);
  });
})();
