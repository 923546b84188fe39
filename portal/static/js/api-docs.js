// Starts Swagger UI on /docs. Kept out of the page so the CSP needs no inline script.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    // Deep links put a link inside each operation's toggle button (nested controls).
    deepLinking: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,
    tryItOutEnabled: false,
    // Its colour themes fall below WCAG AA contrast; plain text reads everywhere.
    syntaxHighlight: false,
  });
  // Swagger UI leaves the request body editor without a name and its scrolling examples
  // out of the tab order: name and include them as they appear.
  new MutationObserver(function () {
    root.querySelectorAll("textarea.body-param__text:not([aria-label])").forEach(function (box) {
      box.setAttribute("aria-label", "Request body");
    });
    root.querySelectorAll("pre.microlight:not([tabindex])").forEach(function (example) {
      example.setAttribute("tabindex", "0");
    });
  }).observe(root, { childList: true, subtree: true });
})();
