// servicebay's own behaviour: conditional form fields. The page works without it.
(function () {
  "use strict";

  function fieldValue(form, name) {
    var elements = form.querySelectorAll('[name="' + CSS.escape(name) + '"]');
    if (!elements.length) { return null; }
    var element = elements[0];
    if (element.type === "checkbox") { return element.checked; }
    if (element.multiple) {
      return Array.prototype.filter.call(element.options, function (o) { return o.selected; })
        .map(function (o) { return o.value; });
    }
    return element.value;
  }

  function matches(value, allowed) {
    if (Array.isArray(value)) {
      return value.some(function (v) { return allowed.indexOf(v) !== -1; });
    }
    return allowed.indexOf(value) !== -1;
  }

  function refresh(form) {
    form.querySelectorAll("[data-show-if-field]").forEach(function (field) {
      var parent = field.getAttribute("data-show-if-field");
      var parentField = form.querySelector('[name="' + CSS.escape(parent) + '"]');
      var parentHidden = parentField && parentField.closest(".field[hidden]");
      var allowed = JSON.parse(field.getAttribute("data-show-if-values") || "[]");
      var show = !parentHidden && matches(fieldValue(form, parent), allowed);
      field.hidden = !show;
      field.querySelectorAll("input, select, textarea").forEach(function (input) {
        input.disabled = !show;
      });
    });
  }

  function init(root) {
    root.querySelectorAll("form[data-conditional-form]").forEach(function (form) {
      if (form.dataset.conditionalReady) { refresh(form); return; }
      form.dataset.conditionalReady = "1";
      form.addEventListener("input", function () { refresh(form); });
      form.addEventListener("change", function () { refresh(form); });
      refresh(form);
    });
  }

  // The editor's preview of a request form is for trying out, never for sending.
  document.addEventListener("submit", function (event) {
    if (event.target.matches && event.target.matches("form[data-preview-form]")) {
      event.preventDefault();
    }
  });

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (event) { init(event.target.ownerDocument || document); });
})();

// Adoption analytics: tell the server once per page that someone began a request form,
// so forms started and never submitted can be counted. Nothing else is sent.
(function () {
  "use strict";

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (error) {
      return "";
    }
  }

  function offeringOf(form) {
    if (form.dataset.offering) { return form.dataset.offering; }
    var match = (form.getAttribute("action") || "").match(/\/offerings\/([^/]+)\/request/);
    return match ? decodeURIComponent(match[1]) : null;
  }

  function watch(root) {
    root.querySelectorAll("form[data-conditional-form]").forEach(function (form) {
      if (form.dataset.startWatched) { return; }
      form.dataset.startWatched = "1";
      form.addEventListener("input", function () {
        var offering = offeringOf(form);
        if (!offering || form.dataset.startSent) { return; }
        form.dataset.startSent = "1";
        fetch("/api/v1/analytics/form-started", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
          body: JSON.stringify({ offering: offering })
        }).catch(function () { /* counting is best effort */ });
      }, { once: false });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { watch(document); });
  document.addEventListener("htmx:afterSettle", function () { watch(document); });
})();

// Inline validation as people type: the browser's own checks on the field's constraints,
// shown beside the field. The server checks everything again on submit.
(function () {
  "use strict";

  function messageFor(input) {
    var field = input.closest(".field");
    if (!field) { return null; }
    var message = field.querySelector(".problem[data-inline]");
    if (!message) {
      message = document.createElement("p");
      message.className = "problem";
      message.setAttribute("data-inline", "");
      message.id = (input.id || input.name) + "-inline-error";
      message.setAttribute("aria-live", "polite");
      field.appendChild(message);
    }
    return message;
  }

  // The server's own words for a value that misses the field's pattern.
  function patternProblem(input) {
    var pattern = input.getAttribute("data-pattern");
    if (!pattern || !input.value) { return ""; }
    var expression;
    try { expression = new RegExp("^(?:" + pattern + ")$"); } catch (error) { return ""; }
    if (expression.test(input.value)) { return ""; }
    return (input.getAttribute("data-label") || "This field") + " does not have the expected format";
  }

  function check(input) {
    if (input.disabled || !input.willValidate || input.type === "hidden") { return; }
    var message = messageFor(input);
    if (!message) { return; }
    var field = input.closest(".field");
    var problem = input.checkValidity() ? patternProblem(input) : input.validationMessage;
    if (!problem) {
      message.textContent = "";
      input.removeAttribute("aria-invalid");
      field.classList.remove("invalid");
    } else {
      message.textContent = problem;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", message.id);
      field.classList.add("invalid");
    }
  }

  document.addEventListener("focusout", function (event) {
    var input = event.target;
    if (input.closest && input.closest("form[data-conditional-form]") && input.value !== "") {
      check(input);
    }
  });
  document.addEventListener("input", function (event) {
    var input = event.target;
    if (input.closest && input.closest("form[data-conditional-form]") &&
        input.getAttribute("aria-invalid") === "true") {
      check(input);
    }
  });
})();

// Small conveniences: a select that shows another view submits its form when changed.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches && select.matches("select[data-autosubmit]") && select.form) {
      select.form.submit();
    }
  });
})();

// The ops board: drag a card to the next column to move it. The buttons do the same.
(function () {
  "use strict";
  var NEXT = { todo: "doing", doing: "done" };
  var dragged = null;

  function init(root) {
    root.querySelectorAll(".column[data-column] .task[data-task]").forEach(function (card) {
      var column = card.closest(".column").getAttribute("data-column");
      if (!NEXT[column] || card.dataset.dragReady) { return; }
      card.dataset.dragReady = "1";
      card.setAttribute("draggable", "true");
      card.addEventListener("dragstart", function (event) {
        dragged = card;
        card.classList.add("dragging");
        event.dataTransfer.effectAllowed = "move";
        event.dataTransfer.setData("text/plain", card.getAttribute("data-task"));
      });
      card.addEventListener("dragend", function () {
        card.classList.remove("dragging");
        document.querySelectorAll(".drop-target").forEach(function (c) { c.classList.remove("drop-target"); });
        dragged = null;
      });
    });
    root.querySelectorAll(".column[data-column]").forEach(function (column) {
      if (column.dataset.dropReady) { return; }
      column.dataset.dropReady = "1";
      column.addEventListener("dragover", function (event) {
        if (dragged && NEXT[dragged.closest(".column").getAttribute("data-column")] === column.getAttribute("data-column")) {
          event.preventDefault();
          column.classList.add("drop-target");
        }
      });
      column.addEventListener("dragleave", function () { column.classList.remove("drop-target"); });
      column.addEventListener("drop", function (event) {
        event.preventDefault();
        column.classList.remove("drop-target");
        if (!dragged) { return; }
        var form = dragged.querySelector("form.advance");
        if (!form) { return; }
        var details = form.querySelector("details");
        if (details) {
          details.open = true;
          var first = details.querySelector("textarea");
          if (first) { first.focus(); }
        } else {
          form.submit();
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
})();

// A region that scrolls on its own must be reachable by keyboard to be scrolled.
(function () {
  "use strict";
  function label(region) {
    var section = region.closest("section");
    var heading = section && section.querySelector("h1, h2, h3");
    return heading ? heading.textContent.trim() : "Scrollable table";
  }
  function init(root) {
    root.querySelectorAll(".table-scroll, .table-wrap").forEach(function (region) {
      if (region.hasAttribute("tabindex")) { return; }
      region.setAttribute("tabindex", "0");
      region.setAttribute("role", "region");
      region.setAttribute("aria-label", label(region));
    });
  }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function () { init(document); });
})();

// A form on its way shows it and is not sent again: its submit buttons are disabled and the
// one pressed is busy (a spinner, aria-busy) until the answer comes. Without JavaScript the
// server's one-time form token is what keeps a second click from acting twice.
(function () {
  "use strict";
  var RELEASE_AFTER_MS = 20000; // no answer by then: let people try again (the token guards)
  var BUTTONS = 'button[type="submit"], button:not([type]), input[type="submit"]';

  function changesSomething(form) {
    return form.matches && form.matches("form") && !form.matches("[data-preview-form]") &&
      ((form.getAttribute("method") || "").toLowerCase() === "post" || form.hasAttribute("hx-post"));
  }

  function hold(form, submitter) {
    var buttons = form.querySelectorAll(BUTTONS);
    var pressed = submitter && form.contains(submitter) ? submitter : buttons[0];
    form.setAttribute("data-sending", "");
    form.setAttribute("aria-busy", "true");
    // Disabled after this event, not during it: a disabled button is left out of what the
    // form sends, and some buttons carry the choice (approve or reject).
    window.setTimeout(function () {
      if (!form.hasAttribute("data-sending")) { return; }
      buttons.forEach(function (button) { button.disabled = true; });
      if (pressed) { pressed.setAttribute("aria-busy", "true"); }
    }, 0);
    form.sendingTimer = window.setTimeout(function () { release(form); }, RELEASE_AFTER_MS);
  }

  function release(form) {
    if (!form.hasAttribute("data-sending")) { return; }
    window.clearTimeout(form.sendingTimer);
    form.removeAttribute("data-sending");
    form.removeAttribute("aria-busy");
    form.querySelectorAll(BUTTONS).forEach(function (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    });
  }

  // Capture, so a second submit is stopped before htmx or the browser can send it.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!changesSomething(form)) { return; }
    if (form.hasAttribute("data-sending")) {
      event.preventDefault();
      event.stopImmediatePropagation();
      return;
    }
    hold(form, event.submitter);
  }, true);

  // A submit that something else stopped (and htmx did not take over) sends nothing.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented && form.hasAttribute && form.hasAttribute("data-sending") &&
        !form.classList.contains("htmx-request")) {
      release(form);
    }
  });

  // htmx forms: ready again once the answer is in, unless it leads to another page.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail && event.detail.elt;
    var xhr = event.detail && event.detail.xhr;
    if (!form || !form.hasAttribute || !form.hasAttribute("data-sending")) { return; }
    if (xhr && xhr.getResponseHeader("HX-Redirect")) { return; }
    release(form);
  });

  // Back to a page kept in the browser's memory: its forms can be sent again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    document.querySelectorAll("form[data-sending]").forEach(release);
  });
})();
