// The browser side of live pages (my_app_web/live): htmx's SSE extension applies the patches
// (<hx-partial> swaps); this adds what the extension leaves out. No inline code (CSP).
//  - `event: reload`: the session behind the page ended (log-out): reload, which meets the log-in page.
//  - While the stream is down a status line says so; the server re-renders the page on reconnect.
(function () {
  "use strict";

  function statusOf(element) {
    return element.querySelector("[data-live-status]");
  }

  document.addEventListener("htmx:sseOpen", function (event) {
    var element = event.target;
    var source = event.detail && event.detail.source;
    var status = statusOf(element);
    if (status) status.hidden = true;
    element.removeAttribute("data-live-disconnected");
    if (source && !source.__liveReload) {
      source.__liveReload = true;
      source.addEventListener("reload", function () {
        window.location.reload();
      });
    }
  });

  document.addEventListener("htmx:sseError", function (event) {
    var element = event.target;
    var status = statusOf(element);
    if (status) status.hidden = false;
    element.setAttribute("data-live-disconnected", "");
  });
})();
