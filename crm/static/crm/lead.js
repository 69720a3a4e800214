/* The lead page and the new-lead page: keyboard shortcuts, the stage form showing
   only the fields the chosen stage needs, focus on errors. The SLA countdown ticks
   by queue.js. Everything works without JavaScript too. */
(function () {
  "use strict";

  // --- Shortcuts: a single key focuses its control, never while typing. ---------
  function typing(target) {
    if (!target || !target.closest) return false;
    return Boolean(
      target.isContentEditable ||
        target.closest("input, textarea, select, [contenteditable='true']")
    );
  }

  document.addEventListener("keydown", function (e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape" && typing(e.target)) {
      e.target.blur();
      return;
    }
    if (typing(e.target) || !/^[a-z]$/.test(e.key)) return;
    var control = document.querySelector('[data-shortcut="' + e.key + '"]');
    if (!control) return;
    e.preventDefault();
    var details = control.closest("details");
    if (details) details.open = true;
    control.focus();
    if (control.scrollIntoView) control.scrollIntoView({ block: "center" });
  });

  // --- Stage form: the lost reason and the partner only when they apply. -------
  function syncStageForm(root) {
    (root || document).querySelectorAll(".stage-form").forEach(function (form) {
      var select = form.querySelector("select[name='to']");
      if (!select) return;
      form.querySelectorAll("[data-when-stage]").forEach(function (box) {
        var invalid = box.querySelector("[aria-invalid='true']");
        box.hidden = !invalid && box.dataset.whenStage !== select.value;
      });
    });
  }
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches(".stage-form select[name='to']")) {
      syncStageForm();
    }
  });
  syncStageForm();

  // --- Errors: take the keyboard to what needs fixing. ---------------------------
  var summary = document.querySelector(".error-summary[tabindex='-1']");
  if (summary) summary.focus();

  document.body.addEventListener("htmx:afterSettle", function (e) {
    syncStageForm();
    var xhr = e.detail.xhr;
    var target = e.detail.target;
    if (!xhr || xhr.status !== 400 || !target || !target.id) return;
    // The swapped panel is a new element with the same id.
    var panel = document.getElementById(target.id);
    var first = panel && panel.querySelector("[aria-invalid='true'], .error-summary");
    if (first) first.focus();
  });
})();
