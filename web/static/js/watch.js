// Watch page: asks steering where to play, plays with hls.js, and fails over along steering's ranked
// URLs (keeping the playback position) when an appliance stops answering.
import { api, currentUser, el, loginUrl, renderChrome, say, titleIdFromPath } from "./common.js";

const video = document.getElementById("video");
const message = document.getElementById("watch-message");
const overlay = document.getElementById("overlay");
const toggle = document.getElementById("toggle-overlay");
const sourcesList = document.getElementById("sources");
const params = new URLSearchParams(location.search);
// ?buffer=N caps the video kept buffered ahead at N seconds (else hls.js's defaults: 30 s, or more
// for low bitrates); a small buffer holds fewer bytes of an appliance that may die.
const bufferCap = params.has("buffer") ? Math.min(120, Math.max(2, Number(params.get("buffer")) || 30)) : null;

// Public state, also read by the browser tests and handy in devtools.
const player = {
  title: "", sources: [], index: 0, failovers: 0, steerings: 0, fatal: null,
  servedBy: null, cache: null, rendition: null, position: 0, playing: false, requestId: null,
};
window.sfPlayer = player;
let hls = null;
let mediaRecoveries = 0;

function retryPolicy(firstByteMs, totalMs) {
  // One quick retry, then a fatal error: failing over to the next appliance beats waiting.
  const retry = { maxNumRetry: 1, retryDelayMs: 300, maxRetryDelayMs: 1000 };
  return { default: { maxTimeToFirstByteMs: firstByteMs, maxLoadTimeMs: totalMs, timeoutRetry: retry, errorRetry: retry } };
}

function playable(source, relay) {
  if (!relay) return source.url;
  const path = new URL(source.url).pathname;
  return source.kind === "appliance"
    ? `/api/relay/appliance/${encodeURIComponent(source.appliance)}${path}`
    : `/api/relay/origin${path}`;
}

let config = { media_relay: true, watch_requires_login: true };

async function steer() {
  const answer = await api("/api/steering/v1/playback", { method: "POST", body: { title: player.title } });
  player.steerings += 1;
  player.requestId = typeof answer.request_id === "string" ? answer.request_id : null;
  player.sources = answer.urls.map((u) => ({ ...u, play: playable(u, config.media_relay), failed: false }));
  player.site = answer.site;
  renderSources();
}

function renderSources() {
  sourcesList.replaceChildren(...player.sources.map((s, i) => el("li", {
    "aria-current": i === player.index ? "true" : null, class: s.failed ? "failed" : null,
  }, s.kind === "appliance" ? `appliance ${s.appliance} (site ${s.site})` : "origin", s.failed ? " — not answering" : "")));
}

function sourceName(source) {
  return source ? (source.kind === "appliance" ? source.appliance : "origin") : "–";
}

function start(index, resumeAt) {
  player.index = index;
  const source = player.sources[index];
  renderSources();
  if (hls) hls.destroy();
  mediaRecoveries = 0;
  if (!window.Hls || !window.Hls.isSupported()) {
    // Safari and iOS play HLS natively; failover then follows the video element's errors.
    video.src = source.play;
    if (resumeAt > 0) video.addEventListener("loadedmetadata", () => { video.currentTime = resumeAt; }, { once: true });
    video.play().catch(() => say(message, "Press play to start.", "info"));
    return;
  }
  hls = new window.Hls({
    startPosition: resumeAt > 0 ? resumeAt : -1,
    ...(bufferCap === null ? {} : { maxBufferLength: bufferCap, maxMaxBufferLength: bufferCap, maxBufferSize: 0 }),
    manifestLoadPolicy: retryPolicy(4000, 8000),
    playlistLoadPolicy: retryPolicy(4000, 8000),
    fragLoadPolicy: retryPolicy(6000, 20000),
    // Steering's request id rides on every media request, so the appliance's and the origin's log
    // lines join steering's. Only through the relay: a custom header on a cross-origin request
    // needs a CORS preflight that appliances do not answer.
    xhrSetup: (xhr) => {
      if (config.media_relay && player.requestId) xhr.setRequestHeader("X-Request-Id", player.requestId);
    },
  });
  hls.on(window.Hls.Events.MANIFEST_PARSED, () => {
    video.play().catch(() => say(message, "Press play to start.", "info"));
  });
  hls.on(window.Hls.Events.FRAG_LOADED, (_event, data) => {
    const xhr = data.networkDetails;
    const header = (name) => (xhr && typeof xhr.getResponseHeader === "function" ? xhr.getResponseHeader(name) : null);
    // X-Served-By when readable (same origin or exposed by CORS), else what steering said.
    player.servedBy = header("x-served-by") || sourceName(source);
    player.cache = header("x-cache") || "–";
  });
  hls.on(window.Hls.Events.LEVEL_SWITCHED, (_event, data) => {
    const level = hls.levels[data.level];
    player.rendition = level ? `${level.height}p · ${Math.round(level.bitrate / 1000)} kbit/s` : null;
  });
  hls.on(window.Hls.Events.ERROR, (_event, data) => {
    if (!data.fatal) return;
    if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries < 2) {
      mediaRecoveries += 1;
      hls.recoverMediaError();
      return;
    }
    if (data.type === window.Hls.ErrorTypes.NETWORK_ERROR) {
      failover(`${data.details}`);
      return;
    }
    fail(`The video cannot be played (${data.details}).`);
  });
  hls.loadSource(source.play);
  hls.attachMedia(video);
}

async function failover(reason) {
  const resumeAt = player.position;
  player.sources[player.index].failed = true;
  player.failovers += 1;
  const next = player.index + 1;
  if (next < player.sources.length) {
    say(message, `${sourceName(player.sources[player.index])} stopped answering (${reason}); continuing from ${sourceName(player.sources[next])}.`, "info");
    start(next, resumeAt);
    return;
  }
  if (player.steerings < 2) {
    // Every ranked URL failed: ask steering once more (the fleet may have changed meanwhile).
    try {
      await steer();
      start(0, resumeAt);
      return;
    } catch (err) {
      fail(`No source can play this title: ${err.message}`);
      return;
    }
  }
  fail("No source can play this title right now. Try again later.");
}

function fail(text) {
  player.fatal = text;
  say(message, text, "error");
  if (hls) hls.destroy();
  hls = null;
}

function bufferedAhead() {
  const t = video.currentTime;
  for (let i = 0; i < video.buffered.length; i += 1) {
    if (video.buffered.start(i) <= t + 0.1 && t <= video.buffered.end(i)) return video.buffered.end(i) - t;
  }
  return 0;
}

function renderOverlay() {
  const current = player.sources[player.index];
  document.getElementById("ov-appliance").textContent = player.servedBy || "–";
  document.getElementById("ov-cache").textContent = player.cache || "–";
  document.getElementById("ov-source").textContent = current ? `#${player.index + 1} of ${player.sources.length} (${current.kind})` : "–";
  document.getElementById("ov-rendition").textContent = player.rendition || "–";
  document.getElementById("ov-buffer").textContent = `${bufferedAhead().toFixed(1)} s`;
  document.getElementById("ov-failovers").textContent = String(player.failovers);
  overlay.dataset.appliance = player.servedBy || "";
}

function showOverlay(on) {
  overlay.hidden = !on;
  toggle.setAttribute("aria-pressed", String(on));
  toggle.textContent = on ? "Hide playback details" : "Show playback details";
  localStorage.setItem("sf.overlay", on ? "1" : "0");
}

async function main() {
  renderChrome();
  player.title = titleIdFromPath("/watch/");
  document.getElementById("back-to-title").href = `/titles/${encodeURIComponent(player.title)}`;
  toggle.addEventListener("click", () => showOverlay(overlay.hidden));
  showOverlay(params.get("stats") === "1" || localStorage.getItem("sf.overlay") === "1");
  video.addEventListener("timeupdate", () => {
    if (video.currentTime > 0) player.position = video.currentTime;
  });
  video.addEventListener("playing", () => {
    // One play per page view feeds the "popular" row; only sessions may count (anonymous: skip).
    if (!player.playing && player.user) {
      api(`/api/origin/v1/titles/${encodeURIComponent(player.title)}/plays`, { method: "POST" }).catch(() => {});
    }
    player.playing = true;
  });
  video.addEventListener("error", () => {
    if (!hls && player.sources.length) failover("media element error");
  });
  setInterval(renderOverlay, 500);

  const [user, settings] = await Promise.all([currentUser(), api("/api/config").catch(() => config)]);
  config = settings;
  player.user = user ? user.username : null;
  if (!user && config.watch_requires_login) {
    message.replaceChildren("Log in to watch. ", el("a", { href: loginUrl() }, "Log in"));
    message.className = "message info";
    return;
  }
  try {
    const t = await api(`/api/origin/v1/titles/${encodeURIComponent(player.title)}`);
    document.getElementById("watch-heading").textContent = t.name;
    document.title = `${t.name} · streamfleet`;
    await steer();
  } catch (err) {
    if (err.status === 401) {
      message.replaceChildren("Your session has ended. ", el("a", { href: loginUrl() }, "Log in again"));
      message.className = "message info";
      player.fatal = err.message;
      return;
    }
    fail(err.status === 404 ? "This title cannot be played (unknown or not ready yet)." : `Playback cannot start: ${err.message}`);
    return;
  }
  start(0, 0);
}

main();
