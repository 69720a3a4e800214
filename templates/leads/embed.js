/* The hosted "Request a call" form: paste the script tag where the form goes. */
(function () {
  "use strict";
  var formUrl = {{ form_url|safe }};
  var formOrigin = new URL(formUrl).origin;
  var pageInputs = {{ page_query_inputs|safe }};

  var script = document.currentScript;
  if (!script) {
    // Older browsers: the last tag that loads this file is the one running now.
    var tags = document.querySelectorAll("script[src*=" + JSON.stringify({{ script_path|safe }}) + "]");
    script = tags[tags.length - 1];
  }
  if (!script || script.getAttribute("data-request-a-call") === "loaded") {
    return;
  }
  script.setAttribute("data-request-a-call", "loaded");

  var page = new URLSearchParams(window.location.search);
  var params = new URLSearchParams();
  params.set("embed", "1");
  params.set("landing_page", window.location.href.slice(0, 2000));
  // Always sent, even empty: the form must not take the host page for a referrer.
  params.set("referrer", document.referrer.slice(0, 2000));
  pageInputs.forEach(function (name) {
    var value = page.get(name);
    if (value) {
      params.set(name, value.slice(0, 255));
    }
  });

  var frame = document.createElement("iframe");
  frame.src = formUrl + "?" + params.toString();
  frame.title = script.getAttribute("data-title") || {{ title|safe }};
  frame.style.display = "block";
  frame.style.width = "100%";
  frame.style.maxWidth = "40rem";
  frame.style.height = "900px";
  frame.style.border = "0";
  script.parentNode.insertBefore(frame, script.nextSibling);

  window.addEventListener("message", function (event) {
    if (event.origin !== formOrigin || event.source !== frame.contentWindow) {
      return;
    }
    var data = event.data || {};
    var height = Number(data.height);
    if (data.type === "request-a-call:height" && height > 0 && height < 20000) {
      frame.style.height = Math.ceil(height) + "px";
    }
  });
})();
