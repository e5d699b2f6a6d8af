// Search with results as you type: debounced, and a newer query cancels the one in flight.
import { api, el, renderChrome, titleCard } from "./common.js";

const input = document.getElementById("q");
const results = document.getElementById("results");
const count = document.getElementById("search-count");
let inflight = null;
let timer = null;

async function run(query) {
  if (inflight) inflight.abort();
  const url = new URL(location.href);
  if (query) url.searchParams.set("q", query); else url.searchParams.delete("q");
  history.replaceState(null, "", url);
  if (!query.trim()) {
    results.replaceChildren();
    count.textContent = "";
    return;
  }
  inflight = new AbortController();
  results.setAttribute("aria-busy", "true");
  try {
    const body = await api(`/api/search?q=${encodeURIComponent(query)}`, { signal: inflight.signal });
    const titles = body.titles || [];
    results.replaceChildren(...titles.map(titleCard));
    const found = titles.length === 1 ? "1 title found" : `${titles.length} titles found`;
    count.textContent = body.corrected ? `${found} for “${body.corrected}”` : found;
  } catch (err) {
    if (err.name === "AbortError") return;
    results.replaceChildren(el("li", { class: "empty" }, `Search failed: ${err.message}`));
    count.textContent = "";
  } finally {
    results.setAttribute("aria-busy", "false");
  }
}

input.addEventListener("input", () => {
  clearTimeout(timer);
  timer = setTimeout(() => run(input.value), 150);
});
document.getElementById("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  clearTimeout(timer);
  run(input.value);
});

renderChrome();
input.value = new URLSearchParams(location.search).get("q") || "";
input.focus();
if (input.value) run(input.value);
