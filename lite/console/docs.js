// Swagger UI for /openapi.json (loaded from this server; no inline script, so the page's
// Content-Security-Policy stays strict).
window.SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  tryItOutEnabled: false,
  validatorUrl: null, // no badge fetched from elsewhere
});
