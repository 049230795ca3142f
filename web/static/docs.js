// careloop API reference: Swagger UI (vendored) on the app's own OpenAPI document.
(function () {
  "use strict";
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    showExtensions: true,
    showCommonExtensions: true,
  });
})();
