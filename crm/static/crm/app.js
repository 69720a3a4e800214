/* Workspace behaviour shared by every page: toasts, the new-work cue, polls that
   do not count as activity, and signing out after inactivity. No build step. */
(function () {
  "use strict";

  var body = document.body;

  function toast(text) {
    var box = document.getElementById("toasts");
    if (!box || !text) return;
    var item = document.createElement("div");
    item.className = "toast";
    item.textContent = text;
    box.appendChild(item);
    setTimeout(function () { item.remove(); }, 6000);
  }

  // A short two-tone chime; browsers allow it once the person has used the page.
  function chime() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return;
      var ctx = chime.ctx || (chime.ctx = new Ctx());
      [880, 1175].forEach(function (freq, i) {
        var osc = ctx.createOscillator();
        var gain = ctx.createGain();
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, ctx.currentTime + i * 0.18);
        gain.gain.exponentialRampToValueAtTime(0.2, ctx.currentTime + i * 0.18 + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + i * 0.18 + 0.16);
        osc.connect(gain).connect(ctx.destination);
        osc.start(ctx.currentTime + i * 0.18);
        osc.stop(ctx.currentTime + i * 0.18 + 0.17);
      });
    } catch (e) {
      /* sound is a nicety; the visual cue is always shown */
    }
  }

  // New work arrived: toast, chime and the tab title, until the tab is looked at.
  var baseTitle = document.title;
  function cue(text) {
    toast(text);
    chime();
    if (document.hidden) document.title = "● " + baseTitle;
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) document.title = baseTitle;
  });

  window.crm = { toast: toast, cue: cue };

  // Servers send {"crm:toast": "..."} or {"crm:cue": "..."} in HX-Trigger.
  body.addEventListener("crm:toast", function (e) { toast(e.detail.value); });
  body.addEventListener("crm:cue", function (e) { cue(e.detail.value); });

  // Polls started by the page itself are marked, so they do not keep a
  // forgotten session alive.
  body.addEventListener("htmx:configRequest", function (e) {
    var elt = e.detail.elt;
    if (elt && elt.closest && elt.closest("[data-background-refresh]")) {
      e.detail.headers["X-Background-Refresh"] = "1";
    }
  });

  // Every htmx request that fails shows why, instead of silently doing nothing.
  body.addEventListener("htmx:responseError", function (e) {
    var status = e.detail.xhr.status;
    if (status === 400 || status === 409 || status === 422) return; // form errors are swapped in
    toast("Something went wrong (" + status + "). Please try again.");
  });
  body.addEventListener("htmx:sendError", function () {
    toast("The server cannot be reached. Check your connection.");
  });
  // Forms answered 400 carry their field errors: swap them in like a success.
  body.addEventListener("htmx:beforeSwap", function (e) {
    var status = e.detail.xhr.status;
    if (status === 400 || status === 409 || status === 422) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });

  // Inactivity: the server signs a session out after the timeout without a request
  // of the person's own. Typing or reading with the mouse counts too: tell the
  // server at most once a minute while it happens, and reload once it has not.
  var timeout = parseInt(body.dataset.idleTimeout || "0", 10) * 1000;
  if (timeout > 0) {
    var lastActivity = Date.now();
    var lastPing = Date.now();
    var csrf = JSON.parse(body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
    ["keydown", "mousedown", "mousemove", "touchstart", "scroll"].forEach(function (name) {
      window.addEventListener(name, function () { lastActivity = Date.now(); }, { passive: true });
    });
    setInterval(function () {
      var now = Date.now();
      if (now - lastActivity >= timeout + 2000) {
        window.location.reload();
        return;
      }
      if (lastActivity > lastPing && now - lastPing >= 60000) {
        lastPing = now;
        fetch(body.dataset.keepaliveUrl, {
          method: "POST",
          headers: { "X-CSRFToken": csrf },
          credentials: "same-origin",
        });
      }
    }, 5000);
  }
})();
