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
