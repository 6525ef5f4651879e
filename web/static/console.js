// miniauth console: progressive enhancement only. Every page works without
// this file; it adds the CSRF header to htmx requests, remembers the
// viewer's time zone, copy buttons and confirmations.
(function () {
  "use strict";

  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }

  document.addEventListener("htmx:configRequest", function (e) {
    var t = csrf();
    if (t) { e.detail.headers["X-CSRF-Token"] = t; }
  });

  // The server renders times in the zone this cookie names.
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && document.cookie.indexOf("tz=" + encodeURIComponent(tz)) < 0) {
      var secure = location.protocol === "https:" ? "; Secure" : "";
      document.cookie = "tz=" + encodeURIComponent(tz) + "; Path=/admin; Max-Age=31536000; SameSite=Lax" + secure;
    }
  } catch (err) { /* no Intl: the server's default zone stays */ }

  document.addEventListener("click", function (e) {
    var b = e.target.closest("[data-copy]");
    if (!b) { return; }
    var src = document.getElementById(b.getAttribute("data-copy"));
    if (!src || !navigator.clipboard) { return; }
    e.preventDefault();
    navigator.clipboard.writeText(src.value || src.textContent).then(function () {
      b.setAttribute("data-copied", "true");
      b.textContent = b.getAttribute("data-copied-label") || b.textContent;
    });
  });

  // data-confirm="question" asks before a destructive submit. A typed
  // confirmation (data-confirm-input) is checked by the server as well.
  document.addEventListener("submit", function (e) {
    var f = e.target;
    var q = f.getAttribute("data-confirm");
    if (q && !window.confirm(q)) { e.preventDefault(); e.stopImmediatePropagation(); }
  }, true);

  // Flash messages fade after a while; they stay readable in the DOM.
  document.addEventListener("DOMContentLoaded", function () {
    var f = document.querySelector(".flash");
    if (f) { setTimeout(function () { f.classList.add("flash-old"); }, 6000); }
  });
})();
