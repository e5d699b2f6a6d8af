// Title page: poster, facts, renditions and the play button (or processing state).
import { api, el, fmtBytes, fmtDuration, posterUrl, renderChrome, say, titleIdFromPath } from "./common.js";

async function main() {
  renderChrome();
  const id = titleIdFromPath("/titles/");
  const message = document.getElementById("title-message");
  let t;
  try {
    t = await api(`/api/origin/v1/titles/${encodeURIComponent(id)}`);
  } catch (err) {
    say(message, err.status === 404 ? "There is no such title." : `The title cannot be loaded: ${err.message}`, "error");
    return;
  }
  document.title = `${t.name} · streamfleet`;
  document.getElementById("title-name").textContent = t.name;
  document.getElementById("title-description").textContent = t.description || "";
  const tags = document.getElementById("title-tags");
  tags.replaceChildren(...(t.tags || []).map((tag) => el("li", {}, tag)));
  tags.hidden = !(t.tags || []).length;
  const size = Object.values(t.files || {}).reduce((sum, f) => sum + (f.size || 0), 0);
  const renditions = (t.renditions || []).filter((r) => r.height > 0);
  const facts = [
    ["Duration", fmtDuration(t.duration_s)],
    ["Status", el("span", { class: `status-badge ${t.status}` }, t.status)],
    ["Renditions", renditions.map((r) => r.name).join(", ") || "–"],
    ["Size", size ? fmtBytes(size) : "–"],
  ];
  if (t.release_date) facts.push(["Released", t.release_date]);
  if ((t.cast || []).length) facts.push(["Cast", t.cast.join(", ")]);
  document.getElementById("title-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const poster = document.getElementById("title-poster");
  const actions = document.getElementById("title-actions");
  if (t.status === "ready") {
    poster.src = posterUrl(t.id);
    actions.replaceChildren(el("a", { class: "button", href: `/watch/${encodeURIComponent(t.id)}`, id: "play" }, "▶ Play"));
  } else {
    poster.hidden = true;
    actions.replaceChildren(el("a", { class: "button secondary", href: `/upload?title=${encodeURIComponent(t.id)}` },
      "Follow processing"));
  }
  document.getElementById("title").hidden = false;
}

main();
