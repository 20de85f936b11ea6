// One media file: a player with a waveform (peaks from the server, or a plain bar until the
// server has them), seeking by click, drag and keyboard, speed, Download and Copy link.
import { api, serverFeatures } from "./api.js";
import { bytes, duration, el, when } from "./format.js";

const STEP = 5;
const BIG_STEP = 30;
const SPEEDS = [0.5, 0.75, 1, 1.25, 1.5, 2];
const BAR = 3; // CSS pixels per waveform column

export class Player {
  constructor(recording, media) {
    this.recording = recording;
    this.media = media;
    this.link = null;
    this.peaks = null;
    this.dragging = null;
    this.resumeAt = null;
    this.build();
    this.bind();
    this.load();
  }

  get base() { return `recordings/${this.recording.id}/media/${this.media.id}`; }
  get live() { return this.recording.status === "in_progress" || this.media.status === "in_progress"; }

  build() {
    const m = this.media;
    const title = `media-${m.id}-title`;
    this.element = (m.type === "video" ? el("video", { playsinline: true }) : el("audio"));
    this.element.preload = "metadata";
    this.element.classList.add("media-element");
    this.play = el("button", { type: "button", class: "play", "aria-label": "Play" }, "▶");
    this.canvas = el("canvas", { "aria-hidden": "true" });
    this.wave = el("div", {
      class: "wave", tabindex: 0, role: "slider", "aria-label": "Position",
      "aria-valuemin": 0, "aria-valuemax": 0, "aria-valuenow": 0,
    }, this.canvas);
    this.clock = el("span", { class: "clock", "aria-live": "off", text: "0:00 / –" });
    this.speed = el("select", { id: `speed-${m.id}` });
    for (const rate of SPEEDS) {
      const option = el("option", { value: rate, text: `${rate}×` });
      option.selected = rate === 1;
      this.speed.append(option);
    }
    this.liveBadge = el("span", { class: "badge live", text: "live", hidden: !this.live });
    this.download = el("a", { class: "button", download: "", text: "Download" });
    this.copy = el("button", { type: "button", class: "quiet copy", text: "Copy link" });
    this.expiry = el("span", { class: "hint expiry" });
    this.linkBox = el("input", {
      class: "link", readonly: true, "aria-label": "Link to this file", hidden: true,
    });
    this.message = el("p", { class: "hint", role: "status", "aria-live": "polite" });
    this.facts = el("dl", { class: "facts small" });
    this.root = el("section", { class: "panel media-card", "aria-labelledby": title },
      el("div", { class: "detail-head" },
        el("h3", { id: title, text: `${m.type[0].toUpperCase()}${m.type.slice(1)} · ${m.format || "?"}` }),
        this.liveBadge),
      this.facts,
      this.element,
      el("div", { class: "player" },
        this.play, this.wave, this.clock,
        el("label", { class: "speed", for: `speed-${m.id}` }, "Speed ", this.speed)),
      el("div", { class: "row links" }, this.download, this.copy, this.expiry),
      this.linkBox,
      this.message);
    this.showFacts();
  }

  showFacts() {
    const m = this.media;
    const facts = [
      ["Size", bytes(m.file_size_bytes)],
      ["Duration", duration(this.duration())],
      ["Chunks", m.chunk_count ?? "–"],
      ["Missing chunks", (m.missing_chunks || []).join(", ") || "none"],
      ["Finished", when(m.finalized_at)],
    ];
    if (m.problems && m.problems.length) facts.push(["Problems", m.problems.join("; ")]);
    this.facts.replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v) })]));
  }

  bind() {
    const a = this.element;
    this.play.addEventListener("click", () => this.toggle());
    for (const name of ["timeupdate", "durationchange", "loadedmetadata", "seeked", "ratechange"]) {
      a.addEventListener(name, () => this.draw());
    }
    a.addEventListener("play", () => this.playing(true));
    a.addEventListener("pause", () => this.playing(false));
    a.addEventListener("ended", () => { if (this.live) this.reload(true); });
    a.addEventListener("loadedmetadata", () => {
      if (this.resumeAt !== null) {
        const { time, play } = this.resumeAt;
        this.resumeAt = null;
        a.currentTime = Math.min(time, this.duration() || time);
        if (play) a.play().catch(() => {});
      }
      this.showFacts();
    });
    a.addEventListener("error", () => this.failed());
    this.speed.addEventListener("change", () => { a.playbackRate = Number(this.speed.value); });
    this.wave.addEventListener("pointerdown", (e) => this.pointer(e, "down"));
    this.wave.addEventListener("pointermove", (e) => this.pointer(e, "move"));
    this.wave.addEventListener("pointerup", (e) => this.pointer(e, "up"));
    this.wave.addEventListener("pointercancel", () => { this.dragging = null; this.draw(); });
    this.root.addEventListener("keydown", (e) => this.key(e));
    this.copy.addEventListener("click", () => this.copyLink());
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.wave);
  }

  async load() {
    await this.fetchLink();
    if (this.link) this.element.src = this.link.url;
    this.loadPeaks();
  }

  async fetchLink() {
    try {
      this.link = await api(`${this.base}/download`);
    } catch (error) {
      this.link = null;
      this.say(`Cannot play this file: ${error.message}`);
      return;
    }
    this.download.href = this.link.download_url;
    this.download.setAttribute("download", this.link.filename);
    const expires = new Date(this.link.expires_at);
    this.expiry.textContent = `Links valid until ${expires.toLocaleTimeString()} (${Math.round(this.link.expires_in / 60)} min)`;
  }

  async loadPeaks() {
    if (this.live || !(await serverFeatures()).peaks) return;
    try {
      const peaks = await api(`${this.base}/peaks`);
      if (Array.isArray(peaks.data) && peaks.data.length) {
        this.peaks = peaks;
        this.wave.dataset.waveform = "peaks"; // drawn from the server's peaks, not the plain bar
      }
    } catch (_) {
      this.peaks = null; // the plain bar stays
    }
    this.draw();
  }

  // Still recording: load what has arrived so far again, keeping the position.
  async reload(play = false) {
    const time = this.element.currentTime;
    await this.fetchLink();
    if (!this.link) return;
    this.resumeAt = { time, play };
    this.element.src = this.link.url;
  }

  // Called by the page with fresh JSON while the recording is live.
  update(recording, media) {
    const wasLive = this.live;
    this.recording = recording;
    this.media = media;
    this.liveBadge.hidden = !this.live;
    this.showFacts();
    if (wasLive && !this.live) {
      this.reload(!this.element.paused);
      this.loadPeaks();
    } else if (this.live && this.element.paused && !this.dragging) {
      this.reload(false);
    }
  }

  async failed() {
    if (this.retried) {
      this.say("The file cannot be played in this browser.");
      return;
    }
    this.retried = true; // an expired link: ask for a new one, once
    await this.reload(false);
  }

  duration() {
    const d = this.element.duration;
    if (Number.isFinite(d) && d > 0) return d;
    return this.media.duration_seconds || 0;
  }

  toggle() {
    if (this.element.paused) this.element.play().catch((e) => this.say(`Cannot play: ${e.message}`));
    else this.element.pause();
  }

  playing(on) {
    this.play.textContent = on ? "❚❚" : "▶";
    this.play.setAttribute("aria-label", on ? "Pause" : "Play");
    const tick = () => {
      this.draw();
      if (!this.element.paused) this.frame = requestAnimationFrame(tick);
    };
    cancelAnimationFrame(this.frame);
    if (on) tick();
  }

  seek(seconds) {
    const total = this.duration();
    if (!total) return;
    this.element.currentTime = Math.max(0, Math.min(total, seconds));
    this.draw();
  }

  fraction(event) {
    const box = this.wave.getBoundingClientRect();
    return Math.max(0, Math.min(1, (event.clientX - box.left) / box.width));
  }

  pointer(event, phase) {
    if (phase === "down") {
      this.wave.setPointerCapture(event.pointerId);
      this.wave.focus();
      this.dragging = this.fraction(event);
    } else if (this.dragging === null) {
      return;
    } else {
      this.dragging = this.fraction(event);
    }
    if (phase === "up") {
      const target = this.dragging * this.duration();
      this.dragging = null;
      this.seek(target);
    }
    this.draw();
  }

  key(event) {
    const inControl = event.target.closest("button, select, input, a, textarea");
    if (inControl && event.target !== this.wave) return;
    const now = this.element.currentTime;
    const step = event.shiftKey ? BIG_STEP : STEP;
    const actions = {
      " ": () => this.toggle(),
      Enter: () => this.toggle(),
      ArrowLeft: () => this.seek(now - step),
      ArrowRight: () => this.seek(now + step),
      ArrowDown: () => this.seek(now - step),
      ArrowUp: () => this.seek(now + step),
      Home: () => this.seek(0),
      End: () => this.seek(this.duration()),
    };
    const action = actions[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  }

  async copyLink() {
    if (!this.link || Date.parse(this.link.expires_at) - Date.now() < 60_000) await this.fetchLink();
    if (!this.link) return;
    const url = new URL(this.link.url, location.href).href; // local links are relative
    this.linkBox.value = url;
    this.linkBox.hidden = false;
    this.linkBox.select();
    try {
      await navigator.clipboard.writeText(url);
      this.say(`Link copied. It plays without a key until ${new Date(this.link.expires_at).toLocaleTimeString()}.`);
    } catch (_) {
      this.say("Copy the selected link above (this browser did not allow copying).");
    }
  }

  say(text) { this.message.textContent = text; }

  draw() {
    const total = this.duration();
    const now = this.element.currentTime || 0;
    const shown = this.dragging !== null ? this.dragging : (total ? now / total : 0);
    this.clock.textContent = `${duration(now)} / ${this.live ? "live " : ""}${duration(total)}`;
    this.wave.setAttribute("aria-valuemax", String(Math.round(total)));
    this.wave.setAttribute("aria-valuenow", String(Math.round(now)));
    this.wave.setAttribute("aria-valuetext", `${duration(now)} of ${duration(total)}`);
    paint(this.canvas, this.peaks, Math.max(0, Math.min(1, shown)));
  }

  destroy() {
    cancelAnimationFrame(this.frame);
    this.resize.disconnect();
    this.element.pause();
    this.element.removeAttribute("src");
    this.element.load();
  }
}

function colors(canvas) {
  const style = getComputedStyle(canvas);
  return {
    played: style.getPropertyValue("--wave-played").trim() || "#2563eb",
    rest: style.getPropertyValue("--wave-rest").trim() || "#cbd5e1",
    head: style.getPropertyValue("--wave-head").trim() || "#0f172a",
  };
}

// Columns of (min, max) in -1..1 from audiowaveform JSON v2 (interleaved per channel).
export function columns(peaks, count) {
  const channels = peaks.channels || 1;
  const scale = 2 ** ((peaks.bits || 8) - 1);
  const pixels = Math.floor(peaks.data.length / (2 * channels));
  const found = [];
  for (let c = 0; c < count; c += 1) {
    const from = Math.floor((c * pixels) / count);
    const to = Math.max(from + 1, Math.floor(((c + 1) * pixels) / count));
    let low = 0;
    let high = 0;
    for (let p = from; p < to && p < pixels; p += 1) {
      for (let ch = 0; ch < channels; ch += 1) {
        const i = 2 * (p * channels + ch);
        low = Math.min(low, peaks.data[i] / scale);
        high = Math.max(high, peaks.data[i + 1] / scale);
      }
    }
    found.push([low, high]);
  }
  return found;
}

function paint(canvas, peaks, fraction) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (!width || !height) return;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const c = colors(canvas);
  const split = fraction * width;
  if (!peaks) { // a plain progress bar
    const y = height / 2 - 4;
    g.fillStyle = c.rest;
    g.fillRect(0, y, width, 8);
    g.fillStyle = c.played;
    g.fillRect(0, y, split, 8);
  } else {
    const count = Math.max(1, Math.floor(width / BAR));
    const middle = height / 2;
    columns(peaks, count).forEach(([low, high], i) => {
      const x = i * BAR;
      const top = middle - Math.max(high, 0.01) * middle;
      const bottom = middle - Math.min(low, -0.01) * middle;
      g.fillStyle = x < split ? c.played : c.rest;
      g.fillRect(x, top, BAR - 1, Math.max(1, bottom - top));
    });
  }
  g.fillStyle = c.head;
  g.fillRect(Math.min(width - 2, split), 0, 2, height);
}
