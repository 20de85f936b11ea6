// Upload one file as a new recording: POST /recordings gives an upload token, then the bytes go
// to the session's chunk URL in one PUT marked final; progress comes from the XHR's own events.
import { api } from "./api.js";
import { bytes } from "./format.js";

const TYPES = {
  wav: "audio/wav", webm: "audio/webm", ogg: "audio/ogg", opus: "audio/opus",
  mp3: "audio/mpeg", m4a: "audio/mp4", mp4: "video/mp4",
};

function contentType(file) {
  if (file.type && /^(audio|video)\//.test(file.type)) return file.type;
  const ext = (file.name.split(".").pop() || "").toLowerCase();
  return TYPES[ext] || null;
}

function explain(status, message) {
  if (status === 413) return `This file is larger than the server accepts. (${message})`;
  if (status === 415) return `This kind of file is not supported: ${message}`;
  if (status === 507) return "The server's storage is full; nothing was stored. Try again once space is freed.";
  if (status === 503) return "Storage is unavailable right now; nothing was stored. Try again in a moment.";
  if (status === 401) return "The upload was not authorised; sign in again.";
  return message;
}

function put(url, file, type, token, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.setRequestHeader("Content-Type", type);
    xhr.setRequestHeader("X-Final", "true");
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener("load", () => resolve({ status: xhr.status, text: xhr.responseText }));
    xhr.addEventListener("error", () => resolve({ status: 0, text: "" }));
    xhr.addEventListener("abort", () => resolve({ status: 0, text: "" }));
    xhr.send(file);
  });
}

function messageOf(text, status) {
  try {
    return JSON.parse(text).error.message;
  } catch (_) {
    return status ? `HTTP ${status}` : "the connection was lost";
  }
}

export function setupUpload({ form, input, meeting, bar, percent, row, status, onDone }) {
  let busy = false;

  function progress(fraction) {
    const value = Math.round(fraction * 100);
    bar.value = value;
    percent.textContent = `${value} %`;
  }

  async function upload(file) {
    if (busy) return;
    const type = contentType(file);
    if (!type) {
      status.textContent = `“${file.name}” is not an audio or video file this server stores (wav, webm, ogg, opus, mp3, m4a, mp4).`;
      status.className = "error";
      return;
    }
    busy = true;
    form.classList.add("busy");
    row.hidden = false;
    progress(0);
    status.className = "";
    status.textContent = `Uploading ${file.name} (${bytes(file.size)})…`;
    let created = null;
    try {
      const body = meeting.value.trim() ? { meeting_id: meeting.value.trim() } : {};
      created = await api("recordings", { method: "POST", body });
      const kind = type.startsWith("video/") ? "video" : "audio";
      const url = `ingest/sessions/${encodeURIComponent(created.session_uid)}/${kind}/chunks/0`;
      const answer = await put(url, file, type, created.upload_token, progress);
      if (answer.status !== 200 && answer.status !== 201) {
        throw Object.assign(new Error(explain(answer.status, messageOf(answer.text, answer.status))), { created });
      }
      progress(1);
      status.textContent = `Uploaded ${file.name}: recording ${created.id}.`;
      meeting.value = "";
      onDone(created.id);
    } catch (error) {
      status.className = "error";
      status.textContent = `Upload failed: ${error.status ? explain(error.status, error.message) : error.message}`;
      if (created) discard(created.id);
    } finally {
      busy = false;
      form.classList.remove("busy");
      input.value = "";
    }
  }

  // The recording made for a failed upload holds nothing: remove it rather than leave it empty.
  async function discard(id) {
    try {
      await api(`recordings/${id}?force=true`, { method: "DELETE" });
    } catch (_) { /* it stays listed; the user can delete it */ }
  }

  input.addEventListener("change", () => { if (input.files[0]) upload(input.files[0]); });
  form.addEventListener("submit", (e) => e.preventDefault());
  form.addEventListener("dragover", (e) => {
    e.preventDefault();
    form.classList.add("over");
  });
  form.addEventListener("dragleave", () => form.classList.remove("over"));
  form.addEventListener("drop", (e) => {
    e.preventDefault();
    form.classList.remove("over");
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) upload(file);
  });
  return { upload };
}
