// A small inline SVG line chart (no library): series of {t, v} over a fixed time window.
const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== null) node.textContent = text;
  return node;
}

/**
 * Draw lines into `container`. `lines` = [{points: [{t, v}], className, label}], times in ms.
 * `yMax` null scales to the data (at least `yFloor`); `format` turns a y value into an axis label.
 */
export function lineChart(container, lines, { windowMs, now, yMax = null, yFloor = 1, format = String, title = "" }) {
  const width = 480, height = 160, left = 74, right = 8, top = 8, bottom = 22;
  const plotW = width - left - right, plotH = height - top - bottom;
  const all = lines.flatMap((l) => l.points.map((p) => p.v)).filter(Number.isFinite);
  // yFloor keeps an idle chart's axis readable (not five labels of "0").
  const max = yMax !== null ? yMax : Math.max(yFloor, ...all) * 1.1;
  const x = (t) => left + ((t - (now - windowMs)) / windowMs) * plotW;
  const y = (v) => top + plotH - (Math.min(v, max) / max) * plotH;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  for (let i = 0; i <= 4; i += 1) {
    const v = (max * i) / 4;
    root.append(svg("line", { class: "grid", x1: left, x2: width - right, y1: y(v), y2: y(v) }));
    root.append(svg("text", { x: left - 6, y: y(v) + 3, "text-anchor": "end" }, format(v)));
  }
  root.append(svg("line", { class: "axis", x1: left, x2: left, y1: top, y2: top + plotH }));
  root.append(svg("line", { class: "axis", x1: left, x2: width - right, y1: top + plotH, y2: top + plotH }));
  const minutes = Math.round(windowMs / 60000);
  root.append(svg("text", { x: left, y: height - 6 }, `−${minutes} min`));
  root.append(svg("text", { x: width - right, y: height - 6, "text-anchor": "end" }, "now"));
  for (const line of lines) {
    const pts = line.points.filter((p) => Number.isFinite(p.v) && p.t >= now - windowMs);
    if (pts.length === 0) continue;
    const d = pts.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
    root.append(svg("path", { class: line.className, d }));
    if (pts.length === 1) root.append(svg("circle", { cx: x(pts[0].t), cy: y(pts[0].v), r: 2.5, class: line.className }));
  }
  container.replaceChildren(root);
}
