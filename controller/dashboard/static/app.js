// genaiops dashboard: the pages, in plain JavaScript (an ES module; no framework, no build step). Read-only:
// every action stays in the CLI and git. The JSON it draws is controller/dashboard/shapes.py.
//
// Routes (location.hash; segments URI-encoded; filters kept in the hash's query with history.replaceState):
//   #/                                   overview: every resource (sync, health, drift, suspended), rollouts
//   #/rollout/<kind>/<name>/<part>       a rollout: steps, events, weight over time, each metric vs threshold
//   #/experiment/<kind>/<name>[/<part>]  an A/B experiment: per-variant metrics and confidence intervals
//   #/prompts                            the prompt store
//   #/prompt/<name>[?a=V1&b=V2]          a prompt: labels, versions, history, the template diff a -> b
//   #/cost[?since=30d&by=endpoint]       cost and usage over time
//   #/audit[?q=&event=&resource=&limit=] the audit log, filtered on the server
//
// Hooks for tests (stable; everything else may change):
//   <body data-page="overview|rollout|experiment|prompts|prompt|cost|audit|notfound" data-ready="true|false"
//         data-version="n">  ready turns false when a page starts loading and true once it is drawn
//   window.__genaiops = {page, renderMs, version, renders, error, parts}  renderMs: performance.now() from the
//         start of the fetch to the page in the DOM and laid out, for the last render; parts splits it into
//         {fetch, html (building and inserting it), layout}
//   header: [data-testid=target] (the target), [data-testid=environment], [data-testid=live] (live/polling),
//           [data-testid=nav] links, [data-testid=updated]
//   [data-testid=error]                      a failed fetch, with the server's message
//   overview: [data-testid=counts] with [data-count=<value>] chips; [data-testid=problems] li;
//           [data-testid=resources] (role=table: CSS-grid rows, see renderResources) > [role=rowgroup] >
//             [role=row][data-address][data-kind][data-sync][data-health][data-drift][data-suspended], cells
//             [role=cell] (a row with a rollout links to it: a[data-testid=rollout-link]);
//           filters [data-testid=filter-q|filter-kind|filter-sync|filter-health] (client side);
//           [data-testid=resources-shown] "N of M"; table[data-testid=rollouts] > tbody >
//             tr[data-identity][data-phase][data-strategy=canary|experiment] (an experiment's row has
//             a[data-testid=experiment-link])
//   rollout: [data-testid=rollout] with data-phase, data-strategy; [data-testid=phase]; [data-testid=reason];
//           a[data-testid=experiment-link] (strategy "experiment" only);
//           [data-testid=readonly-note]; [data-testid=timeline] containing ol[data-testid=steps] >
//             li[data-step][data-state=done|current|pending|failed], svg[data-testid=timeline-chart] with
//             g[data-event], table[data-testid=events] > tr[data-event];
//           figure[data-testid=weights] > svg[data-testid=weights-chart] > polyline[data-series=weight];
//           figure[data-testid="metric-<name>"][data-last-verdict] > svg[data-testid="chart-<name>"] containing
//             polyline[data-series=canary], polyline[data-series=stable],
//             line[data-testid=threshold][data-value][data-kind] (relative thresholds: a polyline),
//             text[data-testid=threshold-label], circle[data-verdict=passed|failed|inconclusive|error],
//             g[data-event=aborted] whose <text> reads "rolled back: <reason>" (full text in <title>/aria-label);
//             table[data-testid="measurements-<name>"] > tr[data-verdict]
//           (all SVGs: y grows downward, so a value above the threshold has a smaller y; see charts.js)
//   experiment: [data-testid=experiment][data-decision]; [data-testid=srm];
//           section[data-testid="exp-metric-<name>"][data-verdict] > table[data-testid="variants-<name>"] >
//             tr[data-variant]; svg[data-testid="ci-<name>"] > g[data-variant][data-low][data-high][data-verdict]
//   prompts: table[data-testid=prompts] > tr[data-prompt]
//   prompt: [data-testid=labels] [data-label]; table[data-testid=versions] > tr[data-version];
//           table[data-testid=history] > tr; select[data-testid=diff-a], select[data-testid=diff-b];
//           [data-testid=diff][data-a][data-b][data-same] > span.ln (.add "+", .del "-", .hunk "@@", .meta, .ctx)
//   cost:   selects [data-testid=cost-since], [data-testid=cost-by]; figure[data-testid=cost-daily] >
//           svg[data-testid=cost-daily-chart] > rect[data-series]; figure[data-testid=requests] >
//           svg[data-testid=requests-chart]; table[data-testid=cost-rows] > tr[data-key] (most expensive first;
//           past 100 groups a [data-testid=cost-more] row links to ?rows=all); [data-testid=unpriced] li
//   audit:  form[data-testid=audit-filters] with [data-testid=audit-q], [data-testid=audit-event],
//           [data-testid=audit-resource], [data-testid=audit-limit]; [data-testid=audit-shown] "N of total";
//           table[data-testid=audit] > tr[data-testid=audit-row][data-event][data-resource][data-status]
//
// Live updates: EventSource("api/events") re-fetches the current page on `changed` (and once more 2.5 s later,
// in case the server's page cache lagged the change); if the stream errors the
// page polls every 5 s (and tries the stream again every 30 s). A refresh whose data did not change touches
// nothing; one that did redraws only the page's data, keeping the filters, open details and scroll position.

import {
  ciChart, esc, eventStrip, eventText, fmtDuration, fmtTime, fmtValue, linesChart, metricChart,
  stackedDays, timeDomain, weightChart,
} from "./charts.js";

const POLL_MS = 5000;
const SSE_RETRY_MS = 30000;
const SETTLE_MS = 2500;

const state = {
  route: null,
  version: null,
  seq: 0,
  loading: false,
  pending: false,
  lastKey: "",
  data: null,
  renders: 0,
  live: "connecting",
  pollTimer: null,
  source: null,
  headerKnown: false,
  settleTimer: null,
};

const $main = () => document.getElementById("main");

// --- small helpers ------------------------------------------------------------------------------------

const enc = encodeURIComponent;

function dec(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function rolloutHref(kind, name, part) {
  return `#/rollout/${enc(kind)}/${enc(name)}/${enc(part)}`;
}

function experimentHref(kind, name, part) {
  return `#/experiment/${enc(kind)}/${enc(name)}${part ? `/${enc(part)}` : ""}`;
}

// ResourceRow.rollout is "kind/name/part": the kind up to the first slash, the part after the last.
function rolloutTarget(link) {
  const first = link.indexOf("/");
  const last = link.lastIndexOf("/");
  if (first < 0 || last <= first) return null;
  return { kind: link.slice(0, first), name: link.slice(first + 1, last), part: link.slice(last + 1) };
}

const TONE = {
  synced: "ok", healthy: "ok", passed: "ok", "no-op": "plain", succeeded: "ok", success: "ok", ok: "ok",
  winner: "ok", promoted: "ok", better: "ok",
  progressing: "info", create: "info", update: "info", rollout: "info", started: "info", running: "info",
  "out-of-sync": "warn", drifted: "warn", paused: "warn", inconclusive: "warn", undecided: "warn", retry: "warn",
  retiring: "warn",
  degraded: "bad", missing: "bad", failed: "bad", error: "bad", delete: "bad", aborted: "bad", loser: "bad",
  worse: "bad", "rolled-back": "bad",
  suspended: "plain", control: "plain",
};

function badge(value, title = "") {
  const v = value ?? "";
  const tone = TONE[v] ?? (/fail|error|abort|denied/.test(v) ? "bad" : "plain");
  const t = title ? ` title="${esc(title)}"` : "";
  return `<span class="badge ${tone}" data-value="${esc(v)}"${t}>${esc(v || "–")}</span>`;
}

function table(testid, head, rowsHtml, { caption = "", cls = "" } = {}) {
  return (
    `<div class="table-wrap"><table data-testid="${esc(testid)}"${cls ? ` class="${cls}"` : ""}>` +
    (caption ? `<caption>${caption}</caption>` : "") +
    `<thead><tr>${head.map((h) => (typeof h === "string" ? `<th scope="col">${esc(h)}</th>` : `<th scope="col" class="${h.cls}">${esc(h.text)}</th>`)).join("")}</tr></thead>` +
    `<tbody>${rowsHtml}</tbody></table></div>`
  );
}

function facts(pairs) {
  return `<dl class="facts">${pairs.map(([k, v, id]) => `<div><dt>${esc(k)}</dt><dd${id ? ` data-testid="${id}"` : ""}>${v}</dd></div>`).join("")}</dl>`;
}

function yes(flag) {
  return flag ? `<span class="badge warn">yes</span>` : `<span class="muted">no</span>`;
}

async function getJSON(url) {
  const res = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
  const text = await res.text();
  if (!res.ok) {
    let message = text;
    try {
      const body = JSON.parse(text);
      message = body.error ?? body.message ?? body.detail ?? text;
    } catch {
      /* not JSON: show the text */
    }
    const err = new Error(`${res.status} ${res.statusText}: ${String(message).slice(0, 500)}`);
    err.status = res.status;
    throw err;
  }
  return JSON.parse(text);
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

// --- routing ------------------------------------------------------------------------------------------

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const at = raw.indexOf("?");
  const path = at < 0 ? raw : raw.slice(0, at);
  const q = new URLSearchParams(at < 0 ? "" : raw.slice(at + 1));
  const s = path.split("/").filter(Boolean).map(dec);
  const qd = Object.fromEntries(q.entries());
  if (s.length === 0) return { page: "overview", q: qd };
  if (s[0] === "rollout" && s.length === 4) return { page: "rollout", kind: s[1], name: s[2], part: s[3], q: qd };
  if (s[0] === "experiment" && (s.length === 3 || s.length === 4)) {
    return { page: "experiment", kind: s[1], name: s[2], part: s[3] ?? "", q: qd };
  }
  if (s[0] === "prompts" && s.length === 1) return { page: "prompts", q: qd };
  if (s[0] === "prompt" && s.length === 2) return { page: "prompt", name: s[1], q: qd };
  if (s[0] === "cost" && s.length === 1) return { page: "cost", q: qd };
  if (s[0] === "audit" && s.length === 1) return { page: "audit", q: qd };
  return { page: "notfound", path: raw, q: qd };
}

// Keep the route's query (filters) in the address without a hashchange (no reload, no redraw).
function setQuery(updates) {
  const route = state.route;
  route.q = { ...route.q, ...updates };
  for (const k of Object.keys(route.q)) if (route.q[k] === "" || route.q[k] === null) delete route.q[k];
  const raw = location.hash.replace(/^#/, "") || "/";
  const path = raw.split("?")[0];
  history.replaceState(null, "", `#${path}${query(route.q)}`);
}

// --- pages --------------------------------------------------------------------------------------------
// Each page: title(route), shell(route) drawn once per route (controls live here, so a redraw of the data
// keeps their values and focus), load(route) -> data, body(data, route) -> HTML of [data-testid=page-data],
// and optionally after(data, route) to update controls.

const PAGES = {};

// Overview ---------------------------------------------------------------------------------------------

const SYNC_VALUES = ["synced", "out-of-sync", "drifted", "suspended"];
const HEALTH_VALUES = ["healthy", "progressing", "paused", "degraded", "missing", "retiring"];

PAGES.overview = {
  title: () => "Overview",
  shell: (route) =>
    `<h1>Overview</h1><div data-testid="page-data" id="page-data"></div>` +
    `<h2 id="resources-h">Resources</h2>` +
    `<form class="controls" data-testid="overview-filters" data-form="overview" role="search" aria-label="Filter resources">` +
    `<label>Search<input type="search" name="q" data-testid="filter-q" placeholder="name, address, reason" value="${esc(route.q.q ?? "")}"></label>` +
    `<label>Kind<select name="kind" data-testid="filter-kind"><option value="">all</option></select></label>` +
    `<label>Sync<select name="sync" data-testid="filter-sync"><option value="">all</option>${SYNC_VALUES.map((v) => `<option${route.q.sync === v ? " selected" : ""}>${v}</option>`).join("")}</select></label>` +
    `<label>Health<select name="health" data-testid="filter-health"><option value="">all</option>${HEALTH_VALUES.map((v) => `<option${route.q.health === v ? " selected" : ""}>${v}</option>`).join("")}</select></label>` +
    `</form><div id="resources-region" data-region="resources"></div>`,
  load: () => getJSON("api/overview"),
  body: (d) => {
    setHeader(d);
    const counts = Object.entries(d.counts ?? {});
    const parts = [];
    parts.push(
      `<ul class="chips" data-testid="counts" aria-label="Resources by sync and health">` +
        (counts.length ? counts.map(([k, n]) => `<li class="chip" data-count="${esc(k)}">${badge(k)} <b>${n}</b></li>`).join("") : `<li class="muted">no resources</li>`) +
        `</ul>`,
    );
    if (d.problems?.length) {
      parts.push(`<div class="warning"><strong>Problems in the plan</strong><ul class="problems" data-testid="problems">${d.problems.map((p) => `<li>${esc(p)}</li>`).join("")}</ul></div>`);
    }
    parts.push(`<h2>Rollouts</h2>`);
    if (d.rollouts?.length) {
      const rows = d.rollouts
        .map(
          (r) =>
            `<tr data-identity="${esc(r.identity)}" data-phase="${esc(r.phase)}" data-strategy="${esc(r.strategy)}"><td><a href="${rolloutHref(r.kind, r.name, r.part)}">${esc(r.identity)}</a>` +
            (r.strategy === "experiment" ? ` <a data-testid="experiment-link" href="${experimentHref(r.kind, r.name, r.part)}">experiment report</a>` : "") +
            `</td>` +
            `<td>${esc(r.kind)}</td><td>${badge(r.phase)}</td><td class="num">${Math.min(r.step + 1, r.steps)} / ${r.steps}</td>` +
            `<td class="num">${r.weight}%</td><td class="reason">${esc(r.reason)}</td></tr>`,
        )
        .join("");
      parts.push(table("rollouts", ["Rollout", "Kind", "Phase", { text: "Step", cls: "num" }, { text: "Canary weight", cls: "num" }, "Reason"], rows));
    } else {
      parts.push(`<p class="muted" data-testid="no-rollouts">No rollout in progress or recorded.</p>`);
    }
    return parts.join("");
  },
  after: (d, route) => {
    const kinds = [...new Set(d.resources.map((r) => r.kind))].sort();
    fillSelect(document.querySelector("[data-testid=filter-kind]"), kinds, route.q.kind ?? "");
    renderResources(d, route);
  },
};

function fillSelect(select, values, selected) {
  if (!select) return;
  const wanted = ["", ...values].join("\n");
  const have = [...select.options].map((o) => o.value).join("\n");
  if (wanted !== have) {
    const current = select.value || selected;
    select.innerHTML = `<option value="">all</option>` + values.map((v) => `<option value="${esc(v)}">${esc(v)}</option>`).join("");
    select.value = values.includes(current) ? current : "";
  } else if (selected && select.value !== selected && values.includes(selected) && document.activeElement !== select) {
    select.value = selected;
  }
}

// The resources list is an ARIA table of CSS-grid rows, not a <table>: each row is laid out only when it
// scrolls into view (content-visibility: auto), so 1,000 resources draw in tens of milliseconds where a
// <table> of the same rows spends most of a second in layout.
const RESOURCE_COLUMNS = ["Kind", "Name", "Region", "Apply would", "Sync", "Health", "Reason", "Drift", "Suspended", "Rollout"];

function resourceRow(r, i) {
  const target = r.rollout ? rolloutTarget(r.rollout) : null;
  const href = target ? rolloutHref(target.kind, target.name, target.part) : "";
  const name = target ? `<a href="${href}">${esc(r.name)}</a>` : esc(r.name);
  return (
    `<div role="row" class="gr" aria-rowindex="${i + 2}" data-address="${esc(r.address)}" data-kind="${esc(r.kind)}" data-sync="${esc(r.sync)}" data-health="${esc(r.health)}"` +
    `${r.drift ? ' data-drift="true"' : ""}${r.suspended ? ' data-suspended="true"' : ""}>` +
    `<span role="cell">${esc(r.kind)}</span><span role="cell" class="name">${name}</span><span role="cell">${esc(r.region)}</span>` +
    `<span role="cell">${badge(r.action)}</span><span role="cell">${badge(r.sync)}</span><span role="cell">${badge(r.health, r.reason)}</span>` +
    `<span role="cell" class="reason">${esc(r.reason)}</span>` +
    // the common "no" and "–" as plain text in a muted cell: fewer elements for a thousand rows
    `${r.drift ? `<span role="cell">${yes(true)}</span>` : '<span role="cell" class="muted">no</span>'}` +
    `${r.suspended ? `<span role="cell">${yes(true)}</span>` : '<span role="cell" class="muted">no</span>'}` +
    `${target ? `<span role="cell"><a data-testid="rollout-link" href="${href}">${esc(target.part)}</a></span>` : '<span role="cell" class="muted">–</span>'}</div>`
  );
}

function renderResources(d, route) {
  const region = document.getElementById("resources-region");
  if (!region) return;
  const q = (route.q.q ?? "").trim().toLowerCase();
  const { kind = "", sync = "", health = "" } = route.q;
  const rows = d.resources.filter(
    (r) =>
      (!kind || r.kind === kind) &&
      (!sync || r.sync === sync) &&
      (!health || r.health === health) &&
      (!q || `${r.address} ${r.name} ${r.reason} ${r.region}`.toLowerCase().includes(q)),
  );
  const html = [];
  for (let i = 0; i < rows.length; i++) html.push(resourceRow(rows[i], i));
  region.innerHTML =
    `<p class="muted" data-testid="resources-shown">${rows.length} of ${d.resources.length} resources</p>` +
    `<div class="table-wrap"><div class="grid-table resources" role="table" data-testid="resources" aria-rowcount="${rows.length + 1}" ` +
    `aria-label="Every resource of the manifests and the target: what apply would do, sync and health">` +
    `<div role="rowgroup" class="ghead"><div role="row" class="gr" aria-rowindex="1">${RESOURCE_COLUMNS.map((c) => `<span role="columnheader">${c}</span>`).join("")}</div></div>` +
    `<div role="rowgroup" class="gbody">${html.join("") || `<div role="row" class="gr empty"><span role="cell" class="muted">No resource matches.</span></div>`}</div>` +
    `</div></div>`;
}

// Rollout ----------------------------------------------------------------------------------------------

PAGES.rollout = {
  title: (r) => `Rollout ${r.name} ${r.part}`,
  shell: () => `<div data-testid="page-data" id="page-data"></div>`,
  load: (r) => getJSON(`api/rollout${query({ kind: r.kind, name: r.name, part: r.part })}`),
  body: (d) => {
    const events = d.events ?? [];
    const times = [
      d.started_at, d.finished_at,
      ...events.map((e) => e.at),
      ...d.weights.map((p) => p[0]),
      ...d.metrics.flatMap((m) => [...m.canary.map((p) => p[0]), ...m.stable.map((p) => p[0]), ...m.measurements.map((x) => x.at)]),
    ];
    const xd = timeDomain(times);
    const cliName = d.kind === "Prompt" ? `${d.name} --label ${d.part}` : d.name;
    const aborted = events.filter((e) => e.kind === "aborted").pop();
    const parts = [];
    parts.push(
      `<div data-testid="rollout" data-phase="${esc(d.phase)}" data-kind="${esc(d.kind)}" data-strategy="${esc(d.strategy)}">` +
        `<p class="crumbs"><a href="#/">Overview</a> › ${esc(d.kind)} ${esc(d.name)} › ${esc(d.part)}</p>` +
        `<h1>${esc(d.identity)} <span data-testid="phase">${badge(d.phase)}</span></h1>` +
        (d.reason ? `<p data-testid="reason" class="${d.phase === "degraded" ? "error" : "muted"}">${esc(d.reason)}</p>` : "") +
        facts([
          ["Stable", esc(d.stable || "–"), "stable"],
          ["Canary", esc(d.canary || "–"), "canary"],
          ["Step", d.steps.length ? `${Math.min(d.step + 1, d.steps.length)} of ${d.steps.length}` : "–", "step"],
          ["Canary weight", `${d.weight}%`, "weight"],
          ["Started", esc(fmtTime(d.started_at))],
          [d.finished_at ? "Finished" : "Running for", esc(d.finished_at ? `${fmtTime(d.finished_at)} (${fmtDuration(d.finished_at - (d.started_at ?? d.finished_at))})` : d.started_at ? fmtDuration(Date.now() / 1000 - d.started_at) : "–")],
        ]) +
        `<p class="note" data-testid="readonly-note">Read-only: actions are <code>genaiops rollout promote|abort</code> in the CLI ` +
        `(<code>genaiops rollout promote ${esc(cliName)}</code>, <code>genaiops rollout abort ${esc(cliName)}</code>), or a change in git.</p>` +
        `<p class="links">` +
        (d.strategy === "experiment" ? `<a data-testid="experiment-link" href="${experimentHref(d.kind, d.name, d.part)}">experiment report</a> ` : "") +
        `<a href="#/audit${query({ resource: d.name })}">audit log of ${esc(d.name)}</a>` +
        (d.kind === "Prompt" ? ` <a href="#/prompt/${enc(d.name)}">prompt ${esc(d.name)}</a>` : "") +
        `</p>`,
    );
    // timeline: the compiled steps, the events on a time axis, and the events listed
    const failedStep = d.phase === "degraded" && aborted ? aborted.step : -1;
    const steps = d.steps
      .map((s) => {
        let st = "pending";
        if (s.index === failedStep) st = "failed";
        else if (d.phase === "healthy" && d.finished_at) st = "done";
        else if (s.index < d.step) st = "done";
        else if (s.index === d.step && d.phase !== "degraded") st = "current";
        const words = `step ${s.index + 1}: ${s.weight}%${s.pause ? `, pause ${s.pause}` : ""} (${st})`;
        return `<li data-step="${s.index}" data-state="${st}" class="${st}" aria-label="${esc(words)}" title="${esc(words)}">${s.index + 1}. ${s.weight}%${s.pause ? ` · ${esc(s.pause)}` : ""}</li>`;
      })
      .join("");
    const eventRows = events
      .map(
        (e) =>
          `<tr data-event="${esc(e.kind)}"><td class="when">${esc(fmtTime(e.at))}</td><td>${badge(e.kind)}</td><td class="num">${e.step + 1}</td>` +
          `<td class="num">${e.weight === null || e.weight === undefined ? "–" : `${e.weight}%`}</td><td>${esc(e.kind === "aborted" ? eventText(e) : e.detail)}</td></tr>`,
      )
      .join("");
    parts.push(
      `<section data-testid="timeline" aria-labelledby="timeline-h"><h2 id="timeline-h">Timeline</h2>` +
        (steps ? `<ol class="steps" data-testid="steps" aria-label="canary steps">${steps}</ol>` : `<p class="muted">No steps compiled.</p>`) +
        `<figure class="chart">${eventStrip(events, xd)}</figure>` +
        (aborted ? `<p class="error" data-testid="rollback">${esc(eventText(aborted))} <span class="muted">(${esc(fmtTime(aborted.at))}, step ${aborted.step + 1})</span></p>` : "") +
        `<details${events.length <= 12 ? " open" : ""} data-key="events"><summary>${events.length} events</summary>` +
        table("events", ["Time", "Event", { text: "Step", cls: "num" }, { text: "Weight", cls: "num" }, "Detail"], eventRows || `<tr><td colspan="5" class="muted">No events yet.</td></tr>`) +
        `</details></section>`,
    );
    parts.push(
      `<h2>Weight over time</h2><figure class="chart" data-testid="weights"><figcaption>Canary share of traffic <span class="muted">now ${d.weight}%</span></figcaption>` +
        weightChart(d.weights, xd, events) +
        `<ul class="legend"><li class="weight"><span class="sw"></span>canary weight (%)</li><li><span class="txt">dashed verticals: rollout events</span></li></ul></figure>`,
    );
    parts.push(`<h2>Analysis</h2>`);
    if (!d.metrics.length) parts.push(`<p class="muted" data-testid="no-metrics">This rollout has no analysis metrics: steps advance on their pauses alone.</p>`);
    parts.push(`<div class="charts">`);
    for (const m of d.metrics) parts.push(metricFigure(m, xd, events));
    parts.push(`</div></div>`);
    return parts.join("");
  },
};

function metricFigure(m, xd, events) {
  const tally = { passed: 0, failed: 0, inconclusive: 0, error: 0 };
  for (const x of m.measurements) tally[x.verdict] = (tally[x.verdict] ?? 0) + 1;
  const last = m.measurements.length ? m.measurements[m.measurements.length - 1] : null;
  const rows = m.measurements
    .map(
      (x) =>
        `<tr data-verdict="${esc(x.verdict)}"><td class="when">${esc(fmtTime(x.at))}</td><td class="num">${x.step + 1}</td>` +
        `<td class="num">${esc(fmtValue(x.value, m.unit))}</td><td>${badge(x.verdict)}</td><td>${esc(x.detail)}</td></tr>`,
    )
    .join("");
  const summary = Object.entries(tally).filter(([, n]) => n).map(([v, n]) => `${n} ${v}`).join(", ") || "no measurement yet";
  const thresholdNote =
    m.threshold.kind === "judge" ? `judged: ${m.threshold.text}` : m.threshold.kind === "maxIncrease" || m.threshold.kind === "maxDecrease" ? `${m.threshold.text} (relative to the stable)` : m.threshold.text;
  return (
    `<figure class="chart" data-testid="metric-${esc(m.name)}" data-metric="${esc(m.name)}" data-last-verdict="${esc(last?.verdict ?? "")}">` +
    `<figcaption>${esc(m.name)} <span class="muted">threshold: ${esc(thresholdNote)}</span>` +
    `<span class="muted" data-testid="verdicts">${esc(summary)}</span>${last ? badge(last.verdict, `last measurement: ${last.verdict}`) : ""}</figcaption>` +
    metricChart(m, xd, events) +
    `<ul class="legend"><li class="canary"><span class="sw"></span>canary</li><li class="stable"><span class="sw"></span>stable</li>` +
    (m.threshold.kind === "judge" ? "" : `<li class="threshold"><span class="sw dash"></span>threshold</li>`) +
    `<li><span class="txt">measurements: ● passed (green) ● failed (large, red) ○ inconclusive (hollow) ◌ error (dashed)</span></li></ul>` +
    `<details data-key="measurements-${esc(m.name)}"><summary>${m.measurements.length} measurements</summary>` +
    table(`measurements-${m.name}`, ["Time", { text: "Step", cls: "num" }, { text: "Value", cls: "num" }, "Verdict", "Detail"], rows || `<tr><td colspan="5" class="muted">None yet.</td></tr>`) +
    `</details></figure>`
  );
}

// Experiment -------------------------------------------------------------------------------------------

PAGES.experiment = {
  title: (r) => `Experiment ${r.name} ${r.part}`,
  error: (err, r) =>
    err.status === 404
      ? `<p class="crumbs"><a href="#/">Overview</a> › ${esc(r.kind)} ${esc(r.name)}${r.part ? ` › ${esc(r.part)}` : ""} › experiment</p>` +
        `<p class="note" data-testid="error" data-status="404">No A/B experiment here: ${esc(err.message.replace(/^404 [^:]*: /, ""))}. ` +
        `An experiment is a rollout with <code>strategy: experiment</code>.` +
        (r.part ? ` <a href="${rolloutHref(r.kind, r.name, r.part)}">The rollout page</a>.` : "") +
        `</p>`
      : undefined,
  shell: () => `<div data-testid="page-data" id="page-data"></div>`,
  load: (r) => getJSON(`api/experiment${query({ kind: r.kind, name: r.name, part: r.part })}`),
  body: (d) => {
    const parts = [
      `<div data-testid="experiment" data-decision="${esc(d.decision)}">` +
        `<p class="crumbs"><a href="#/">Overview</a> › ${esc(d.kind)} ${esc(d.name)}${d.part ? ` › ${esc(d.part)}` : ""} › experiment</p>` +
        `<h1>Experiment: ${esc(d.name)}${d.part ? ` ${esc(d.part)}` : ""} <span data-testid="decision">${badge(d.decision)}</span></h1>` +
        facts([
          ["Control", esc(d.control), "control"],
          ["Confidence", `${Math.round(d.confidence * 1000) / 10}%`],
          ["Started", esc(fmtTime(d.started_at))],
          ["Ends", esc(fmtTime(d.ends_at))],
        ]) +
        `<p class="links">${d.part ? `<a href="${rolloutHref(d.kind, d.name, d.part)}">rollout page</a>` : ""}</p>` +
        (d.srm ? `<p class="warning" data-testid="srm">${esc(d.srm)}</p>` : ""),
    ];
    if (!d.metrics.length) parts.push(`<p class="muted">No metric measured yet.</p>`);
    for (const m of d.metrics) {
      const rows = m.variants
        .map((v) => {
          const ci = v.low === null || v.high === null ? (v.variant === d.control ? "control" : "–") : `${fmtValue(v.low, m.unit)} … ${fmtValue(v.high, m.unit)}`;
          return (
            `<tr data-variant="${esc(v.variant)}"><th scope="row">${esc(v.variant)}${v.variant === d.control ? ' <span class="badge plain">control</span>' : ""}</th>` +
            `<td class="num">${v.requests.toLocaleString("en-US")}</td><td class="num">${esc(fmtValue(v.value, m.unit))}</td><td class="num">${esc(ci)}</td></tr>`
          );
        })
        .join("");
      parts.push(
        `<section data-testid="exp-metric-${esc(m.name)}" data-verdict="${esc(m.verdict)}"><h2>${esc(m.name)} ${badge(m.verdict)} <span class="muted">(${esc(m.better)} is better)</span></h2>` +
          (m.detail ? `<p class="muted">${esc(m.detail)}</p>` : "") +
          table(`variants-${m.name}`, ["Variant", { text: "Requests", cls: "num" }, { text: "Value", cls: "num" }, { text: "Difference to control (CI)", cls: "num" }], rows) +
          `<figure class="chart">${ciChart(m)}<ul class="legend"><li><span class="txt">bars: ${Math.round(d.confidence * 100)}% confidence interval of the difference to ${esc(d.control)}; green = better, red = worse, grey = includes zero; dot = observed difference</span></li></ul></figure></section>`,
      );
    }
    parts.push(`</div>`);
    return parts.join("");
  },
};

// Prompts ----------------------------------------------------------------------------------------------

function labelChips(labels, rollouts = []) {
  const entries = Object.entries(labels ?? {});
  if (!entries.length) return `<span class="muted">no labels</span>`;
  return entries
    .map(([l, v]) => `<span class="chip" data-label="${esc(l)}">${esc(l)} → <b>${esc(v)}</b>${rollouts.includes(l) ? ` <span class="badge info" title="rollout in progress">rollout</span>` : ""}</span>`)
    .join(" ");
}

PAGES.prompts = {
  title: () => "Prompts",
  shell: () => `<h1>Prompts</h1><div data-testid="page-data" id="page-data"></div>`,
  load: () => getJSON("api/prompts"),
  body: (d) => {
    const rows = d.prompts
      .map(
        (p) =>
          `<tr data-prompt="${esc(p.name)}"><td><a href="#/prompt/${enc(p.name)}">${esc(p.name)}</a></td><td class="num">${p.versions}</td>` +
          `<td>${labelChips(p.labels, p.rollouts)}</td><td>${p.rollouts.map((l) => `<a href="${rolloutHref("Prompt", p.name, l)}">${esc(l)}</a>`).join(", ") || '<span class="muted">–</span>'}</td>` +
          `<td class="when">${esc(fmtTime(p.updated_at))}</td></tr>`,
      )
      .join("");
    return table("prompts", ["Prompt", { text: "Versions", cls: "num" }, "Labels", "Rollouts", "Updated"], rows || `<tr><td colspan="5" class="muted">The store holds no prompt.</td></tr>`);
  },
};

// Oldest first. created_at is in whole seconds, so versions published in the same second tie: those keep
// the API's order (newest first), reversed.
function versionOrder(versions) {
  return versions
    .map((v, i) => [v, i])
    .sort(([a, i], [b, j]) => (a.created_at ?? 0) - (b.created_at ?? 0) || j - i)
    .map(([v]) => v);
}

PAGES.prompt = {
  title: (r) => `Prompt ${r.name}`,
  shell: (r) =>
    `<p class="crumbs"><a href="#/prompts">Prompts</a> › ${esc(r.name)}</p><h1>Prompt ${esc(r.name)}</h1>` +
    `<div data-testid="page-data" id="page-data"></div>` +
    `<h2 id="diff-h">Template diff</h2>` +
    `<form class="controls" data-form="diff" aria-labelledby="diff-h"><label>From<select name="a" data-testid="diff-a"></select></label>` +
    `<label>To<select name="b" data-testid="diff-b"></select></label></form><div id="diff-region" data-region="diff"></div>`,
  load: async (r) => {
    const page = await getJSON(`api/prompt${query({ name: r.name })}`);
    const order = versionOrder(page.versions).map((v) => v.version);
    let { a, b } = r.q;
    if (!order.includes(b)) b = order[order.length - 1];
    if (!order.includes(a)) a = order.length > 1 ? order[order.indexOf(b) > 0 ? order.indexOf(b) - 1 : 0] : b;
    const diff = order.length ? await getJSON(`api/prompt-diff${query({ name: r.name, a, b })}`) : null;
    return { page, diff, a, b };
  },
  body: ({ page }) => {
    const versions = versionOrder(page.versions)
      .reverse()
      .map(
        (v) =>
          `<tr data-version="${esc(v.version)}"><td class="mono">${esc(v.version)}</td><td class="when">${esc(fmtTime(v.created_at))}</td><td>${esc(v.author)}</td>` +
          `<td>${esc(v.model)}</td><td>${v.labels.map((l) => `<span class="chip">${esc(l)}</span>`).join(" ")}</td></tr>`,
      )
      .join("");
    const history = [...page.history]
      .sort((x, y) => (y.at ?? 0) - (x.at ?? 0))
      .map(
        (h) =>
          `<tr data-label="${esc(h.label)}" data-version="${esc(h.version)}"><td class="when">${esc(fmtTime(h.at))}</td><td>${esc(h.label)}</td>` +
          `<td class="mono">${esc(h.previous ?? "–")} → ${esc(h.version)}</td><td>${esc(h.author)}</td><td class="reason">${esc(h.reason)}</td></tr>`,
      )
      .join("");
    return (
      `<h2>Labels</h2><p data-testid="labels">${labelChips(page.labels)}</p>` +
      `<p class="links">${Object.keys(page.labels).map((l) => `<a href="${rolloutHref("Prompt", page.name, l)}">rollout of ${esc(l)}</a>`).join(" ")}</p>` +
      `<h2>Versions</h2>` +
      table("versions", ["Version", "Created", "Author", "Model", "Labels"], versions || `<tr><td colspan="5" class="muted">No version published.</td></tr>`) +
      `<h2>History</h2>` +
      table("history", ["Time", "Label", "Move", "Author", "Reason"], history || `<tr><td colspan="5" class="muted">No label moved yet.</td></tr>`)
    );
  },
  after: ({ page, diff, a, b }) => {
    const order = versionOrder(page.versions).map((v) => v.version);
    for (const [name, value] of [["a", a], ["b", b]]) {
      const select = document.querySelector(`select[data-testid=diff-${name}]`);
      const labelsOf = Object.fromEntries(page.versions.map((v) => [v.version, v.labels]));
      const wanted = order.join("\n");
      if ([...select.options].map((o) => o.value).join("\n") !== wanted) {
        select.innerHTML = order.map((v) => `<option value="${esc(v)}">${esc(v)}${labelsOf[v]?.length ? ` (${esc(labelsOf[v].join(", "))})` : ""}</option>`).join("");
      }
      if (document.activeElement !== select) select.value = value ?? "";
    }
    const region = document.getElementById("diff-region");
    if (!diff) {
      region.innerHTML = `<p class="muted" data-testid="diff" data-same="true">No versions to compare.</p>`;
      return;
    }
    const lines = diff.unified
      .map((line) => {
        let cls = "ctx";
        if (line.startsWith("+++") || line.startsWith("---")) cls = "meta";
        else if (line.startsWith("@@")) cls = "hunk";
        else if (line.startsWith("+")) cls = "add";
        else if (line.startsWith("-")) cls = "del";
        const label = cls === "add" ? "added: " : cls === "del" ? "removed: " : "";
        return `<span class="ln ${cls}" data-op="${cls === "add" ? "+" : cls === "del" ? "-" : ""}"${label ? ` aria-label="${esc(label + line.slice(1))}"` : ""}>${esc(line)}</span>`;
      })
      .join("");
    region.innerHTML =
      `<div class="diff mono" data-testid="diff" data-a="${esc(diff.a)}" data-b="${esc(diff.b)}" data-same="${diff.same}" role="region" aria-label="template diff from ${esc(diff.a)} to ${esc(diff.b)}">` +
      (diff.same ? `<span class="ln ctx">The templates of ${esc(diff.a)} and ${esc(diff.b)} are the same.</span>` : lines) +
      `</div>`;
  },
};

// Cost -------------------------------------------------------------------------------------------------

const SINCE = ["1d", "7d", "30d", "90d"];
const COST_ROWS = 100; // the most expensive groups; the rest behind a link (a long <table> is slow to lay out)
const BY = ["endpoint", "prompt", "model", "label"];
const COST_KINDS = [
  ["serving", "serving"],
  ["tokens", "tokens"],
  ["tuning", "tuning"],
];

PAGES.cost = {
  title: () => "Cost",
  shell: (r) => {
    const since = r.q.since ?? "30d";
    const by = r.q.by ?? "endpoint";
    const sinceOpts = SINCE.includes(since) ? SINCE : [...SINCE, since];
    return (
      `<h1>Cost and usage</h1><form class="controls" data-form="cost" aria-label="Cost report settings">` +
      `<label>Since<select name="since" data-testid="cost-since">${sinceOpts.map((s) => `<option${s === since ? " selected" : ""}>${esc(s)}</option>`).join("")}</select></label>` +
      `<label>Group by<select name="by" data-testid="cost-by">${BY.map((s) => `<option${s === by ? " selected" : ""}>${s}</option>`).join("")}</select></label></form>` +
      `<div data-testid="page-data" id="page-data"></div>`
    );
  },
  load: (r) => getJSON(`api/cost${query({ since: r.q.since ?? "30d", by: r.q.by ?? "endpoint" })}`),
  body: (d, route) => {
    const money = (v) => fmtValue(v, "$");
    const total = d.rows.reduce((a, r) => a + r.total, 0);
    const sum = (k) => d.rows.reduce((a, r) => a + r[k], 0);
    const stacks = COST_KINDS.map(([key, label]) => ({ key, label, points: d.daily[key] ?? [] }));
    const sorted = [...d.rows].sort((x, y) => y.total - x.total || (x.key < y.key ? -1 : 1));
    const all = route.q.rows === "all" || sorted.length <= COST_ROWS;
    const shown = all ? sorted : sorted.slice(0, COST_ROWS);
    const more = all ? "" : `<tr data-key="" data-testid="cost-more"><td colspan="5" class="muted">${sorted.length - COST_ROWS} more, together ${money(sorted.slice(COST_ROWS).reduce((a, r) => a + r.total, 0))}: <a href="#/cost${query({ ...route.q, rows: "all" })}">show all ${sorted.length}</a></td></tr>`;
    const rows = shown
      .map(
        (r) =>
          `<tr data-key="${esc(r.key)}"><th scope="row">${esc(r.key)}</th><td class="num">${money(r.serving)}</td><td class="num">${money(r.tokens)}</td>` +
          `<td class="num">${money(r.tuning)}</td><td class="num"><b>${money(r.total)}</b></td></tr>`,
      )
      .join("");
    const foot = d.rows.length ? `<tr data-key=""><th scope="row">total</th><td class="num">${money(sum("serving"))}</td><td class="num">${money(sum("tokens"))}</td><td class="num">${money(sum("tuning"))}</td><td class="num"><b>${money(total)}</b></td></tr>` : "";
    return (
      facts([
        ["Total", esc(money(total)), "cost-total"],
        ["Since", esc(d.since)],
        ["By", esc(d.by)],
        ["Currency", esc(d.currency)],
      ]) +
      `<div class="charts"><figure class="chart" data-testid="cost-daily"><figcaption>Daily cost <span class="muted">${esc(d.currency)}, stacked by kind</span></figcaption>` +
      stackedDays("cost-daily-chart", stacks, { unit: "$", label: "daily cost, stacked: serving, tokens, tuning" }) +
      `<ul class="legend">${COST_KINDS.map(([k, l]) => `<li class="${k}"><span class="sw"></span>${l}</li>`).join("")}</ul></figure>` +
      `<figure class="chart" data-testid="requests"><figcaption>Runtime requests per day <span class="muted">all prompts</span></figcaption>` +
      linesChart("requests-chart", [{ key: "requests", label: "requests", points: d.requests }], { label: "runtime requests per day" }) +
      `<ul class="legend"><li class="requests"><span class="sw"></span>requests</li></ul></figure></div>` +
      `<h2>By ${esc(d.by)}</h2>` +
      table("cost-rows", [d.by, { text: "Serving", cls: "num" }, { text: "Tokens", cls: "num" }, { text: "Tuning", cls: "num" }, { text: "Total", cls: "num" }], (rows + more + foot) || `<tr><td colspan="5" class="muted">No cost in this period.</td></tr>`) +
      (d.unpriced.length ? `<h2>Not priced</h2><ul data-testid="unpriced">${d.unpriced.map((u) => `<li>${esc(u)}</li>`).join("")}</ul>` : "")
    );
  },
};

// Audit ------------------------------------------------------------------------------------------------

const LIMITS = ["50", "200", "1000"];

PAGES.audit = {
  title: () => "Audit log",
  shell: (r) => {
    const limit = r.q.limit ?? "200";
    const limits = LIMITS.includes(limit) ? LIMITS : [...LIMITS, limit];
    return (
      `<h1>Audit log</h1><form class="controls" data-form="audit" data-testid="audit-filters" role="search" aria-label="Filter the audit log">` +
      `<label>Text<input type="search" name="q" data-testid="audit-q" placeholder="anything in the record" value="${esc(r.q.q ?? "")}"></label>` +
      `<label>Event<select name="event" data-testid="audit-event"><option value="">all</option>${r.q.event ? `<option selected>${esc(r.q.event)}</option>` : ""}</select></label>` +
      `<label>Resource<input type="search" name="resource" data-testid="audit-resource" placeholder="address, endpoint or prompt" value="${esc(r.q.resource ?? "")}"></label>` +
      `<label>Show<select name="limit" data-testid="audit-limit">${limits.map((l) => `<option${l === limit ? " selected" : ""}>${esc(l)}</option>`).join("")}</select></label>` +
      `</form><div data-testid="page-data" id="page-data"></div>`
    );
  },
  load: (r) => getJSON(`api/audit${query({ q: r.q.q, event: r.q.event, resource: r.q.resource, limit: r.q.limit ?? "200" })}`),
  body: (d) => {
    const rows = d.rows
      .map((row) => {
        const key = `${row.at}|${row.event}|${row.resource}|${row.summary}`;
        return (
          `<tr data-testid="audit-row" data-event="${esc(row.event)}" data-resource="${esc(row.resource)}" data-status="${esc(row.status)}">` +
          `<td class="when">${esc(fmtTime(row.at))}</td><td>${badge(row.event)}</td><td class="addr">${row.resource ? `<a href="#/audit${query({ resource: row.resource })}" data-filter-resource="${esc(row.resource)}">${esc(row.resource)}</a>` : '<span class="muted">–</span>'}</td>` +
          `<td>${row.status ? badge(row.status) : ""}</td><td>${esc(row.summary)}` +
          `<details class="record" data-key="${esc(key)}"><summary>record</summary><pre>${esc(JSON.stringify(row.record, null, 2))}</pre></details></td></tr>`
        );
      })
      .join("");
    return (
      `<p class="muted" data-testid="audit-shown">${d.rows.length} of ${d.total} matching records (newest first)` +
      `${d.skipped ? `; <span data-testid="audit-skipped">${d.skipped} unreadable line${d.skipped === 1 ? "" : "s"} (torn or edited) left out</span>` : ""}</p>` +
      table("audit", ["Time", "Event", "Resource", "Status", "Summary"], rows || `<tr><td colspan="5" class="muted">No record matches.</td></tr>`)
    );
  },
  after: (d, r) => fillSelect(document.querySelector("[data-testid=audit-event]"), d.events, r.q.event ?? ""),
};

// Not found ----------------------------------------------------------------------------------------------

PAGES.notfound = {
  title: () => "Not found",
  shell: (r) => `<h1>Not found</h1><div data-testid="page-data" id="page-data"></div><p>No page at <code>#${esc(r.path)}</code>. <a href="#/">Overview</a></p>`,
  load: async () => null,
  body: () => "",
};

// --- drawing --------------------------------------------------------------------------------------------

function setHeader(overview) {
  const target = document.querySelector("[data-testid=target]");
  if (target && overview.target) target.textContent = overview.target;
  const env = document.querySelector("[data-testid=environment]");
  if (env) {
    env.textContent = overview.environment ? `env: ${overview.environment}` : "";
    env.hidden = !overview.environment;
  }
  state.headerKnown = true;
}

function setNav(page) {
  const active = { rollout: "overview", experiment: "overview", prompt: "prompts" }[page] ?? page;
  for (const a of document.querySelectorAll("nav a[data-nav]")) {
    if (a.dataset.nav === active) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

// Open <details> (by data-key) survive a redraw.
function openDetails(root) {
  return new Set([...root.querySelectorAll("details[data-key]")].map((d) => [d.dataset.key, d.open]).filter(([, o]) => o).map(([k]) => k));
}

function restoreDetails(root, before, closedBefore) {
  for (const d of root.querySelectorAll("details[data-key]")) {
    if (before.has(d.dataset.key)) d.open = true;
    else if (closedBefore.has(d.dataset.key)) d.open = false;
  }
}

function closedDetails(root) {
  return new Set([...root.querySelectorAll("details[data-key]")].filter((d) => !d.open).map((d) => d.dataset.key));
}

async function load({ fresh, force = false }) {
  if (state.loading && !fresh && !force) {
    state.pending = true;
    return;
  }
  const seq = ++state.seq;
  const route = state.route;
  const page = PAGES[route.page];
  const body = document.body;
  const t0 = performance.now();
  state.loading = seq;
  if (fresh) {
    body.dataset.ready = "false";
    body.dataset.page = route.page;
    document.title = `${page.title(route)} · genaiops`;
    setNav(route.page);
    state.lastKey = "";
    state.data = null;
    $main().innerHTML = page.shell(route);
  }
  // The header's target comes with the overview; another page fetches it beside its own data, once.
  const header = fresh && !state.headerKnown && route.page !== "overview" ? loadHeader() : null;
  let data = null;
  let error = null;
  try {
    data = await page.load(route);
  } catch (err) {
    error = err;
  }
  if (header) await header;
  const tF = performance.now();
  if (state.loading === seq) state.loading = 0;
  if (seq !== state.seq) return; // a newer load (another page, other filters) took over
  const region = document.getElementById("page-data");
  const key = error ? `error:${error.message}` : JSON.stringify(data);
  if (region && (fresh || key !== state.lastKey)) {
    const open = openDetails(region);
    const closed = closedDetails(region);
    if (error) {
      region.innerHTML =
        page.error?.(error, route) ?? `<p class="error" data-testid="error" role="alert">Could not load this page: ${esc(error.message)}</p>`;
      const rest = document.getElementById("resources-region") ?? document.getElementById("diff-region");
      if (rest) rest.innerHTML = "";
    } else {
      region.innerHTML = page.body(data, route);
      page.after?.(data, route);
    }
    const tH = performance.now();
    restoreDetails($main(), open, closed);
    state.data = error ? null : data;
    state.lastKey = key;
    void $main().offsetHeight; // the layout belongs to the render being measured
    state.renders += 1;
    window.__genaiops = {
      page: route.page,
      renderMs: Math.round((performance.now() - t0) * 10) / 10,
      version: state.version,
      renders: state.renders,
      error: error ? error.message : null,
      parts: { fetch: Math.round(tF - t0), html: Math.round(tH - tF), layout: Math.round(performance.now() - tH) },
    };
  } else if (window.__genaiops) {
    window.__genaiops.version = state.version;
  }
  body.dataset.version = String(state.version ?? "");
  body.dataset.ready = "true";
  const updated = document.querySelector("[data-testid=updated]");
  if (updated) updated.textContent = `updated ${fmtTime(Date.now() / 1000, false)}`;
  if (state.pending) {
    state.pending = false;
    load({ fresh: false });
  }
}

async function loadHeader() {
  state.headerKnown = true;
  try {
    setHeader(await getJSON("api/overview"));
  } catch {
    state.headerKnown = false;
  }
}

function navigate() {
  state.route = parseHash();
  load({ fresh: true });
}

function refresh() {
  if (!state.route) return;
  load({ fresh: false });
}

// --- controls (one delegated listener each; no inline handlers: the CSP allows only 'self') -----------

let typingTimer = null;

function onControl(ev) {
  const form = ev.target.closest("form[data-form]");
  if (!form || !ev.target.name) return;
  const kind = form.dataset.form;
  const { name, value } = ev.target;
  if (kind === "overview") {
    setQuery({ [name]: value });
    if (state.data) renderResources(state.data, state.route);
    return;
  }
  if (kind === "audit" || kind === "cost" || kind === "diff") {
    setQuery({ [name]: value });
    clearTimeout(typingTimer);
    const typing = ev.type === "input" && ev.target.tagName === "INPUT";
    typingTimer = setTimeout(() => load({ fresh: false, force: true }), typing ? 250 : 0);
  }
}

function onClick(ev) {
  const a = ev.target.closest("a[data-filter-resource]");
  if (a && state.route?.page === "audit") {
    ev.preventDefault();
    const input = document.querySelector("[data-testid=audit-resource]");
    if (input) input.value = a.dataset.filterResource;
    setQuery({ resource: a.dataset.filterResource });
    load({ fresh: false, force: true });
  }
}

// --- live updates ---------------------------------------------------------------------------------------

function setLive(mode, text) {
  state.live = mode;
  const el = document.querySelector("[data-testid=live]");
  if (!el) return;
  el.className = `live ${mode === "sse" ? "on" : mode === "poll" ? "poll" : ""}`;
  el.dataset.mode = mode;
  el.textContent = text;
}

function startPolling() {
  if (state.pollTimer) return;
  setLive("poll", `polling every ${POLL_MS / 1000} s`);
  state.pollTimer = setInterval(() => {
    if (!document.hidden) refresh();
  }, POLL_MS);
}

function stopPolling() {
  clearInterval(state.pollTimer);
  state.pollTimer = null;
}

function connectLive() {
  if (typeof EventSource === "undefined") {
    startPolling();
    return;
  }
  const source = new EventSource("api/events");
  state.source = source;
  source.addEventListener("open", () => {
    stopPolling();
    setLive("sse", "live");
  });
  source.addEventListener("changed", (ev) => {
    let version = null;
    try {
      version = JSON.parse(ev.data).version ?? null;
    } catch {
      /* a change without a version still redraws */
    }
    if (version !== null && version === state.version) return;
    state.version = version;
    refresh();
    // Once more a little later: a server may answer from a page cache a moment older than the change
    // it announced; a re-fetch that finds the same data draws nothing.
    clearTimeout(state.settleTimer);
    state.settleTimer = setTimeout(refresh, SETTLE_MS);
  });
  source.addEventListener("error", () => {
    source.close();
    if (state.source === source) state.source = null;
    startPolling();
    setTimeout(() => {
      if (!state.source) connectLive();
    }, SSE_RETRY_MS);
  });
}

// --- start ----------------------------------------------------------------------------------------------

function start() {
  const main = $main();
  main.addEventListener("input", (ev) => {
    if (ev.target.tagName === "INPUT") onControl(ev);
  });
  main.addEventListener("change", (ev) => {
    if (ev.target.tagName === "SELECT") onControl(ev);
  });
  main.addEventListener("submit", (ev) => ev.preventDefault());
  main.addEventListener("click", onClick);
  // The skip link focuses the content without touching the hash (the hash is the router's).
  document.querySelector("a.skip")?.addEventListener("click", (ev) => {
    ev.preventDefault();
    main.focus();
  });
  window.addEventListener("hashchange", navigate);
  navigate();
  connectLive();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
