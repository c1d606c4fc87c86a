// Starts Swagger UI on folio-api's /api/docs. It is a file, not an inline script, so that the
// page's Content-Security-Policy can forbid inline script; the OpenAPI URL comes from the page.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // The default sends the document's URL to validator.swagger.io for a badge: offline, and
    // outside the CSP, that is only an error.
    validatorUrl: null,
  });
})();
