// genaiops dashboard: plain SVG charts, built as strings (one innerHTML per page, no per-element reflow).
//
// Geometry is honest: every chart has a viewBox of W x H user units, x grows with time and y grows
// DOWNWARD (a larger value has a smaller y), so a test can compare coordinates inside one chart: a canary
// point above a `max` threshold has a smaller y than the threshold line's y1. Series are [t, value|null]
// pairs in time order; a null is a gap (the line breaks there), never a zero.
//
// Hooks (see app.js for the page-level list):
//   <svg data-testid="..." data-x0 data-x1 data-y0 data-y1>  the domains drawn (time in unix seconds)
//   <polyline data-series="canary|stable|weight|serving|tokens|tuning|total|requests" points="x,y ...">
//       one polyline per unbroken run of a series (a gap starts a new one); an isolated point is also a
//       <circle class="dot" data-series=...>
//   <line data-testid="threshold" data-value="0.05" data-kind="max" x1 y1 x2 y2> a dashed horizontal line,
//       with <text data-testid="threshold-label">max 0.05</text>; a threshold relative to the stable
//       (maxIncrease/maxDecrease) is a dashed <polyline data-testid="threshold" data-kind="maxIncrease">
//       following stable x (1 +/- value)
//   <circle data-verdict="passed|failed|inconclusive|error" data-at data-value data-step cx cy> a measurement
//       (a null value sits on the x axis), with <title> and aria-label giving the verdict in words
//   <g data-event="started|step|paused|resumed|promoted|aborted|retry" data-at> a vertical event marker
//       with its <text> (aborted: "rolled back: <reason>"), full text in <title> and aria-label
//   <g data-variant="B" data-low data-high data-verdict="better|worse|unsure"> a confidence-interval bar
//   <rect data-series="serving" data-at data-value> a stacked daily cost bar

export const W = 720;
export const H = 260;
export const WIDE = 1200; // full-width charts (timeline, weight): text stays about the size of the narrow ones'
const M = { l: 58, r: 18, t: 30, b: 30 };

const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESC[c]);
}

const r1 = (n) => Math.round(n * 10) / 10;

// --- numbers and times --------------------------------------------------------------------------------

export function fmtNum(v, digits = 3) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  return String(Number(v.toPrecision(digits)));
}

export function fmtValue(v, unit) {
  if (v === null || v === undefined) return "no data";
  if (unit === "$") return "$" + (Math.abs(v) < 0.01 && v !== 0 ? v.toPrecision(2) : v.toFixed(2));
  if (unit === "ms") return fmtNum(v) + " ms";
  if (unit) return fmtNum(v) + " " + unit;
  return fmtNum(v);
}

const pad2 = (n) => String(n).padStart(2, "0");
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export function fmtTime(t, withDate = true) {
  if (t === null || t === undefined) return "–";
  const d = new Date(t * 1000);
  const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  return withDate ? `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${hm}` : hm;
}

export function fmtDay(t) {
  const d = new Date(t * 1000);
  return `${MONTHS[d.getMonth()]} ${d.getDate()}`;
}

export function fmtDuration(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return "–";
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? ` ${s % 60}s` : ""}`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)}m` : ""}`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600) ? ` ${Math.floor((s % 86400) / 3600)}h` : ""}`;
}

// Round numbers for a value axis: about `n` ticks covering [lo, hi].
export function niceTicks(lo, hi, n = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 2592000];

// Time ticks at round local times, about `n` of them, with a label format that fits the span.
export function timeTicks(t0, t1, n = 6) {
  const span = t1 - t0;
  if (!(span > 0)) return [{ t: t0, label: fmtTime(t0, false) }];
  const step = TIME_STEPS.find((s) => span / s <= n) ?? TIME_STEPS[TIME_STEPS.length - 1];
  const offset = step >= 86400 ? new Date(t0 * 1000).getTimezoneOffset() * 60 : 0; // days at local midnight
  const first = Math.ceil((t0 - offset) / step) * step + offset;
  const ticks = [];
  for (let t = first; t <= t1 + 1e-6; t += step) {
    const d = new Date(t * 1000);
    let label;
    if (step >= 86400) label = fmtDay(t);
    else if (step < 60) label = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
    else label = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
    ticks.push({ t, label });
  }
  return ticks;
}

// --- scales -------------------------------------------------------------------------------------------

function scales(x0, x1, y0, y1, width = W, height = H, margin = M) {
  if (!(x1 > x0)) { x0 -= 30; x1 += 30; }
  if (!(y1 > y0)) { const d = Math.abs(y0) * 0.1 || 1; y0 -= d; y1 += d; }
  const pw = width - margin.l - margin.r;
  const ph = height - margin.t - margin.b;
  return {
    x0, x1, y0, y1, width, height, margin,
    x: (t) => r1(margin.l + ((t - x0) / (x1 - x0)) * pw),
    y: (v) => r1(margin.t + ph - ((v - y0) / (y1 - y0)) * ph), // y grows downward
    left: margin.l, right: width - margin.r, top: margin.t, bottom: height - margin.b,
  };
}

function valueDomain(values, { zero = true, pad = 0.08, yMin = null, yMax = null } = {}) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v === null || v === undefined || !Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) { lo = 0; hi = 1; }
  if (zero && lo > 0) lo = 0;
  if (zero && hi < 0) hi = 0;
  if (hi === lo && lo === 0) hi = 1; // all zero: a unit axis, the line on its floor
  const span = hi - lo || Math.abs(hi) || 1;
  if (yMin === null) lo = lo === 0 ? 0 : lo - span * pad;
  if (yMax === null) hi += span * pad;
  if (yMin !== null) lo = yMin;
  if (yMax !== null) hi = yMax;
  const ticks = niceTicks(lo, hi, 5);
  return { lo: Math.min(lo, ticks[0]), hi: Math.max(hi, ticks[ticks.length - 1]), ticks };
}

// The time range of every list given (nulls skipped), padded by `pad` of its span on each side so marks at
// either end stay inside the plot.
export function timeDomain(...lists) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const list of lists) {
    for (const t of list) {
      if (t === null || t === undefined || !Number.isFinite(t)) continue;
      if (t < lo) lo = t;
      if (t > hi) hi = t;
    }
  }
  if (lo === Infinity) { const now = Date.now() / 1000; return [now - 3600, now]; }
  if (hi === lo) return [lo - 60, hi + 60];
  const pad = (hi - lo) * 0.02;
  return [lo - pad, hi + pad];
}

// --- pieces -------------------------------------------------------------------------------------------

function axes(sc, yTicks, unit, { timeFmt = null } = {}) {
  const parts = [];
  for (const v of yTicks) {
    const y = sc.y(v);
    parts.push(`<line class="grid" x1="${sc.left}" x2="${sc.right}" y1="${y}" y2="${y}"/>`);
    parts.push(`<text x="${sc.left - 6}" y="${y + 3.5}" text-anchor="end">${esc(fmtTick(v, unit))}</text>`);
  }
  const ticks = timeFmt ? timeFmt(sc.x0, sc.x1) : timeTicks(sc.x0, sc.x1);
  for (const { t, label } of ticks) {
    const x = sc.x(t);
    parts.push(`<line class="axis" x1="${x}" x2="${x}" y1="${sc.bottom}" y2="${sc.bottom + 4}"/>`);
    parts.push(`<text class="tick" x="${x}" y="${sc.bottom + 16}" text-anchor="middle" data-t="${t}">${esc(label)}</text>`);
  }
  parts.push(`<line class="axis" x1="${sc.left}" x2="${sc.right}" y1="${sc.bottom}" y2="${sc.bottom}"/>`);
  parts.push(`<line class="axis" x1="${sc.left}" x2="${sc.left}" y1="${sc.top}" y2="${sc.bottom}"/>`);
  return parts.join("");
}

function fmtTick(v, unit) {
  if (unit === "%") return `${fmtNum(v)}%`;
  if (unit === "$") return `$${fmtNum(v)}`;
  if (unit === "ms") return `${fmtNum(v)}`;
  return fmtNum(v);
}

// Polylines for one series, broken at nulls; isolated points also get a dot so they stay visible.
function seriesLines(sc, key, points, cls = key) {
  const parts = [];
  let run = [];
  const flush = () => {
    if (!run.length) return;
    parts.push(`<polyline class="series ${esc(cls)}" data-series="${esc(key)}" points="${run.map(([x, y]) => `${x},${y}`).join(" ")}"/>`);
    if (run.length === 1) parts.push(`<circle class="dot ${esc(cls)}" data-series="${esc(key)}" cx="${run[0][0]}" cy="${run[0][1]}" r="2.5"/>`);
    run = [];
  };
  for (const [t, v] of points) {
    if (v === null || v === undefined || !Number.isFinite(v)) { flush(); continue; }
    run.push([sc.x(t), sc.y(v)]);
  }
  flush();
  return parts.join("");
}

function stepPoints(points, end) {
  // A step function: each value holds until the next point; the last one holds until `end`.
  const out = [];
  for (let i = 0; i < points.length; i++) {
    const [t, v] = points[i];
    const next = i + 1 < points.length ? points[i + 1][0] : end;
    out.push([t, v]);
    if (v !== null && next !== undefined && next > t) out.push([next, v]);
    if (v === null) out.push([t, null]);
  }
  return out;
}

export const EVENT_TEXT = {
  started: () => "started",
  step: (e) => `step ${e.step + 1}${e.weight !== null && e.weight !== undefined ? ` · ${e.weight}%` : ""}`,
  paused: () => "paused",
  resumed: () => "resumed",
  promoted: () => "promoted",
  aborted: (e) => `rolled back: ${e.detail || "aborted"}`,
  retry: () => "retry",
  measured: () => "measured",
};

export function eventText(e) {
  const f = EVENT_TEXT[e.kind];
  return f ? f(e) : e.kind;
}

function clip(text, max) {
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}

// Vertical markers for rollout events (measurements are drawn as markers instead).
function eventMarks(sc, events, { labels = "important" } = {}) {
  const parts = [];
  let row = 0;
  for (const e of events) {
    if (e.kind === "measured") continue;
    const x = sc.x(e.at);
    const full = eventText(e) + (e.detail && e.kind !== "aborted" ? ` — ${e.detail}` : "");
    const important = e.kind === "aborted" || e.kind === "promoted" || e.kind === "paused";
    const showLabel = labels === "all" || important;
    const anchorEnd = x > sc.left + (sc.right - sc.left) * 0.55;
    const ty = sc.top - 8 - (showLabel && !important ? (row++ % 2) * 12 : 0);
    const room = anchorEnd ? x - sc.margin.l / 2 : sc.width - x;
    const text = showLabel ? clip(eventText(e), Math.max(12, Math.floor(room / 5.6))) : "";
    parts.push(
      `<g class="event ${esc(e.kind)}" data-event="${esc(e.kind)}" data-at="${e.at}" data-step="${e.step}" role="img" aria-label="${esc(`${fmtTime(e.at)} ${full}`)}">` +
        `<title>${esc(`${fmtTime(e.at)} ${full}`)}</title>` +
        `<line x1="${x}" x2="${x}" y1="${sc.top - (showLabel ? 4 : 0)}" y2="${sc.bottom}"/>` +
        (showLabel
          ? `<text x="${anchorEnd ? x - 3 : x + 3}" y="${ty}" text-anchor="${anchorEnd ? "end" : "start"}">${esc(text)}</text>`
          : `<circle class="event-dot" cx="${x}" cy="${sc.top}" r="2"/>`) +
        `</g>`,
    );
  }
  return parts.join("");
}

function svgOpen(testid, sc, label, extra = "") {
  return (
    `<svg class="chart${sc.width > W ? " wide" : ""}" data-testid="${esc(testid)}" viewBox="0 0 ${sc.width} ${sc.height}" role="img" aria-label="${esc(label)}" ` +
    `data-x0="${sc.x0}" data-x1="${sc.x1}" data-y0="${sc.y0}" data-y1="${sc.y1}" preserveAspectRatio="xMidYMid meet"${extra}>` +
    `<title>${esc(label)}</title>`
  );
}

function noData(sc, text = "no data yet") {
  return `<text class="nodata" x="${(sc.left + sc.right) / 2}" y="${(sc.top + sc.bottom) / 2}" text-anchor="middle">${esc(text)}</text>`;
}

const hasValue = (points) => points.some(([, v]) => v !== null && v !== undefined);

// --- charts -------------------------------------------------------------------------------------------

// One analysis metric: canary and stable against the threshold, measurements coloured by verdict, events.
export function metricChart(metric, xDomain, events = []) {
  const { threshold, unit } = metric;
  const relative = threshold.kind === "maxIncrease" || threshold.kind === "maxDecrease";
  const factor = threshold.kind === "maxIncrease" ? 1 + threshold.value : 1 - threshold.value;
  const bound = relative ? metric.stable.map(([t, v]) => [t, v === null ? null : v * factor]) : [];
  const absolute = threshold.kind === "max" || threshold.kind === "maxMs" || threshold.kind === "min";
  const values = [
    ...metric.canary.map((p) => p[1]),
    ...metric.stable.map((p) => p[1]),
    ...metric.measurements.map((m) => m.value),
    ...bound.map((p) => p[1]),
  ];
  if (absolute) values.push(threshold.value);
  const dom = valueDomain(values);
  const sc = scales(xDomain[0], xDomain[1], dom.lo, dom.hi);
  const parts = [svgOpen(`chart-${metric.name}`, sc, `${metric.name}: canary and stable against ${threshold.text}`)];
  parts.push(axes(sc, dom.ticks, unit));
  if (unit) parts.push(`<text x="${sc.left - 6}" y="${sc.top - 14}" text-anchor="end">${esc(unit)}</text>`);
  parts.push(eventMarks(sc, events));
  if (absolute) {
    const y = sc.y(threshold.value);
    parts.push(
      `<line class="threshold" data-testid="threshold" data-kind="${esc(threshold.kind)}" data-value="${threshold.value}" ` +
        `x1="${sc.left}" x2="${sc.right}" y1="${y}" y2="${y}" stroke-dasharray="6 4"><title>${esc(`threshold: ${threshold.text}`)}</title></line>`,
      `<text class="threshold-label" data-testid="threshold-label" x="${sc.right - 2}" y="${y - 4}" text-anchor="end">${esc(threshold.text)}</text>`,
    );
  } else if (relative) {
    let first = true;
    for (const seg of splitRuns(bound)) {
      parts.push(
        `<polyline class="threshold" data-testid="threshold" data-kind="${esc(threshold.kind)}" data-value="${threshold.value}" ` +
          `stroke-dasharray="6 4" points="${seg.map(([t, v]) => `${sc.x(t)},${sc.y(v)}`).join(" ")}"><title>${esc(`threshold: ${threshold.text} (stable × ${fmtNum(factor)})`)}</title></polyline>`,
      );
      if (first) {
        const [t, v] = seg[seg.length - 1];
        parts.push(`<text class="threshold-label" data-testid="threshold-label" x="${Math.min(sc.x(t), sc.right) - 2}" y="${sc.y(v) - 4}" text-anchor="end">${esc(threshold.text)}</text>`);
        first = false;
      }
    }
  }
  parts.push(seriesLines(sc, "stable", metric.stable));
  parts.push(seriesLines(sc, "canary", metric.canary));
  if (!hasValue(metric.canary) && !hasValue(metric.stable) && !metric.measurements.length) parts.push(noData(sc));
  for (const m of metric.measurements) {
    const cx = sc.x(m.at);
    const cy = m.value === null ? sc.bottom : sc.y(m.value);
    const words = `${m.verdict} at step ${m.step + 1}, ${fmtTime(m.at)}: ${fmtValue(m.value, unit)}${m.detail ? ` — ${m.detail}` : ""}`;
    parts.push(
      `<circle class="mark ${esc(m.verdict)}" data-verdict="${esc(m.verdict)}" data-at="${m.at}" data-value="${m.value ?? ""}" data-step="${m.step}" ` +
        `cx="${cx}" cy="${cy}" r="${m.verdict === "failed" ? 5.5 : 4.5}" role="img" aria-label="${esc(words)}"><title>${esc(words)}</title></circle>`,
    );
  }
  parts.push("</svg>");
  return parts.join("");
}

function splitRuns(points) {
  const runs = [];
  let run = [];
  for (const p of points) {
    if (p[1] === null || p[1] === undefined || !Number.isFinite(p[1])) {
      if (run.length) runs.push(run);
      run = [];
    } else run.push(p);
  }
  if (run.length) runs.push(run);
  return runs;
}

// The canary's weight over time as a step chart (0-100 %), with the events.
export function weightChart(weights, xDomain, events = []) {
  const sc = scales(xDomain[0], xDomain[1], 0, 100, WIDE, 220);
  const parts = [svgOpen("weights", sc, "canary weight over time (percent of traffic)")];
  parts.push(axes(sc, [0, 25, 50, 75, 100], "%"));
  parts.push(eventMarks(sc, events));
  const stepped = stepPoints(weights, xDomain[1]);
  for (const run of splitRuns(stepped)) {
    const pts = run.map(([t, v]) => `${sc.x(t)},${sc.y(v)}`);
    const first = run[0];
    const last = run[run.length - 1];
    parts.push(`<polygon class="area weight" points="${sc.x(first[0])},${sc.bottom} ${pts.join(" ")} ${sc.x(last[0])},${sc.bottom}"/>`);
  }
  parts.push(seriesLines(sc, "weight", stepped));
  if (!hasValue(weights)) parts.push(noData(sc, "no weight recorded yet"));
  for (const [t, v] of weights) {
    if (v === null) continue;
    parts.push(`<circle class="dot weight" data-at="${t}" data-value="${v}" cx="${sc.x(t)}" cy="${sc.y(v)}" r="2"><title>${esc(`${fmtTime(t)}: ${v}%`)}</title></circle>`);
  }
  parts.push("</svg>");
  return parts.join("");
}

// The rollout's events on one time axis (a timeline strip), every event labelled on hover.
export function eventStrip(events, xDomain) {
  const sc = scales(xDomain[0], xDomain[1], 0, 1, WIDE, 96, { l: 58, r: 18, t: 34, b: 30 });
  const parts = [svgOpen("timeline-chart", sc, "rollout events over time")];
  parts.push(axes(sc, [], ""));
  parts.push(eventMarks(sc, events, { labels: "all" }));
  for (const e of events) {
    if (e.kind === "measured") continue;
    parts.push(`<circle class="event-dot" cx="${sc.x(e.at)}" cy="${sc.bottom}" r="3"/>`);
  }
  parts.push("</svg>");
  return parts.join("");
}

// Several daily series as lines (cost by kind, requests), sharing one axis.
export function linesChart(testid, seriesList, { unit = "", label = "", height = 220, xDomain = null } = {}) {
  const all = seriesList.flatMap((s) => s.points);
  const xd = xDomain ?? timeDomain(all.map((p) => p[0]));
  const dom = valueDomain(all.map((p) => p[1]));
  const sc = scales(xd[0], xd[1], dom.lo, dom.hi, W, height);
  const parts = [svgOpen(testid, sc, label)];
  parts.push(axes(sc, dom.ticks, unit));
  for (const s of seriesList) {
    parts.push(seriesLines(sc, s.key, s.points));
    for (const [t, v] of s.points) {
      if (v === null) continue;
      parts.push(`<circle class="dot ${esc(s.key)}" data-series="${esc(s.key)}" data-at="${t}" data-value="${v}" cx="${sc.x(t)}" cy="${sc.y(v)}" r="2"><title>${esc(`${s.label ?? s.key} ${fmtDay(t)}: ${fmtValue(v, unit)}`)}</title></circle>`);
    }
  }
  if (!all.some(([, v]) => v !== null)) parts.push(noData(sc, "nothing recorded in this period"));
  parts.push("</svg>");
  return parts.join("");
}

// Daily costs stacked per day (serving, tokens, tuning); a day with no data for a kind has no bar for it.
export function stackedDays(testid, stacks, { unit = "$", label = "", height = 240 } = {}) {
  const byDay = new Map();
  for (const s of stacks) {
    for (const [t, v] of s.points) {
      if (!byDay.has(t)) byDay.set(t, []);
      byDay.get(t).push({ key: s.key, label: s.label ?? s.key, v });
    }
  }
  const days = [...byDay.keys()].sort((a, b) => a - b);
  const totals = days.map((t) => byDay.get(t).reduce((a, { v }) => a + (v ?? 0), 0));
  const dom = valueDomain(totals);
  const xd = days.length ? [days[0] - 43200, days[days.length - 1] + 43200] : timeDomain([]);
  const sc = scales(xd[0], xd[1], dom.lo, dom.hi, W, height);
  const parts = [svgOpen(testid, sc, label)];
  const dayTicks = (a, b) => timeTicks(a, b, 8).filter(({ t }) => t >= a && t <= b);
  parts.push(axes(sc, dom.ticks, unit, { timeFmt: dayTicks }));
  const slot = days.length > 1 ? ((sc.right - sc.left) / days.length) : (sc.right - sc.left) / 3;
  const bw = r1(Math.max(1, Math.min(28, slot * 0.7)));
  for (let i = 0; i < days.length; i++) {
    const t = days[i];
    let acc = 0;
    for (const { key, label: name, v } of byDay.get(t)) {
      if (v === null || v === undefined || v === 0) continue;
      const yTop = sc.y(acc + v);
      const yBottom = sc.y(acc);
      acc += v;
      const words = `${fmtDay(t)} ${name}: ${fmtValue(v, unit)}`;
      parts.push(
        `<rect class="bar ${esc(key)}" data-series="${esc(key)}" data-at="${t}" data-value="${v}" x="${r1(sc.x(t) - bw / 2)}" y="${yTop}" ` +
          `width="${bw}" height="${r1(Math.max(0.5, yBottom - yTop))}" role="img" aria-label="${esc(words)}"><title>${esc(words)}</title></rect>`,
      );
    }
  }
  if (!days.length || totals.every((v) => v === 0)) parts.push(noData(sc, "no cost recorded in this period"));
  parts.push("</svg>");
  return parts.join("");
}

// Confidence intervals of each variant's difference to the control, on one axis with zero marked.
export function ciChart(metric) {
  const variants = metric.variants;
  const control = variants.find((v) => v.low === null && v.high === null) ?? null;
  const rowH = 30;
  const height = 40 + rowH * Math.max(1, variants.length);
  const ends = [0];
  for (const v of variants) {
    if (v.low !== null) ends.push(v.low);
    if (v.high !== null) ends.push(v.high);
  }
  const dom = valueDomain(ends, { zero: true, pad: 0.1 });
  const lo = Math.min(dom.lo, -Math.abs(dom.hi) * 0.05);
  const hi = Math.max(dom.hi, Math.abs(dom.lo) * 0.05);
  const margin = { l: 140, r: 24, t: 10, b: 26 };
  const pw = WIDE - margin.l - margin.r;
  const x = (v) => r1(margin.l + ((v - lo) / (hi - lo)) * pw);
  const bottom = height - margin.b;
  const label = `${metric.name}: confidence interval of each variant's difference to the control`;
  const parts = [
    `<svg class="chart wide" data-testid="ci-${esc(metric.name)}" viewBox="0 0 ${WIDE} ${height}" role="img" aria-label="${esc(label)}" data-x0="${lo}" data-x1="${hi}"><title>${esc(label)}</title>`,
  ];
  for (const v of niceTicks(lo, hi, 6)) {
    parts.push(`<line class="grid" x1="${x(v)}" x2="${x(v)}" y1="${margin.t}" y2="${bottom}"/>`);
    parts.push(`<text x="${x(v)}" y="${bottom + 16}" text-anchor="middle">${esc(fmtTick(v, metric.unit))}</text>`);
  }
  parts.push(`<line class="zero" x1="${x(0)}" x2="${x(0)}" y1="${margin.t}" y2="${bottom}"/>`);
  variants.forEach((v, i) => {
    const y = margin.t + rowH * i + rowH / 2;
    parts.push(`<text x="${margin.l - 8}" y="${y + 4}" text-anchor="end">${esc(clip(v.variant, 22))}</text>`);
    if (v.low === null || v.high === null) {
      const what = v === control ? "control" : "no interval yet";
      parts.push(`<g data-variant="${esc(v.variant)}" data-verdict="${v === control ? "control" : "none"}"><text x="${x(0) + 6}" y="${y + 4}" class="muted">${what}</text></g>`);
      return;
    }
    let verdict = "unsure";
    if (v.high < 0) verdict = metric.better === "lower" ? "better" : "worse";
    else if (v.low > 0) verdict = metric.better === "higher" ? "better" : "worse";
    const diff = control && v.value !== null && control.value !== null ? v.value - control.value : null;
    const words = `${v.variant}: difference to the control ${fmtValue(v.low, metric.unit)} to ${fmtValue(v.high, metric.unit)} (${verdict === "unsure" ? "includes zero" : verdict})`;
    parts.push(
      `<g data-variant="${esc(v.variant)}" data-low="${v.low}" data-high="${v.high}" data-verdict="${verdict}" role="img" aria-label="${esc(words)}"><title>${esc(words)}</title>` +
        `<line class="ci ${verdict}" x1="${x(v.low)}" x2="${Math.max(x(v.high), x(v.low) + 0.5)}" y1="${y}" y2="${y}"/>` +
        (diff !== null ? `<circle class="diffdot" cx="${x(diff)}" cy="${y}" r="3.5"/>` : "") +
        `</g>`,
    );
  });
  parts.push("</svg>");
  return parts.join("");
}
