// Shared by every page: DOM building without innerHTML, API calls, the header, formatting.

/** Build an element: el("a", {href: "/x", class: "y"}, "text", childNode). Strings become text. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** fetch + JSON. Throws ApiError with the service's error message for non-2xx answers. */
export async function api(path, { method = "GET", body, signal, headers = {} } = {}) {
  const init = { method, signal, headers: { accept: "application/json", ...headers }, credentials: "same-origin" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "The server cannot be reached. Check your connection and try again.");
  }
  if (response.status === 204) return null;
  let data = null;
  const text = await response.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) {
    const message = data && data.error && data.error.message ? data.error.message : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  return data;
}

let sessionPromise = null;
/** The logged-in user ({id, username, role}) or null. Asked once per page. */
export function currentUser() {
  if (!sessionPromise) {
    sessionPromise = api("/api/session").then((d) => d.user).catch(() => null);
  }
  return sessionPromise;
}

export function hasRole(user, ...roles) {
  return !!user && (roles.includes(user.role) || user.role === "operator");
}

export function loginUrl() {
  const next = location.pathname + location.search;
  return `/login?next=${encodeURIComponent(next)}`;
}

/** Fill the page header: brand, navigation by role, search box, account area. */
export async function renderChrome() {
  const header = document.getElementById("site-header");
  const user = await currentUser();
  const here = location.pathname;
  const links = [["/", "Home"], ["/search", "Search"]];
  if (hasRole(user, "creator")) links.push(["/upload", "Upload"]);
  if (hasRole(user, "operator")) links.push(["/ops", "Operations"]);
  const nav = el("nav", { class: "site-nav", "aria-label": "Main" },
    el("ul", {}, links.map(([href, text]) =>
      el("li", {}, el("a", { href, "aria-current": here === href ? "page" : null }, text)))));
  const search = here === "/search" ? null : el("form", { class: "header-search", role: "search", action: "/search", method: "get" },
    el("label", { for: "header-q", class: "visually-hidden" }, "Search titles"),
    el("input", { id: "header-q", type: "search", name: "q", placeholder: "Search titles", autocomplete: "off" }));
  const account = el("div", { class: "user-area" });
  if (user) {
    account.append(
      el("span", { class: "who", "data-testid": "who" }, `${user.username} (${user.role})`),
      el("button", { type: "button", class: "secondary", id: "logout", onclick: logout }, "Log out"));
  } else {
    account.append(
      el("a", { class: "button secondary", href: loginUrl() }, "Log in"),
      el("a", { class: "button", href: "/signup" }, "Sign up"));
  }
  header.replaceChildren(el("div", { class: "bar" },
    el("a", { class: "brand", href: "/" }, "stream", el("span", {}, "fleet")), nav, search, account));
  return user;
}

async function logout() {
  try { await api("/api/origin/v1/sessions", { method: "DELETE" }); } catch { /* already logged out */ }
  location.assign("/");
}

/** Show a message in a live region: kind is "error", "ok" or "info"; "" text clears it. */
export function say(region, text, kind = "info") {
  region.className = `message ${kind}`;
  region.textContent = text;
}

export function fmtBytes(n) {
  if (!Number.isFinite(n)) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (Math.abs(n) >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

export function fmtDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) return "–";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h}:${String(m).padStart(2, "0")}:${String(r).padStart(2, "0")}` : `${m}:${String(r).padStart(2, "0")}`;
}

export function fmtPercent(x) {
  return Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : "–";
}

export function posterUrl(titleId) {
  return `/api/posters/${encodeURIComponent(titleId)}.jpg`;
}

/** A title card (poster, name, duration) linking to the title page. */
export function titleCard(t) {
  const img = el("img", { class: "poster", src: posterUrl(t.id), alt: "", loading: "lazy", width: 320, height: 180 });
  return el("li", { class: "card" },
    el("a", { href: `/titles/${encodeURIComponent(t.id)}`, "data-title": t.id },
      img,
      el("span", { class: "card-body" },
        el("span", { class: "card-name" }, t.name || t.id),
        el("span", { class: "card-meta" }, fmtDuration(t.duration_s)))));
}

export function titleIdFromPath(prefix) {
  const rest = location.pathname.slice(prefix.length);
  return decodeURIComponent(rest.split("/")[0] || "");
}
