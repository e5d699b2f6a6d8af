// Creator upload: tus resumable upload (tus-js-client) with a progress bar, resume after a reload,
// then the title's processing progress per rendition until it is ready.
import { api, currentUser, el, fmtBytes, hasRole, loginUrl, renderChrome, say } from "./common.js";

const ENDPOINT = "/api/origin/v1/uploads";
const CHUNK_SIZE = 8 * 1024 * 1024;
const message = document.getElementById("upload-message");
const form = document.getElementById("upload-form");
const bar = document.getElementById("upload-progress");
const bytesText = document.getElementById("upload-bytes");
const pauseButton = document.getElementById("pause");
let upload = null;
let titleHeader = null;

function showProgress(sent, total) {
  const percent = total ? (sent / total) * 100 : 0;
  bar.value = percent;
  bar.setAttribute("aria-valuetext", `${percent.toFixed(0)} percent`);
  bytesText.textContent = `${fmtBytes(sent)} of ${fmtBytes(total)} (${percent.toFixed(1)} %)`;
}

async function listPending() {
  const section = document.getElementById("pending-section");
  const list = document.getElementById("pending");
  let previous = [];
  try { previous = await window.tus.defaultOptions.urlStorage.findAllUploads(); } catch { previous = []; }
  const mine = previous.filter((p) => p.uploadUrl && p.uploadUrl.startsWith(ENDPOINT));
  list.replaceChildren(...mine.map((p) => el("li", {},
    `${(p.metadata && p.metadata.filename) || "a file"} — ${fmtBytes(p.size)}, started ${new Date(p.creationTime).toLocaleString()}`)));
  section.hidden = mine.length === 0;
}

async function titleOf(uploadUrl) {
  if (titleHeader) return titleHeader;
  const status = await api(uploadUrl);
  return status.title;
}

function startUpload(file) {
  const name = form.name.value.trim() || file.name.replace(/\.[^.]+$/, "");
  const metadata = { filename: file.name, filetype: file.type || "application/octet-stream", title: name };
  if (form.description.value.trim()) metadata.description = form.description.value.trim();
  if (form.tags.value.trim()) metadata.tags = form.tags.value.trim();
  document.getElementById("progress-section").hidden = false;
  titleHeader = null;
  upload = new window.tus.Upload(file, {
    endpoint: ENDPOINT,
    chunkSize: CHUNK_SIZE,
    retryDelays: [0, 1000, 3000, 5000, 10000],
    metadata,
    removeFingerprintOnSuccess: true,
    onProgress: showProgress,
    onAfterResponse: (_req, res) => {
      const header = res.getHeader("X-Streamfleet-Title");
      if (header) titleHeader = header;
    },
    onError: (err) => {
      const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
      let text = err.message;
      try {
        const body = JSON.parse(err.originalResponse.getBody());
        if (body.error && body.error.message) text = body.error.message;
      } catch { /* not a JSON error */ }
      say(message, status === 422 ? `This file cannot be used: ${text}` : `The upload stopped: ${text}`, "error");
      form.start.disabled = false;
      pauseButton.disabled = true;
    },
    onSuccess: async () => {
      pauseButton.disabled = true;
      showProgress(file.size, file.size);
      try {
        const title = await titleOf(upload.url);
        say(message, "Upload complete. The video is being processed.", "ok");
        followProcessing(title);
      } catch (err) {
        say(message, `Uploaded, but its title is unknown: ${err.message}`, "error");
      }
      listPending();
    },
  });
  upload.findPreviousUploads().then((previous) => {
    if (previous.length) {
      upload.resumeFromPreviousUpload(previous[0]);
      say(message, "Resuming your earlier upload of this file.", "info");
    } else {
      say(message, "Uploading…", "info");
    }
    upload.start();
    form.start.disabled = true;
    pauseButton.disabled = false;
  });
}

async function followProcessing(title) {
  const section = document.getElementById("processing-section");
  const status = document.getElementById("processing-status");
  const list = document.getElementById("processing-renditions");
  const actions = document.getElementById("processing-actions");
  section.hidden = false;
  section.dataset.title = title;
  const url = new URL(location.href);
  url.searchParams.set("title", title);
  history.replaceState(null, "", url);
  for (;;) {
    let p;
    try {
      p = await api(`/api/titles/${encodeURIComponent(title)}/progress`);
    } catch (err) {
      status.textContent = "unknown";
      say(message, `Processing state cannot be read: ${err.message}`, "error");
      return;
    }
    status.textContent = p.status === "processing" && p.stage ? `processing: ${p.stage}` : p.status;
    status.className = `status-badge ${p.status}`;
    list.replaceChildren(...(p.renditions || []).map((r) => {
      const fraction = r.total ? r.done / r.total : 0;
      const id = `rendition-${r.name}`;
      return el("li", {}, el("label", { for: id }, `${r.name}: ${Math.round(fraction * 100)} %`,
        r.total > 1 ? ` (${r.done} of ${r.total} chunks)` : ""),
        el("progress", { id, max: 1, value: fraction }));
    }));
    if (p.status === "ready") {
      actions.replaceChildren(el("a", { class: "button", href: `/watch/${encodeURIComponent(title)}`, id: "watch-uploaded" }, "▶ Watch it"),
        el("a", { class: "button secondary", href: `/titles/${encodeURIComponent(title)}` }, "Title page"));
      say(message, "Your video is ready.", "ok");
      return;
    }
    if (p.status === "failed") {
      say(message, `Processing failed${p.error ? `: ${p.error}` : ""}.`, "error");
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function main() {
  const user = await renderChrome();
  await currentUser();
  if (!hasRole(user, "creator")) {
    message.replaceChildren(user ? "Uploading needs a creator account. " : "Log in with a creator account to upload. ",
      el("a", { href: loginUrl() }, "Log in"));
    message.className = "message info";
    return;
  }
  form.hidden = false;
  listPending();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = form.file.files[0];
    if (!file) {
      say(message, "Choose a video file first.", "error");
      form.file.focus();
      return;
    }
    startUpload(file);
  });
  pauseButton.addEventListener("click", () => {
    if (!upload) return;
    if (pauseButton.textContent === "Pause") {
      upload.abort();
      pauseButton.textContent = "Resume";
      say(message, "Paused. Resume here, or later by choosing the same file again.", "info");
    } else {
      upload.start();
      pauseButton.textContent = "Pause";
      say(message, "Uploading…", "info");
    }
  });
  const following = new URLSearchParams(location.search).get("title");
  if (following) followProcessing(following);
}

main();
