// The API key lives in this tab's sessionStorage and travels only as the X-API-Key header:
// never in a URL, never logged.
const KEY = "vexa-lite-api-key";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const auth = {
  get key() { return sessionStorage.getItem(KEY); },
  set(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.removeItem(KEY); },
};

let onUnauthorized = () => {};
export function whenUnauthorized(callback) { onUnauthorized = callback; }

export async function errorFrom(response) {
  let code = `http_${response.status}`;
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch (_) { /* not JSON: keep the status line */ }
  return new ApiError(response.status, code, message);
}

// Paths are relative to the page, so the console also works under a proxy's path prefix.
export async function api(path, { method = "GET", body, key = auth.key } = {}) {
  const headers = { "X-API-Key": key || "" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
  });
  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401 && key === auth.key) onUnauthorized(error);
    throw error;
  }
  return response.json();
}

// Features of this server, read from its own OpenAPI document (so the page never asks for an
// endpoint the server does not have).
let features;
export async function serverFeatures() {
  if (!features) {
    features = fetch("openapi.json", { credentials: "omit" })
      .then((r) => (r.ok ? r.json() : { paths: {} }))
      .then((doc) => ({
        peaks: "/recordings/{recording_id}/media/{media_id}/peaks" in (doc.paths || {}),
      }))
      .catch(() => ({ peaks: false }));
  }
  return features;
}
