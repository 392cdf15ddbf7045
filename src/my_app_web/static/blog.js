/*
 * The blog's comment form (templates/blog_live/show.html), CSP-safe: listeners on document only.
 *
 *   textarea[data-submit-on-enter]   Enter posts the form (Shift+Enter, or Enter while an input
 *                                    method composes, starts a new line)
 *
 * With htmx the form's answer replaces it with a fresh, empty one: focus goes back into it, so
 * a reader can write the next comment at once.
 */
(function () {
  "use strict";

  var refocus = null;

  document.addEventListener("keydown", function (event) {
    var field = event.target;
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    if (!field.matches || !field.matches("textarea[data-submit-on-enter]") || !field.form) return;
    event.preventDefault();
    if (!field.value.trim()) return;
    field.form.requestSubmit();
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.tagName === "FORM" && form.contains(document.activeElement) && form.id) {
      refocus = form.id;
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    if (!refocus) return;
    var form = document.getElementById(refocus);
    refocus = null;
    var field = form && form.querySelector("textarea[data-submit-on-enter]");
    if (field) field.focus();
  });
})();
