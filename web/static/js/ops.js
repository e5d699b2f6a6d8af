// Operator dashboard: fleet health, load, disk, hit ratio, steering misses, fill progress and
// schedules, with last-hour charts built from the services' own counters (polled, kept here).
import { api, currentUser, el, fmtBytes, fmtPercent, hasRole, loginUrl, renderChrome, say } from "./common.js";
import { lineChart } from "./chart.js";

const params = new URLSearchParams(location.search);
const POLL_MS = Math.max(500, Number(params.get("interval")) || 2000);
const WINDOW_MS = 60 * 60 * 1000;
const STORE_KEY = "sf.ops.series";
const message = document.getElementById("ops-message");
const healthLive = document.getElementById("health-changes");

// Client-side series: one point per poll, from counter deltas between polls.
let series = loadSeries();
let previous = null; // last overview, for deltas
let lastHealth = new Map();
let schedulesRendered = false;
let polling = false;

function loadSeries() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || "[]");
    return Array.isArray(saved) ? saved.filter((p) => p.t > Date.now() - WINDOW_MS) : [];
  } catch { return []; }
}

function counters(row) {
  const m = row.metrics;
  if (!m) return null;
  return { hits: m.hits + m.peer_fills, misses: m.misses, bytes: m.bytes_hit + m.bytes_miss + m.bytes_peer_fill };
}

function recordPoint(view) {
  const now = view.generated_unix_ms;
  if (previous) {
    const seconds = (now - previous.generated_unix_ms) / 1000;
    const before = new Map(previous.appliances.map((a) => [a.appliance_id, counters(a)]));
    let hits = 0, misses = 0, bytes = 0;
    for (const row of view.appliances) {
      const now_ = counters(row), then = before.get(row.appliance_id);
      // Only appliances seen in both polls, and never across a counter reset (a restart).
      if (!now_ || !then || now_.hits < then.hits || now_.misses < then.misses || now_.bytes < then.bytes) continue;
      hits += now_.hits - then.hits; misses += now_.misses - then.misses; bytes += now_.bytes - then.bytes;
    }
    const originThen = previous.origin ? previous.origin.bytes_served : null;
    const originNow = view.origin ? view.origin.bytes_served : null;
    const originBytes = originThen !== null && originNow !== null && originNow >= originThen ? originNow - originThen : null;
    if (seconds > 0) {
      series.push({
        t: now,
        hitRatio: hits + misses > 0 ? hits / (hits + misses) : null,
        servedBps: (bytes * 8) / seconds,
        originBps: originBytes === null ? null : (originBytes * 8) / seconds,
      });
    }
    series = series.filter((p) => p.t > now - WINDOW_MS);
    try { sessionStorage.setItem(STORE_KEY, JSON.stringify(series)); } catch { /* storage full: keep in memory */ }
  }
  previous = view;
}

function fmtBits(v) {
  if (!Number.isFinite(v)) return "–";
  const units = ["b/s", "kb/s", "Mb/s", "Gb/s"];
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i += 1; }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

function renderCharts(now) {
  lineChart(document.querySelector("#chart-hit-ratio .chart-body"),
    [{ points: series.map((p) => ({ t: p.t, v: p.hitRatio })), className: "line-a" }],
    { windowMs: WINDOW_MS, now, yMax: 1, format: (v) => `${Math.round(v * 100)}%`, title: "Hit ratio over the last hour" });
  lineChart(document.querySelector("#chart-traffic .chart-body"), [
    { points: series.map((p) => ({ t: p.t, v: p.servedBps })), className: "line-b" },
    { points: series.map((p) => ({ t: p.t, v: p.originBps })), className: "line-c" },
  ], { windowMs: WINDOW_MS, now, yFloor: 1e6, format: fmtBits, title: "Traffic served by appliances and by the origin over the last hour" });
  const fig = document.getElementById("chart-traffic");
  if (!fig.querySelector(".legend")) {
    fig.append(el("div", { class: "legend" },
      el("span", {}, el("span", { class: "swatch", style: "background: var(--info)" }), "appliances to viewers"),
      el("span", {}, el("span", { class: "swatch", style: "background: var(--warn)" }), "origin")));
  }
}

function tile(label, value, testid) {
  return el("li", { class: "tile", "data-testid": testid }, el("span", { class: "label" }, label), el("span", { class: "value" }, value));
}

function renderTiles(view) {
  const counts = view.health_counts || {};
  const totals = view.appliances.map(counters).filter(Boolean)
    .reduce((a, c) => ({ hits: a.hits + c.hits, misses: a.misses + c.misses }), { hits: 0, misses: 0 });
  const recent = series.length ? series[series.length - 1] : null;
  const misses = view.steering && view.steering.reachable ? view.steering.misses : null;
  document.getElementById("tiles").replaceChildren(
    tile("Healthy appliances", `${counts.healthy || 0} / ${view.appliances.length}`, "tile-healthy"),
    tile("Down", String(counts.down || 0), "tile-down"),
    tile("Hit ratio (all time)", totals.hits + totals.misses ? fmtPercent(totals.hits / (totals.hits + totals.misses)) : "–", "tile-hit-ratio"),
    tile("Served now", recent ? fmtBits(recent.servedBps) : "–", "tile-traffic"),
    tile("Content misses", misses ? String(misses.content) : "–", "tile-content-misses"),
    tile("Health misses", misses ? String(misses.health) : "–", "tile-health-misses"),
  );
}

function meter(fraction, label) {
  const pct = Math.max(0, Math.min(1, fraction || 0)) * 100;
  return el("span", {}, el("span", { class: "meter", "aria-hidden": "true" }, el("span", { style: `width: ${pct.toFixed(1)}%` })), label);
}

function fillCell(fill) {
  if (!fill || !fill.manifest_version) return "–";
  if (fill.done) return "complete";
  const fraction = fill.bytes_total ? fill.bytes_done / fill.bytes_total : 0;
  const eta = fill.eta_seconds === null || fill.eta_seconds === undefined ? "" : `, ETA ${Math.round(fill.eta_seconds / 60)} min`;
  return meter(fraction, `${fmtBytes(fill.bytes_done)} / ${fmtBytes(fill.bytes_total)}${eta}`);
}

async function drain(row, button) {
  const undo = row.state === "draining" || row.state === "drained" || (row.metrics && row.metrics.draining);
  button.disabled = true;
  try {
    await api(`/api/ops/appliances/${encodeURIComponent(row.appliance_id)}/drain${undo ? "?undo=1" : ""}`, { method: "POST" });
    say(message, `${row.appliance_id}: ${undo ? "drain cancelled" : "draining"}.`, "ok");
    await poll();
  } catch (err) {
    say(message, `${row.appliance_id}: ${err.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

function renderAppliances(view) {
  const body = document.querySelector("#appliances tbody");
  const rows = [...view.appliances].sort((a, b) => (a.site + a.appliance_id).localeCompare(b.site + b.appliance_id));
  body.replaceChildren(...rows.map((row) => {
    const m = row.metrics;
    const c = counters(row);
    const draining = row.state === "draining" || row.state === "drained" || (m && m.draining);
    const capacity = (m && m.disk_capacity_bytes) || row.capacity_bytes;
    const used = (m && m.disk_used_bytes) || row.disk_used_bytes;
    const button = el("button", { type: "button", class: "secondary", "aria-label": `${draining ? "Undrain" : "Drain"} ${row.appliance_id}` },
      draining ? "Undrain" : "Drain");
    button.addEventListener("click", () => drain(row, button));
    return el("tr", { "data-appliance": row.appliance_id, "data-health": row.health },
      el("th", { scope: "row" }, row.appliance_id),
      el("td", {}, row.site),
      el("td", {}, el("span", { class: `status-badge ${row.health}`, "data-testid": "health" }, row.health),
        row.state && row.state !== "active" ? ` (${row.state})` : ""),
      el("td", { class: "num" }, `${row.connections} conn · ${fmtBits(row.egress_bytes_per_second * 8)}`),
      el("td", { class: "num" }, meter(capacity ? used / capacity : 0, `${fmtBytes(used)} / ${fmtBytes(capacity)}`)),
      el("td", { class: "num" }, c && c.hits + c.misses ? fmtPercent(c.hits / (c.hits + c.misses)) : (m ? "–" : "unreachable")),
      el("td", { class: "num" }, fillCell(row.fill)),
      el("td", {}, button));
  }));
  const changes = [];
  for (const row of rows) {
    const before = lastHealth.get(row.appliance_id);
    if (before && before !== row.health) changes.push(`${row.appliance_id} is now ${row.health}`);
    lastHealth.set(row.appliance_id, row.health);
  }
  if (changes.length) healthLive.textContent = changes.join(". ");
}

function renderSchedules(view) {
  const box = document.getElementById("schedules");
  if (!view.fill.available) {
    box.replaceChildren(el("p", { class: "empty" }, "The control plane does not offer fill schedules (its /v1/fill API is not reachable)."));
    schedulesRendered = false;
    return;
  }
  // Rendered once (and after a save) so a form being edited is not replaced by the next poll.
  if (schedulesRendered) return;
  schedulesRendered = true;
  const known = new Map((view.fill.schedules || []).map((s) => [s.site, s]));
  for (const s of view.sites) if (!known.has(s.site)) known.set(s.site, { site: s.site, window: "", tz: "", rate_bits_per_second: 0 });
  box.replaceChildren(...[...known.values()].map(scheduleForm));
}

function scheduleForm(s) {
  const id = (name) => `sched-${s.site}-${name}`;
  const status = el("p", { class: "hint", role: "status" },
    s.window ? `Filling ${s.filling_allowed_now ? "allowed now" : "outside the window now"}.` : "No window: fills at any time.");
  const form = el("form", { class: "schedule-form", "data-site": s.site },
    el("h3", {}, `Site ${s.site}`),
    el("div", {}, el("label", { for: id("window") }, "Window (local time)"),
      el("input", { id: id("window"), name: "window", type: "text", value: s.window || "", placeholder: "02:00-06:00", pattern: "\\d{2}:\\d{2}-\\d{2}:\\d{2}" })),
    el("div", {}, el("label", { for: id("tz") }, "Time zone"),
      el("input", { id: id("tz"), name: "tz", type: "text", value: s.tz || "", placeholder: "Europe/Paris" })),
    el("div", {}, el("label", { for: id("rate") }, "Rate"),
      el("input", { id: id("rate"), name: "rate", type: "text", value: s.rate_bits_per_second ? `${s.rate_bits_per_second}bps` : "", placeholder: "500Mbps" })),
    el("div", { class: "actions" }, el("button", { type: "submit" }, "Save schedule"),
      el("button", { type: "button", class: "secondary", "data-action": "run-now" }, "Fill now")),
    status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api(`/api/control/v1/fill/schedules/${encodeURIComponent(s.site)}`, { method: "PUT",
        body: { window: form.window.value.trim(), tz: form.tz.value.trim(), rate: form.rate.value.trim() } });
      // Re-render from the control plane's answer first, then confirm: the form the operator sees
      // after the message is the one that stays (no later poll replaces what they type next).
      schedulesRendered = false;
      await poll();
      say(message, `Fill schedule of ${s.site} saved.`, "ok");
    } catch (err) {
      say(message, `Schedule of ${s.site} not saved: ${err.message}`, "error");
    }
  });
  form.querySelector("[data-action=run-now]").addEventListener("click", async () => {
    try {
      await api(`/api/control/v1/fill/run-now/${encodeURIComponent(s.site)}`, { method: "POST", body: {} });
      say(message, `Site ${s.site} fills now.`, "ok");
    } catch (err) {
      say(message, `Fill now failed for ${s.site}: ${err.message}`, "error");
    }
  });
  return form;
}

async function poll() {
  if (polling) return;
  polling = true;
  try {
    const view = await api("/api/ops/overview");
    recordPoint(view);
    renderTiles(view);
    renderCharts(view.generated_unix_ms);
    renderAppliances(view);
    renderSchedules(view);
    document.getElementById("ops").hidden = false;
    document.getElementById("ops").dataset.version = String(view.fleet_version);
    if (message.classList.contains("error") && message.dataset.source === "poll") say(message, "", "info");
  } catch (err) {
    say(message, `The fleet cannot be read: ${err.message}`, "error");
    message.dataset.source = "poll";
  } finally {
    polling = false;
  }
}

async function main() {
  const user = await renderChrome();
  await currentUser();
  if (!hasRole(user, "operator")) {
    message.replaceChildren(user ? "This page needs an operator account. " : "Log in with an operator account. ",
      el("a", { href: loginUrl() }, "Log in"));
    message.className = "message info";
    return;
  }
  await poll();
  setInterval(poll, POLL_MS);
}

main();
