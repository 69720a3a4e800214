/* The pre-screen form: the crisis script shows as soon as a safety answer is yes.
   Without JavaScript the short 988 / 911 line above the questions still shows,
   and the script appears after saving (the lead page's crisis banner). */
(function () {
  "use strict";

  var form = document.querySelector(".prescreen-form");
  var script = document.querySelector("[data-crisis-script]");
  if (!form || !script) return;
  var questions = form.querySelectorAll(
    "select[name='suicidal_thoughts'], select[name='overdose_last_30_days']"
  );

  function sync() {
    var yes = Array.prototype.some.call(questions, function (select) {
      return select.value === "yes";
    });
    script.hidden = !yes;
  }

  questions.forEach(function (select) {
    select.addEventListener("change", sync);
  });
  sync();

  // After a refused save, take the keyboard to the list of what to correct.
  var errors = document.getElementById("prescreen-errors");
  if (errors) errors.focus();
})();
