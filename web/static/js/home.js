// Home: popular and new titles, each with a poster frame taken from the video.
import { api, el, renderChrome, say, titleCard } from "./common.js";

function ready(titles) {
  return (titles || []).filter((t) => (t.status || "ready") === "ready");
}

async function fill(listId, sort) {
  const list = document.getElementById(listId);
  const body = await api(`/api/origin/v1/titles?sort=${sort}`);
  let titles = ready(body.titles);
  // Until every origin sorts by itself, order here too (a no-op where it already did).
  if (sort === "new") titles = [...titles].sort((a, b) => (b.created || 0) - (a.created || 0));
  if (sort === "popular" && titles.some((t) => "plays" in t)) titles = [...titles].sort((a, b) => (b.plays || 0) - (a.plays || 0));
  list.replaceChildren(...(titles.length ? titles.slice(0, 24).map(titleCard)
    : [el("li", { class: "empty" }, "Nothing here yet.")]));
  list.setAttribute("aria-busy", "false");
}

async function main() {
  renderChrome();
  const message = document.getElementById("home-message");
  try {
    await Promise.all([fill("popular", "popular"), fill("new", "new")]);
  } catch (err) {
    say(message, `Titles cannot be loaded: ${err.message}`, "error");
  }
}

main();
