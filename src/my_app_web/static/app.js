/*
 * The page behaviour of the core components (components/core.html), CSP-safe: no eval, no inline
 * handlers, only event listeners on document. Everything here is an enhancement: every page works
 * without it (forms POST, modals are links, the nav is simply shown).
 *
 *   [data-js-only]        elements that only make sense with JS (close buttons, nav toggle): unhidden
 *   [data-disable-with]   phx-disable-with: disabled, showing that text, while its form submits
 *   [data-confirm]        window.confirm() before a submit or click goes ahead
 *   [data-modal]          focus in / Tab kept inside / Escape and backdrop close / focus back to opener
 *   [data-flash-close]    removes its flash message
 *   [data-nav-toggle]     collapses the navigation on narrow screens (aria-expanded)
 *   [data-validate]       live validation: only touched fields show errors; aria-invalid kept in step
 */
(function () {
  "use strict";

  // ---- content arriving: first load and every htmx swap -------------------------------------

  function init(root) {
    each(root, "[data-js-only]", function (el) { el.hidden = false; el.removeAttribute("data-js-only"); });
    each(root, "[data-nav-toggle]", function (toggle) {
      var nav = document.getElementById(toggle.getAttribute("aria-controls"));
      if (nav && toggle.getAttribute("aria-expanded") !== "true") nav.setAttribute("data-collapsed", "");
    });
    each(root, "[data-modal]:not([hidden])", openModal);
  }

  // querySelectorAll that includes root itself.
  function each(root, selector, fn) {
    if (root.matches && root.matches(selector)) fn(root);
    if (root.querySelectorAll) Array.prototype.forEach.call(root.querySelectorAll(selector), fn);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document.body); });
  document.addEventListener("htmx:load", function (event) {
    if (event.target !== document.body) init(event.target);
  });

  // ---- disable-with ---------------------------------------------------------------------------

  function disable(button) {
    if (button.disabled) return;
    button.setAttribute("data-enable-with", button.innerHTML);
    var label = button.querySelector(".button-label");
    (label || button).textContent = button.getAttribute("data-disable-with");
    button.disabled = true;
  }

  function enable(button) {
    if (!button.hasAttribute("data-enable-with")) return;
    button.innerHTML = button.getAttribute("data-enable-with");
    button.removeAttribute("data-enable-with");
    button.disabled = false;
  }

  function enableAll(root) { each(root, "[data-enable-with]", enable); }

  // ---- confirm, then disable (capture phase: before htmx's own submit/click listeners) ----------

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = (event.submitter && event.submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
      return;
    }
    // After this tick: the browser (or htmx) has read the form, submitter's name/value included.
    setTimeout(function () {
      each(form, "[data-disable-with]", function (button) {
        if (button.type === "submit") disable(button);
      });
    }, 0);
  }, true);

  document.addEventListener("click", function (event) {
    var el = event.target.closest && event.target.closest("[data-confirm]");
    if (!el || (el.type === "submit" && el.form)) return; // submit buttons: asked in "submit" above
    if (!window.confirm(el.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // A button that sends its own htmx request (hx-delete on a button): disabled while it runs.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt.hasAttribute && elt.hasAttribute("data-disable-with") && elt.tagName === "BUTTON") disable(elt);
    rememberOpener();
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.isConnected) enableAll(elt);
  });
  // Back to a page from the browser's cache: its buttons must not stay disabled.
  window.addEventListener("pageshow", function () { enableAll(document); });

  // ---- modal ------------------------------------------------------------------------------------

  var FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";
  var opener = null; // what had focus when the modal was asked for: focus goes back there
  var openerKey = null; // how to find it again if the swap replaced it (its id or href)
  var openModalEl = null;

  function rememberOpener() {
    var active = document.activeElement;
    if (!active || active === document.body || (openModalEl && openModalEl.contains(active))) return;
    opener = active;
    openerKey = active.id ? "#" + CSS.escape(active.id)
      : active.getAttribute("href") ? "[href='" + CSS.escape(active.getAttribute("href")) + "']" : null;
  }

  function openModal(modal) {
    if (!opener) rememberOpener();
    openModalEl = modal;
    modal.hidden = false;
    var panel = modal.querySelector(".modal-panel") || modal;
    // A form re-rendered with errors: straight to the first field to fix.
    var target = panel.querySelector("[aria-invalid=true]") || panel.querySelector("[autofocus]") ||
      panel.querySelector("input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled])") ||
      panel;
    // After the swap settles: focusing mid-swap is undone by htmx's own focus restore.
    setTimeout(function () { target.focus(); }, 0);
  }

  function closeModal(modal) {
    var link = modal.querySelector("a[data-modal-close]");
    if (link) { link.click(); return; } // navigates to cancel_url (an htmx navigation when boosted)
    modal.hidden = true;
    modalGone();
  }

  function modalGone() {
    openModalEl = null;
    var back = opener && opener.isConnected ? opener : openerKey && document.querySelector(openerKey);
    opener = openerKey = null;
    if (back) back.focus();
  }

  // The modal left the page through a swap (saved, or closed by an htmx navigation).
  document.addEventListener("htmx:afterSettle", function () {
    if (openModalEl && (!openModalEl.isConnected || openModalEl.hidden)) modalGone();
  });

  document.addEventListener("keydown", function (event) {
    if (!openModalEl || !openModalEl.isConnected || openModalEl.hidden) return;
    if (event.key === "Escape") {
      event.preventDefault();
      closeModal(openModalEl);
    } else if (event.key === "Tab") {
      // Keep Tab inside the dialog (aria-modal promises that).
      var items = Array.prototype.filter.call(openModalEl.querySelectorAll(FOCUSABLE), function (el) {
        return el.offsetParent !== null && !el.closest("[aria-hidden=true]");
      });
      if (!items.length) { event.preventDefault(); return; }
      var first = items[0], last = items[items.length - 1];
      if (event.shiftKey && (document.activeElement === first || !openModalEl.contains(document.activeElement))) {
        event.preventDefault(); last.focus();
      } else if (!event.shiftKey && (document.activeElement === last || !openModalEl.contains(document.activeElement))) {
        event.preventDefault(); first.focus();
      }
    }
  });

  document.addEventListener("click", function (event) {
    var el = event.target.closest && event.target.closest("[data-modal-cancel], button[data-modal-close], [data-show-modal]");
    if (!el) return;
    if (el.hasAttribute("data-show-modal")) {
      var modal = document.getElementById(el.getAttribute("data-show-modal"));
      if (modal) { opener = el; openerKey = null; openModal(modal); }
      return;
    }
    if (el.tagName === "A") return; // a link to cancel_url: the browser (or htmx) follows it
    event.preventDefault();
    closeModal(el.closest("[data-modal]"));
  });

  // ---- history -------------------------------------------------------------------------------

  // A form submitted through htmx (simple_form's target) has hx-push-url="true": push the page it
  // was redirected to, but not the POST's own URL when it answered with the form again (a 422):
  // Back would then GET a route that only takes POST.
  document.addEventListener("htmx:beforeHistoryUpdate", function (event) {
    var detail = event.detail;
    var verb = detail.requestConfig && detail.requestConfig.verb;
    if (verb && verb !== "get" && detail.pathInfo.responsePath === detail.pathInfo.finalRequestPath) {
      detail.history.type = "replace";
      detail.history.path = location.pathname + location.search + location.hash;
    }
  });

  // ---- flash ------------------------------------------------------------------------------------

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-flash-close]");
    if (button) button.closest(".flash").remove();
  });

  // An htmx request that failed shows an error flash instead of doing nothing.
  function flashError(message) {
    var group = document.getElementById("flash-group");
    if (!group || !message) return;
    var flash = document.createElement("div");
    flash.className = "flash flash-error";
    flash.setAttribute("role", "alert");
    var text = document.createElement("p");
    text.className = "flash-message";
    text.textContent = message;
    flash.appendChild(text);
    group.replaceChildren(flash);
  }
  document.addEventListener("htmx:responseError", function () {
    var group = document.getElementById("flash-group");
    flashError(group && group.getAttribute("data-http-error"));
  });
  document.addEventListener("htmx:sendError", function () {
    var group = document.getElementById("flash-group");
    flashError(group && group.getAttribute("data-offline-error"));
  });

  // ---- nav toggle -------------------------------------------------------------------------------

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest && event.target.closest("[data-nav-toggle]");
    if (!toggle) return;
    var nav = document.getElementById(toggle.getAttribute("aria-controls"));
    var expanded = toggle.getAttribute("aria-expanded") === "true";
    toggle.setAttribute("aria-expanded", String(!expanded));
    if (nav) nav.toggleAttribute("data-collapsed", expanded);
  });

  // ---- live validation ----------------------------------------------------------------------------

  // Fields the user has typed in or changed: only their errors are shown while typing (Phoenix's
  // used_input?), so a new form does not light up with "can't be blank" everywhere.
  var touched = new WeakSet();
  document.addEventListener("input", function (event) { touched.add(event.target); });
  document.addEventListener("change", function (event) { touched.add(event.target); });

  function controlOf(errorBlock) {
    return errorBlock.id && document.getElementById(errorBlock.id.replace(/-error$/, ""));
  }

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    if (!target.classList || !target.classList.contains("field-errors")) return;
    var control = controlOf(target);
    if (control && !touched.has(control)) event.detail.shouldSwap = false;
  });

  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var block = event.target;
    if (!block.classList || !block.classList.contains("field-errors")) return;
    var control = controlOf(block);
    if (!control) return;
    if (block.querySelector(".field-error")) control.setAttribute("aria-invalid", "true");
    else control.removeAttribute("aria-invalid");
  });
})();
