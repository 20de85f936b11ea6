// The console: sign in, the recordings list, one recording with its players, upload.
import { api, auth, whenUnauthorized } from "./api.js";
import { bytes, duration, el, mainMedia, statusLabel, when } from "./format.js";
import { Player } from "./player.js";
import { setupUpload } from "./upload.js";

const PAGE = 20;
const POLL_MS = 4000;
const $ = (id) => document.getElementById(id);

const state = { cursor: null, rows: new Map(), players: [], timer: null, current: null };

function show(view) {
  for (const id of ["signin", "library", "detail"]) $(id).hidden = id !== view;
  $("sign-out").hidden = view === "signin";
}

let noticeTimer = null;
function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
  clearTimeout(noticeTimer);
  if (text) noticeTimer = setTimeout(() => notice(""), 10000);
}

function stopPolling() {
  clearInterval(state.timer);
  state.timer = null;
}

function poll(callback) {
  stopPolling();
  state.timer = setInterval(callback, POLL_MS);
}

function closePlayers() {
  for (const player of state.players) player.destroy();
  state.players = [];
}

// --- sign in ----------------------------------------------------------------------------------

function signInView(message = "") {
  stopPolling();
  closePlayers();
  show("signin");
  $("signin-error").textContent = message;
  $("api-key").focus();
}

async function signIn(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (!key) return;
  try {
    await api("recordings?limit=1", { key });
  } catch (error) {
    $("signin-error").textContent = error.status === 401 ? "That key was not accepted." : error.message;
    return;
  }
  auth.set(key);
  $("api-key").value = "";
  route();
}

function signOut() {
  auth.clear();
  location.hash = "#/";
  signInView();
}

// Still arriving: how many chunks so far says more than an unknown size.
function sizeText(media) {
  if (media && media.file_size_bytes == null && media.chunk_count) {
    return `${media.chunk_count} chunk${media.chunk_count === 1 ? "" : "s"}`;
  }
  return bytes(media && media.file_size_bytes);
}

function title(recording) {
  const meeting = recording.meeting_id;
  return meeting === null || meeting === undefined || meeting === "" ? "Recording" : `Meeting ${meeting}`;
}

// --- the list -----------------------------------------------------------------------------------

function rowFor(recording) {
  const media = mainMedia(recording);
  const status = statusLabel(recording.status);
  return el("li", { class: "recording", "data-id": recording.id, "data-status": recording.status },
    el("a", { href: `#/recordings/${recording.id}`, class: "rec-link" },
      el("span", { class: "rec-title" },
        el("span", { class: "rec-meeting", text: title(recording) }),
        el("span", { class: "rec-id", text: `#${recording.id}` })),
      el("span", { class: `badge ${recording.status}`, text: status }),
      el("span", { class: "rec-duration", "aria-label": "Duration", text: duration(media && media.duration_seconds) }),
      el("span", { class: "rec-size", "aria-label": "Size", text: sizeText(media) }),
      el("time", { class: "rec-created", datetime: recording.created_at, text: when(recording.created_at) })));
}

function putRow(recording, append = true) {
  const row = rowFor(recording);
  const old = state.rows.get(recording.id);
  if (old) old.replaceWith(row);
  else if (append) $("recordings").append(row);
  else $("recordings").prepend(row);
  state.rows.set(recording.id, row);
}

async function loadPage(first) {
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (!first && state.cursor) params.set("cursor", state.cursor);
  const page = await api(`recordings?${params}`);
  if (first) {
    $("recordings").replaceChildren();
    state.rows.clear();
  }
  for (const recording of page.recordings) putRow(recording);
  state.cursor = page.next_cursor;
  $("more").hidden = !state.cursor;
  $("empty").hidden = state.rows.size > 0;
}

// In-progress recordings refresh by themselves; new ones appear at the top.
async function refreshList() {
  const live = [...state.rows.values()].filter((r) => r.dataset.status === "in_progress");
  for (const row of live) {
    try {
      putRow(await api(`recordings/${row.dataset.id}`));
    } catch (error) {
      if (error.status === 404) {
        row.remove();
        state.rows.delete(Number(row.dataset.id));
      }
    }
  }
  const newest = await api(`recordings?limit=${PAGE}`);
  for (const recording of newest.recordings.slice().reverse()) {
    if (!state.rows.has(recording.id)) putRow(recording, false);
  }
  $("empty").hidden = state.rows.size > 0;
}

async function listView() {
  closePlayers();
  show("library");
  try {
    await loadPage(true);
  } catch (error) {
    notice(`Could not load recordings: ${error.message}`);
  }
  poll(() => refreshList().catch(() => {}));
}

// --- one recording ------------------------------------------------------------------------------

function describe(recording) {
  const facts = [
    ["Meeting", recording.meeting_id ?? "—"],
    ["Recording id", recording.id],
    ["Session", recording.session_uid],
    ["Source", recording.source],
    ["Created", when(recording.created_at)],
    ["Completed", when(recording.completed_at)],
  ];
  if (recording.error_message) facts.push(["Error", recording.error_message]);
  $("detail-facts").replaceChildren(
    ...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v) })]));
  $("detail-title").textContent = `${title(recording)} · #${recording.id}`;
  const badge = $("detail-status");
  badge.textContent = statusLabel(recording.status);
  badge.className = `badge ${recording.status}`;
}

async function detailView(id) {
  closePlayers();
  show("detail");
  let recording;
  try {
    recording = await api(`recordings/${id}`);
  } catch (error) {
    notice(error.status === 404 ? `Recording ${id} was not found.` : error.message);
    location.hash = "#/";
    return;
  }
  state.current = recording;
  describe(recording);
  const media = recording.media_files || [];
  $("media").replaceChildren(...(media.length ? [] : [el("p", { class: "hint", text: "Nothing has arrived yet." })]));
  for (const file of media) {
    const player = new Player(recording, file);
    state.players.push(player);
    $("media").append(player.root);
  }
  if (recording.status === "in_progress") poll(() => refreshDetail(id));
  $("detail-title").focus();
}

async function refreshDetail(id) {
  let recording;
  try {
    recording = await api(`recordings/${id}`);
  } catch (_) {
    return;
  }
  state.current = recording;
  describe(recording);
  const known = new Set(state.players.map((p) => p.media.id));
  for (const file of recording.media_files || []) {
    const player = state.players.find((p) => p.media.id === file.id);
    if (player) player.update(recording, file);
  }
  if ((recording.media_files || []).some((m) => !known.has(m.id))) {
    detailView(id); // a new media type arrived: rebuild
    return;
  }
  if (recording.status !== "in_progress") stopPolling();
}

function askDelete(recording) {
  const id = recording.id;
  const dialog = $("confirm");
  const live = recording.status === "in_progress" ? " It is still receiving chunks." : "";
  $("confirm-text").textContent = `Recording #${id} and all its files will be deleted. This cannot be undone.${live}`;
  dialog.returnValue = "";
  dialog.showModal();
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "delete") return;
    try {
      await api(`recordings/${id}?force=true`, { method: "DELETE" });
    } catch (error) {
      notice(`Could not delete: ${error.message}`);
      return;
    }
    notice(`Recording #${id} was deleted.`);
    location.hash = "#/";
  }, { once: true });
}

// --- wiring -------------------------------------------------------------------------------------

function route() {
  if (!auth.key) {
    signInView();
    return;
  }
  stopPolling();
  const match = location.hash.match(/^#\/recordings\/(\d+)$/);
  if (match) detailView(match[1]);
  else listView();
}

function globalKeys(event) {
  // Space and arrows drive the player when nothing else has focus.
  if (event.target !== document.body && event.target !== $("main")) return;
  if (state.players.length) state.players[0].key(event);
}

whenUnauthorized(() => {
  auth.clear();
  signInView("The key is no longer accepted; sign in again.");
});
$("signin-form").addEventListener("submit", signIn);
$("sign-out").addEventListener("click", signOut);
$("more").addEventListener("click", () => loadPage(false).catch((e) => notice(e.message)));
$("refresh").addEventListener("click", () => loadPage(true).catch((e) => notice(e.message)));
$("delete").addEventListener("click", () => state.current && askDelete(state.current));
$("detail-title").setAttribute("tabindex", "-1");
document.addEventListener("keydown", globalKeys);
window.addEventListener("hashchange", route);
setupUpload({
  form: $("upload"),
  input: $("upload-file"),
  meeting: $("upload-meeting"),
  bar: $("upload-progress"),
  percent: $("upload-percent"),
  row: $("upload-progress-row"),
  status: $("upload-status"),
  onDone: () => loadPage(true).catch(() => {}),
});
route();
