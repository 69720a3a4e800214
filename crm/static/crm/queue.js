/* The queue pages: SLA countdowns ticking every second, "5 min ago" kept true,
   rows that open their lead, and "/" to search. The server's clock is the truth:
   every render carries it (data-server-now) and the countdowns correct for a
   browser clock that is off. */
(function () {
  "use strict";

  var SOON_MS = 2 * 60 * 1000; // amber this close to the deadline (as the server does)
  var skew = 0; // server time minus browser time, in ms

  function readServerClock() {
    var holder = document.querySelector("[data-server-now]");
    var server = holder ? Date.parse(holder.getAttribute("data-server-now")) : NaN;
    if (!isNaN(server)) skew = server - Date.now();
  }

  function now() {
    return Date.now() + skew;
  }

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  // 192 s → "3:12"; 3725 s → "1:02:05".
  function clock(ms) {
    var total = Math.floor(ms / 1000);
    var hours = Math.floor(total / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    var seconds = total % 60;
    return hours ? hours + ":" + pad(minutes) + ":" + pad(seconds) : minutes + ":" + pad(seconds);
  }

  function tickCountdowns() {
    var t = now();
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) return;
      var left = due - t;
      var state = left <= 0 ? "overdue" : left < SOON_MS ? "soon" : "ok";
      var text = left <= 0 ? "overdue " + clock(-left) : clock(left) + " left";
      if (el.textContent !== text) el.textContent = text;
      if (!el.classList.contains(state)) {
        el.classList.remove("ok", "soon", "overdue");
        el.classList.add(state);
      }
    });
  }

  function ago(ms) {
    var future = ms < 0;
    var minutes = Math.floor(Math.abs(ms) / 60000);
    var text;
    if (minutes < 1) return future ? "in a moment" : "just now";
    if (minutes < 60) text = minutes + " min";
    else if (minutes < 48 * 60) text = Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
    else text = Math.floor(minutes / 1440) + " days";
    return future ? "in " + text : text + " ago";
  }

  function tickRelative() {
    var t = now();
    document.querySelectorAll("time[data-relative]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (isNaN(at)) return;
      var text = ago(t - at);
      if (el.textContent !== text) el.textContent = text;
      if (!el.title) el.title = new Date(at).toLocaleString();
    });
  }

  function refresh() {
    readServerClock();
    tickCountdowns();
    tickRelative();
  }

  refresh();
  setInterval(tickCountdowns, 1000);
  setInterval(tickRelative, 20000);
  document.body.addEventListener("htmx:afterSettle", refresh);

  // "/" jumps to the search box, unless the person is typing somewhere.
  document.addEventListener("keydown", function (e) {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    var target = e.target;
    if (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
    var box = document.querySelector("[data-search-shortcut]");
    if (!box) return;
    e.preventDefault();
    box.focus();
    box.select();
  });

  // A click anywhere on a row opens the lead; the name in it is the real link
  // for keyboards and screen readers.
  document.addEventListener("click", function (e) {
    var row = e.target.closest("tr[data-href]");
    if (!row || e.defaultPrevented || e.button !== 0) return;
    if (e.target.closest("a, button, input, select, textarea, label, form")) return;
    if (String(window.getSelection ? window.getSelection() : "")) return; // copying text
    if (e.ctrlKey || e.metaKey) {
      window.open(row.getAttribute("data-href"), "_blank", "noopener");
    } else {
      window.location.href = row.getAttribute("data-href");
    }
  });
})();
