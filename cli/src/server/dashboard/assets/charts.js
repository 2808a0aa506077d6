// @ts-check
// Small SVG drawings for the dashboard: line charts over time and usage
// bars. No library: the page must work with no network beyond the cluster.

const SVG = "http://www.w3.org/2000/svg";
export const COLORS = ["#3d5afe", "#12a150", "#d98a00", "#d93025", "#8e44ad", "#00838f", "#6d4c41"];

/**
 * @param {string} tag
 * @param {Record<string, string | number>} attrs
 * @returns {SVGElement}
 */
function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/**
 * A line chart of named series sampled at times `at` (ms since the epoch).
 * Null points are gaps. Returns the chart with its legend.
 * @param {number[]} at
 * @param {Record<string, (number | null)[]>} series
 * @param {{ format?: (v: number) => string, label?: string }} [options]
 * @returns {HTMLElement}
 */
export function lineChart(at, series, options = {}) {
  const format = options.format || ((v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)));
  // Drawn at the page's width, so text keeps its shape.
  const width = Math.max(320, (document.getElementById("page")?.clientWidth || 840) - 66);
  const height = 180, left = 56, right = 8, top = 8, bottom = 22;
  const names = Object.keys(series);
  const wrap = document.createElement("div");
  wrap.className = "chart-wrap";
  if (options.label) wrap.setAttribute("aria-label", options.label);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart" });
  let max = 0;
  for (const name of names) for (const v of series[name]) if (v != null && v > max) max = v;
  if (max === 0) max = 1;
  const t0 = at.length ? at[0] : 0;
  const t1 = at.length > 1 ? at[at.length - 1] : t0 + 1;
  const x = (/** @type {number} */ t) => left + ((t - t0) / Math.max(1, t1 - t0)) * (width - left - right);
  const y = (/** @type {number} */ v) => top + (1 - v / max) * (height - top - bottom);
  for (const frac of [0, 0.5, 1]) {
    const v = max * frac;
    chart.append(svg("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), class: "grid" }));
    const label = svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" });
    label.textContent = format(v);
    chart.append(label);
  }
  if (at.length) {
    const span = svg("text", { x: left, y: height - 6 });
    span.textContent = `${Math.round((t1 - t0) / 1000)} s shown, newest on the right`;
    chart.append(span);
  }
  names.forEach((name, i) => {
    const values = series[name];
    let d = "";
    let pen = false;
    values.forEach((v, j) => {
      if (v == null || at[j] == null) { pen = false; return; }
      d += `${pen ? "L" : "M"}${x(at[j]).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    if (d) {
      chart.append(svg("path", {
        d, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 2,
        "vector-effect": "non-scaling-stroke", "data-series": name,
      }));
    }
  });
  wrap.append(chart);
  const legend = document.createElement("div");
  legend.className = "legend";
  names.forEach((name, i) => {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = COLORS[i % COLORS.length];
    const last = series[name].length ? series[name][series[name].length - 1] : null;
    item.append(swatch, `${name}${last != null ? ` (${format(last)})` : ""}`);
    legend.append(item);
  });
  wrap.append(legend);
  return wrap;
}

/**
 * A usage bar: `used` of `total`, labelled by `format`.
 * @param {number} used
 * @param {number} total
 * @param {(v: number) => string} format
 * @returns {HTMLElement}
 */
export function bar(used, total, format) {
  const cell = document.createElement("span");
  if (!total) {
    cell.className = "muted";
    cell.textContent = "none";
    return cell;
  }
  const frac = Math.max(0, Math.min(1, used / total));
  const outer = document.createElement("span");
  outer.className = frac > 0.85 ? "bar hot" : "bar";
  outer.title = `${format(used)} of ${format(total)}`;
  const inner = document.createElement("span");
  inner.style.width = `${(frac * 100).toFixed(1)}%`;
  outer.append(inner);
  const label = document.createElement("span");
  label.className = "bar-label";
  label.textContent = `${format(used)} / ${format(total)}`;
  cell.append(outer, label);
  return cell;
}
