// @ts-check
// The weft dashboard: one page per hash route (#/cluster, #/tasks,
// #/task/ID, #/actors, #/objects, #/jobs, #/job/ID, #/components), each
// polling its JSON views every second and drawn with plain DOM calls, so
// every name and log line the cluster reports lands as text, never markup.

import { bar, lineChart } from "./charts.js";

const POLL_MS = 1000;
/** Network failures in a row before the page looks for another replica. */
const FAILOVER_AFTER = 3;

const page = /** @type {HTMLElement} */ (document.getElementById("page"));
const live = /** @type {HTMLElement} */ (document.getElementById("live"));
const banner = /** @type {HTMLElement} */ (document.getElementById("banner"));

/** Bumped on every navigation: an older page's poll loop stops. */
let generation = 0;
/** Other replicas' dashboards, leader first, from the latest overview. */
let otherDashboards = /** @type {string[]} */ ([]);
let failures = 0;
/** @type {any} */
let lastOverview = null;
let lastOverviewAt = 0;

// ---- helpers ----

/**
 * Builds an element: `attrs` set as properties (`dataset` and `style`
 * merged), children appended as nodes or text.
 * @param {string} tag
 * @param {Record<string, any> | null} [attrs]
 * @param {...any} children
 * @returns {HTMLElement}
 */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "dataset" || k === "style") Object.assign(el[k], v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** @param {number} n */
function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

/** @param {number | null | undefined} ms */
function duration(ms) {
  if (ms == null) return "";
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 0)} ms`;
  if (ms < 120000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60000)} min`;
}

/** @param {number} ms since the epoch */
function time(ms) {
  return ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 23) : "";
}

/** @param {string} state */
function badge(state) {
  const s = String(state).toLowerCase();
  const kind = ["alive", "finished", "succeeded", "leader", "running", "created"].includes(s) ? "ok"
    : ["failed", "dead", "stopped"].includes(s) ? "bad"
    : ["queued", "waiting", "pending", "restarting", "rescheduling", "candidate", "starting"].includes(s) ? "warn" : "info";
  return h("span", { class: `badge ${kind}` }, state);
}

/**
 * A table of `rows` with `columns` [header, cell(row)] and an optional
 * click target per row.
 * @param {string} id
 * @param {[string, (row: any) => any][]} columns
 * @param {any[]} rows
 * @param {(row: any) => string} [href]
 */
function table(id, columns, rows, href) {
  const head = h("tr", null, columns.map(([title]) => h("th", null, title)));
  const body = rows.map((row) => {
    const tr = h("tr", href ? { class: "link", onclick: () => { location.hash = href(row); } } : null,
      columns.map(([, cell]) => {
        const v = cell(row);
        return h("td", v instanceof Node || typeof v !== "string" || v.length < 60 ? null : { class: "wrap" }, v);
      }));
    return tr;
  });
  return h("div", { class: "panel" }, h("table", { id }, h("thead", null, head), h("tbody", null, body)),
    rows.length ? null : h("p", { class: "muted" }, "none"));
}

/** @param {string} label @param {any} value @param {string} key */
function tile(label, value, key) {
  return h("div", { class: "tile", dataset: { tile: key } },
    h("div", { class: "value" }, value), h("div", { class: "label" }, label));
}

class SignInNeeded extends Error {}
class ViewFailed extends Error {}

/**
 * One JSON view of this dashboard.
 * @param {string} path
 * @param {RequestInit} [init]
 * @returns {Promise<any>}
 */
async function api(path, init) {
  let res;
  try {
    res = await fetch(`/api/${path}`, { ...init, signal: AbortSignal.timeout(5000) });
  } catch (e) {
    failures++;
    throw e;
  }
  failures = 0;
  const body = await res.json().catch(() => ({ error: res.statusText }));
  if (res.status === 401) throw new SignInNeeded(body.error);
  if (!res.ok) throw new ViewFailed(body.error || res.statusText);
  return body;
}

/** The overview, read at most every second however many parts want it. */
async function overview() {
  if (lastOverview && Date.now() - lastOverviewAt < POLL_MS - 100) return lastOverview;
  const o = await api("overview");
  lastOverview = o;
  lastOverviewAt = Date.now();
  const own = `${location.origin}/`;
  const controllers = [...(o.controllers || [])]
    .sort((a, b) => Number(b.role === "leader") - Number(a.role === "leader"));
  const others = controllers.map((c) => c.dashboard).filter((d) => d && d !== own);
  if (others.length) otherDashboards = others;
  return o;
}

/** Moves to another replica's dashboard that answers, keeping the route. */
async function failover() {
  for (const url of otherDashboards) {
    try {
      await fetch(`${url}favicon.svg`, { mode: "no-cors", signal: AbortSignal.timeout(1500) });
      showBanner(`This controller's dashboard stopped answering: moving to ${url}`);
      location.href = url + location.hash;
      return true;
    } catch {
      // Not that one either.
    }
  }
  return false;
}

/** @param {string | null} text */
function showBanner(text) {
  banner.hidden = !text;
  banner.textContent = text || "";
}

// ---- pages ----

/**
 * A page: `setup` draws what stays (filters), `load` reads its views,
 * `render` redraws the part below from them.
 * @typedef {{ setup?: (arg: string, state: any, body: HTMLElement) => HTMLElement | null,
 *   load: (arg: string, state: any) => Promise<any>,
 *   render: (data: any, arg: string, state: any) => HTMLElement | (HTMLElement | null)[] }} Page
 */

/** @param {any} o */
function taskChart(o) {
  const t = o.history?.tasks || {};
  /** @type {Record<string, (number | null)[]>} */
  const series = {};
  // Held tasks by state now; finished and failed as totals so far.
  for (const state of ["running", "queued", "waiting"]) {
    if (t[state]) series[state] = t[state];
  }
  for (const state of ["finished", "failed"]) {
    if (t[state]) series[`${state} (total)`] = t[state];
  }
  return lineChart(o.history?.at || [], series, { label: "tasks by state" });
}

/** @param {any} o */
function renderCluster(o) {
  if (o.error && !o.controllers) return h("p", { class: "error" }, o.error);
  /** @type {any[]} */
  const hosts = o.hosts || [];
  const t = o.tasks || {};
  const total = o.tasks_total || {};
  const sum = (/** @type {(h: any) => number} */ f) => hosts.reduce((a, x) => a + (f(x) || 0), 0);
  const alive = hosts.filter((x) => x.alive);
  return [
    o.error ? h("p", { class: "error" }, o.error) : null,
    h("div", { class: "tiles" },
      tile("hosts alive", `${alive.length} / ${hosts.length}`, "hosts"),
      tile("tasks running", t.running || 0, "running"),
      tile("tasks finished", total.finished || 0, "finished"),
      tile("tasks failed", total.failed || 0, "failed"),
      tile("tasks queued", (t.queued || 0) + (t.waiting || 0), "queued"),
      tile("cpus in use", `${sum((x) => x.alive && x.cpus[0])} / ${sum((x) => x.alive && x.cpus[1])}`, "cpus"),
      tile("object store", `${bytes(sum((x) => x.store?.used))} / ${bytes(sum((x) => x.store?.capacity))}`, "store"),
      tile("components", o.components ?? 0, "components")),
    h("h2", null, "Tasks by state"),
    h("div", { class: "panel", id: "task-chart" }, taskChart(o)),
    h("h2", null, "Controllers"),
    table("controllers", [
      ["id", (c) => String(c.id)],
      ["address", (c) => h("span", { class: "mono" }, c.address)],
      ["role", (c) => (c.reachable ? badge(c.role) : badge("unreachable"))],
      ["term", (c) => c.term ?? ""],
      ["last log", (c) => c.last_log ?? ""],
      ["commit", (c) => c.commit ?? ""],
      ["applied", (c) => c.applied ?? ""],
      ["lag", (c) => (c.lag != null ? String(c.lag) : "")],
      ["dashboard", (c) => (c.dashboard ? h("a", { href: c.dashboard }, c.dashboard) : "")],
      ["", (c) => (c.error ? h("span", { class: "error" }, c.error) : "")],
    ], o.controllers || []),
    h("h2", null, "Hosts"),
    table("hosts", [
      ["host", (x) => x.id],
      ["state", (x) => (x.alive ? badge("alive") : h("span", null, badge("dead"), " ", x.dead_reason))],
      ["heartbeat", (x) => `${(x.heartbeat_ms / 1000).toFixed(1)} s ago`],
      ["cpu", (x) => bar(x.cpus[0], x.cpus[1], (v) => v.toFixed(v % 1 ? 1 : 0))],
      ["memory", (x) => bar(x.memory[0], x.memory[1], bytes)],
      ["gpu", (x) => (x.gpus[1] ? h("span", { title: x.gpu }, bar(x.gpus[0], x.gpus[1], String)) : h("span", { class: "muted" }, "none"))],
      ["object store", (x) => (x.store && !x.store.error ? bar(x.store.used, x.store.capacity, bytes) : (x.store?.error || ""))],
      ["running", (x) => String(x.running)],
      ["tasks done", (x) => String(x.tasks_done)],
      ["address", (x) => h("span", { class: "mono" }, x.address)],
    ], hosts),
  ];
}

/** @type {Page} */
const clusterPage = { load: () => overview(), render: renderCluster };

/** @type {Page} */
const tasksPage = {
  setup(_arg, state) {
    state.state = state.state || "";
    state.q = state.q || "";
    const select = h("select", { id: "task-state", onchange: () => { state.state = /** @type {HTMLSelectElement} */ (select).value; } },
      ["", "waiting", "queued", "running", "finished", "failed"].map((s) => h("option", { value: s }, s || "every state")));
    const input = h("input", { id: "task-filter", placeholder: "filter: id, component, function, host, error", size: 48,
      oninput: () => { state.q = /** @type {HTMLInputElement} */ (input).value; } });
    return h("div", { class: "filters" }, select, input);
  },
  async load(_arg, state) {
    const q = new URLSearchParams({ state: state.state, q: state.q, limit: "200" });
    const [o, tasks] = await Promise.all([overview(), api(`tasks?${q}`)]);
    return { o, tasks };
  },
  render({ o, tasks }) {
    const counts = Object.entries(tasks.counts || {}).map(([k, v]) => `${k} ${v}`).join(" · ");
    return [
      h("div", { class: "panel", id: "task-chart" }, taskChart(o)),
      h("h2", null, "Tasks the leader holds ",
        h("span", { class: "muted" }, counts ? `(${counts}; newest 200 shown)` : "")),
      table("tasks", [
        ["id", (t) => h("span", { class: "mono" }, t.id)],
        ["component", (t) => t.component],
        ["function", (t) => t.function],
        ["state", (t) => badge(t.state)],
        ["host", (t) => (t.gpus ? `${t.host} · ${t.gpus}` : t.host)],
        ["attempts", (t) => String(t.attempts)],
        ["duration", (t) => duration(t.run_ms)],
        ["error", (t) => t.error],
      ], tasks.tasks, (t) => `#/task/${encodeURIComponent(t.id)}`),
    ];
  },
};

/**
 * Follows the output of a task, actor or job: the last lines first, then
 * what follows them.
 * @param {string} id
 * @param {any} state
 */
async function followLogs(id, state) {
  const from = state.logs ? `&from=${state.logs.next}` : "";
  const read = await api(`logs?id=${encodeURIComponent(id)}${from}`);
  if (!state.logs) state.logs = { lines: [], next: 0 };
  state.logs.lines.push(...read.lines);
  if (state.logs.lines.length > 5000) state.logs.lines.splice(0, state.logs.lines.length - 5000);
  state.logs.next = read.next || state.logs.next;
  state.logs.running = read.running;
  state.logs.waiting = read.waiting;
  return state.logs;
}

/** @param {any} logs */
function logsBlock(logs) {
  const pre = h("pre", { class: "logs", id: "logs" },
    logs.lines.map((/** @type {any} */ l) => [h("span", { class: "at" }, `${time(l.at_ms).slice(11)} `), l.text, "\n"]));
  if (!logs.lines.length) pre.append(logs.waiting ? `(${logs.waiting})` : "(no output)");
  // Stay at the newest line, as `weft logs -f` does.
  requestAnimationFrame(() => { pre.scrollTop = pre.scrollHeight; });
  return h("div", null,
    h("h2", null, "Output ", h("span", { class: "muted" }, logs.running ? "(following)" : "")), pre);
}

/** @type {Page} */
const taskPage = {
  async load(id, state) {
    const detail = state.detail && state.done ? state.detail : await api(`task?id=${encodeURIComponent(id)}`);
    state.detail = detail;
    const last = detail.events[detail.events.length - 1];
    state.done = last && ["finished", "failed", "actor dead"].includes(last.kind);
    const logs = await followLogs(id, state).catch((e) => ({ lines: [], error: String(e.message || e) }));
    return { detail, logs };
  },
  render({ detail, logs }, id) {
    const failed = detail.events.filter((/** @type {any} */ e) => e.kind === "failed" || e.kind === "actor dead");
    return [
      h("h2", null, "Task ", h("span", { class: "mono" }, id)),
      failed.length ? h("p", { class: "error", id: "task-error" }, failed[failed.length - 1].detail) : null,
      table("events", [
        ["at (UTC)", (e) => time(e.at_ms)],
        ["event", (e) => badge(e.kind)],
        ["label", (e) => e.label],
        ["host", (e) => e.host],
        ["attempt", (e) => (e.attempt ? String(e.attempt) : "")],
        ["ran", (e) => duration(e.run_ms)],
        ["detail", (e) => e.detail],
      ], detail.events),
      logs.error ? h("p", { class: "error" }, logs.error) : logsBlock(logs),
    ];
  },
};

/** @type {Page} */
const actorsPage = {
  load: () => api("actors"),
  render: (data) => table("actors", [
    ["id", (a) => h("span", { class: "mono" }, a.id)],
    ["name", (a) => (a.namespace ? `${a.namespace}/${a.name}` : a.name)],
    ["class", (a) => a.class],
    ["state", (a) => badge(a.state)],
    ["host", (a) => (a.gpus ? `${a.host} · ${a.gpus}` : a.host)],
    ["restarts", (a) => String(a.restarts)],
    ["calls", (a) => String(a.calls)],
    ["checkpoint", (a) => (a.checkpoint_error ? h("span", { class: "error" }, a.checkpoint_error)
      : a.checkpoint_bytes ? `${bytes(a.checkpoint_bytes)} after ${a.checkpoint_calls} calls` : "")],
    ["cause", (a) => a.cause],
  ], data.actors, (a) => `#/task/${encodeURIComponent(a.id)}`),
};

/** One bundle's resources, as `cpus=1 gpus=1 memory=1 GiB`.
 * @param {{cpus: number, gpus: number, memory: number, custom: Record<string, number>}} b */
function bundleText(b) {
  const parts = [];
  if (b.cpus) parts.push(`cpus=${b.cpus}`);
  if (b.gpus) parts.push(`gpus=${b.gpus}`);
  if (b.memory) parts.push(`memory=${bytes(b.memory)}`);
  for (const [name, amount] of Object.entries(b.custom || {})) parts.push(`${name}=${amount}`);
  return parts.join(" ");
}

/** @type {Page} */
const groupsPage = {
  load: () => api("groups"),
  render: (data) => table("groups", [
    ["id", (g) => h("span", { class: "mono" }, g.id)],
    ["name", (g) => (g.namespace ? `${g.namespace}/${g.name}` : g.name)],
    ["strategy", (g) => g.strategy],
    ["state", (g) => badge(g.state)],
    ["bundles", (g) => h("span", null, ...g.bundles.map(
      (/** @type {any} */ b, /** @type {number} */ i) => h("div", null, `${i}: ${bundleText(b)} → ${b.host || "-"}`)))],
    ["waits because", (g) => (g.pending_reason ? h("span", { class: "error" }, g.pending_reason) : "")],
  ], data.groups),
};

/** Each deployment's request count at the last look, for its rate.
 * @type {Map<string, {requests: number, at: number}>} */
const serveSeen = new Map();

/** Requests a second since the last look at deployment `d` (`-` on the
 * first). @param {any} d */
function serveRate(d) {
  const key = `${d.app}/${d.name}`;
  const now = { requests: Number(d.requests), at: performance.now() };
  const before = serveSeen.get(key);
  serveSeen.set(key, now);
  if (!before || now.at <= before.at || now.requests < before.requests) return "-";
  return ((now.requests - before.requests) / ((now.at - before.at) / 1000)).toFixed(1);
}

/** @type {Page} */
const servePage = {
  load: () => api("serve"),
  render: (data) => table("serve", [
    ["deployment", (d) => h("span", { class: "mono" }, `${d.app}/${d.name}`)],
    ["route", (d) => d.route || "-"],
    ["component", (d) => `${d.component} · ${String(d.digest).replace("sha256:", "").slice(0, 12)}`],
    ["replicas", (d) => `${d.replicas.filter((/** @type {any} */ r) => r.state === "running").length}/${d.target_replicas}`],
    ["by host", (d) => h("span", null, ...d.replicas.map(
      (/** @type {any} */ r) => h("div", null, `${r.host || "-"} · `, badge(r.state))))],
    ["requests held", (d) => String(d.ongoing_requests)],
    ["queued", (d) => String(d.queued_requests)],
    ["req/s", (d) => serveRate(d)],
    ["p50 / p99 (10 s)", (d) => (d.p99_ms ? `${Number(d.p50_ms).toFixed(1)} / ${Number(d.p99_ms).toFixed(1)} ms` : "-")],
    ["last decision", (d) => d.decision],
  ], data.apps.flatMap((/** @type {any} */ a) => a.deployments.map(
    (/** @type {any} */ d) => ({ ...d, app: a.name })))),
};

/** @type {Page} */
const objectsPage = {
  async load() {
    const [o, objects] = await Promise.all([overview(), api("objects")]);
    return { o, objects };
  },
  render({ o, objects }) {
    return [
      h("h2", null, "Object store use by host"),
      h("div", { class: "panel", id: "store-chart" },
        lineChart(o.history?.at || [], o.history?.store || {}, { format: bytes, label: "store use" })),
      ...objects.hosts.map((/** @type {any} */ s) => h("div", null,
        h("h2", null, `Host ${s.host}`),
        s.error ? h("p", { class: "error" }, s.error) : h("div", null,
          h("p", null, bar(s.used, s.capacity, bytes),
            h("span", { class: "muted" }, `  ${s.objects} objects · primary ${bytes(s.primary)} · secondary ${bytes(s.secondary)} · spilled ${bytes(s.spilled)} in ${s.spilled_objects} objects · ${s.spills} spills, ${s.restores} restores, ${s.evictions} evictions · pulled ${bytes(s.pulled)}, served ${bytes(s.served)}`)),
          table(`largest-${s.host}`, [
            ["object", (x) => h("span", { class: "mono" }, x.id)],
            ["size", (x) => bytes(x.size)],
            ["holder", () => s.host],
            ["state", (x) => x.state],
          ], s.largest)))),
      h("h2", null, `Objects (${objects.objects.length} newest of ${objects.total})`),
      table("objects", [
        ["object", (x) => h("span", { class: "mono" }, x.id)],
        ["kind", (x) => x.kind],
        ["owner", (x) => h("span", { class: "mono" }, x.owner)],
        ["size", (x) => bytes(x.size)],
        ["where", (x) => x.held_by === "" ? "inline" : x.copies.map(
          (/** @type {any} */ c) => `${c.host} ${c.state.toLowerCase()}${c.pins ? ` pinned ${c.pins}` : ""}`).join(", ") || x.held_by],
        ["refs", (x) => String(x.refs)],
      ], objects.objects),
    ];
  },
};

/** @param {any} j */
function ended(j) {
  return ["SUCCEEDED", "FAILED", "STOPPED"].includes(j.state);
}

/** @param {any} j */
function stopButton(j) {
  if (ended(j)) return "";
  const button = h("button", {
    class: "danger",
    "data-stop": j.id,
    onclick: async (/** @type {Event} */ ev) => {
      ev.stopPropagation();
      button.setAttribute("disabled", "");
      try {
        await api(`jobs/stop?id=${encodeURIComponent(j.id)}`, { method: "POST", headers: { "x-weft-dashboard": "1" } });
      } catch (e) {
        showBanner(`Could not stop ${j.id}: ${e instanceof Error ? e.message : e}`);
      }
    },
  }, "stop");
  return button;
}

/** @type {Page} */
const jobsPage = {
  load: () => api("jobs"),
  render: (data) => table("jobs", [
    ["id", (j) => h("span", { class: "mono" }, j.id)],
    ["name", (j) => j.name],
    ["state", (j) => badge(j.state)],
    ["driver", (j) => `${j.component} ${j.call}`],
    ["attempt", (j) => `${j.attempt} of ${j.max_retries + 1}`],
    ["host", (j) => j.host],
    ["submitted (UTC)", (j) => time(j.submitted_ms)],
    ["ran", (j) => (j.started_ms ? duration((j.ended_ms || Date.now()) - j.started_ms) : "")],
    ["", (j) => stopButton(j)],
  ], data.jobs, (j) => `#/job/${encodeURIComponent(j.id)}`),
};

/** @type {Page} */
const jobPage = {
  async load(id, state) {
    const { jobs } = await api("jobs");
    const job = jobs.find((/** @type {any} */ j) => j.id === id || j.name === id);
    if (!job) throw new ViewFailed(`no job ${id}`);
    const logs = job.started_ms
      ? await followLogs(job.id, state).catch((e) => ({ lines: [], error: String(e.message || e) }))
      : { lines: [], waiting: "not started yet" };
    return { job, logs };
  },
  render({ job, logs }) {
    const field = (/** @type {string} */ k, /** @type {any} */ v) => (v ? h("tr", null, h("th", null, k), h("td", { class: "wrap" }, v)) : null);
    return [
      h("h2", null, "Job ", h("span", { class: "mono" }, job.id), " ", badge(job.state), " ", stopButton(job)),
      h("div", { class: "panel" }, h("table", { id: "job" }, h("tbody", null,
        field("name", job.name), field("driver", `${job.component} ${job.call}`),
        field("attempt", `${job.attempt} of ${job.max_retries + 1}`), field("task", job.task), field("host", job.host),
        field("submitted (UTC)", time(job.submitted_ms)), field("started (UTC)", time(job.started_ms)),
        field("ended (UTC)", time(job.ended_ms)), field("reason", job.reason), field("result", job.result)))),
      logs.error ? h("p", { class: "error" }, logs.error) : logsBlock(logs),
    ];
  },
};

/** @type {Page} */
const tunePage = {
  load: () => api("tune"),
  render: (data) => table("tune", [
    ["id", (e) => h("span", { class: "mono" }, e.id)],
    ["name", (e) => e.name],
    ["state", (e) => badge(e.state)],
    ["trainable", (e) => `${e.component}.${e.function}`],
    ["trials", (e) => String(e.total_trials)],
    ["metric", (e) => `${e.mode} ${e.metric}`],
    ["started (UTC)", (e) => time(e.started_ms)],
    ["ran", (e) => (e.started_ms ? duration((e.ended_ms || Date.now()) - e.started_ms) : "")],
  ], data.experiments, (e) => `#/experiment/${encodeURIComponent(e.id)}`),
};

/** A trial's number as the table shows it. @param {any} v */
function metricText(v) {
  return typeof v === "number" ? String(Number(v.toPrecision(6))) : "-";
}

/** @type {Page} */
const experimentPage = {
  load: (id) => api(`experiment?id=${encodeURIComponent(id)}`),
  render(e) {
    const count = (/** @type {string} */ state) => e.trials.filter((/** @type {any} */ t) => t.state === state).length;
    const best = e.trials.find((/** @type {any} */ t) => t.id === e.best_trial);
    return [
      h("h2", null, "Experiment ", h("span", { class: "mono" }, e.id), " ", badge(e.state),
        e.name ? ` ${e.name}` : ""),
      h("p", { class: "muted" },
        `${e.mode} ${e.metric} · ${e.trials.length} of ${e.total_trials} trials · ${count("RUNNING")} running, `
        + `${count("TERMINATED")} terminated, ${count("STOPPED")} stopped early, ${count("ERROR")} error`
        + (best ? ` · best ${best.id} (${metricText(best.best)}): ${JSON.stringify(best.config)}` : "")
        + (e.reason ? ` · ${e.reason}` : "")),
      table("trials", [
        ["trial", (t) => h("span", { class: "mono" }, t.id)],
        ["state", (t) => badge(t.state)],
        ["iter", (t) => String(t.results.length)],
        [`last ${e.metric}`, (t) => metricText(t.results.length ? t.results[t.results.length - 1][e.metric] : null)],
        ["best", (t) => metricText(t.best)],
        ["config", (t) => h("span", { class: "mono" }, JSON.stringify(t.config))],
        ["ran", (t) => (t.time_ms > 0 ? duration(t.time_ms) : "")],
        ["why it ended", (t) => (t.error ? h("span", { class: "error" }, t.error) : t.stopped_by)],
      ], e.trials),
    ];
  },
};

/** @type {Page} */
const componentsPage = {
  async load() {
    const [c, o] = await Promise.all([api("components"), overview()]);
    return { c, o };
  },
  render({ c, o }) {
    const counts = new Map((o.routes || []).map((/** @type {any} */ r) => [r.route, r]));
    const rates = o.history?.routes || {};
    const latest = (/** @type {number[] | undefined} */ xs) => (xs && xs.length ? xs[xs.length - 1] : 0);
    const routeRows = [...c.routes.map((/** @type {any} */ r) => ({ ...r, counted: counts.get(r.path) })),
      ...[...counts.values()].filter((r) => r.route.startsWith("/v1/")).map((r) => ({ path: r.route, component: "(call endpoint)", counted: r }))];
    const rateSeries = Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, /** @type {any} */ (v).requests_per_s]));
    return [
      h("h2", null, "Routes"),
      table("routes", [
        ["path", (r) => h("span", { class: "mono" }, r.path)],
        ["component", (r) => r.component],
        ["token", (r) => (r.auth ? "required" : "")],
        ["requests", (r) => String(r.counted?.requests || 0)],
        ["per second", (r) => latest(rates[r.path]?.requests_per_s).toFixed(1)],
        ["5xx", (r) => String(r.counted?.errors || 0)],
        ["statuses", (r) => Object.entries(r.counted?.statuses || {}).map(([s, n]) => `${s}: ${n}`).join("  ")],
      ], routeRows),
      Object.keys(rateSeries).length ? h("h2", null, "Requests per second by route") : null,
      Object.keys(rateSeries).length
        ? h("div", { class: "panel", id: "route-chart" }, lineChart((o.history?.at || []).slice(1), rateSeries, { format: (v) => v.toFixed(1), label: "requests per second" }))
        : null,
      h("h2", null, "Components"),
      table("components", [
        ["names", (x) => x.names.join(", ") || h("span", { class: "muted" }, "(digest only)")],
        ["digest", (x) => h("span", { class: "mono", title: x.digest }, x.digest.slice(0, 19))],
        ["size", (x) => bytes(x.size)],
        ["deployed (UTC)", (x) => time(x.deployed_ms)],
        ["exports", (x) => h("div", null, x.functions.map((/** @type {any} */ f) => h("div", { class: "mono" }, f.signature.startsWith(f.name) ? f.signature : `${f.name}: ${f.signature}`)))],
      ], c.components),
    ];
  },
};

/** @type {Record<string, Page>} */
const PAGES = {
  cluster: clusterPage,
  tasks: tasksPage,
  task: taskPage,
  actors: actorsPage,
  groups: groupsPage,
  serve: servePage,
  objects: objectsPage,
  jobs: jobsPage,
  job: jobPage,
  tune: tunePage,
  experiment: experimentPage,
  components: componentsPage,
};

// ---- the loop ----

function signIn(/** @type {string} */ why) {
  page.replaceChildren(h("div", { class: "panel signin" },
    h("h2", null, "Sign in"),
    h("p", { class: "muted" }, why || "This cluster needs a token."),
    h("form", { method: "post", action: "/login" },
      h("input", { name: "token", type: "password", placeholder: "the cluster's admin or invoke token", autocomplete: "off" }),
      h("button", { type: "submit" }, "Sign in"))));
}

async function run() {
  const gen = ++generation;
  const [, name = "cluster", ...rest] = location.hash.split("/");
  const arg = decodeURIComponent(rest.join("/"));
  const view = PAGES[name] || clusterPage;
  const section = { task: "tasks", job: "jobs", experiment: "tune" }[name] || name;
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.getAttribute("href") === `#/${section}`);
  }
  const state = {};
  const body = h("div", { id: "view" });
  const controls = view.setup ? view.setup(arg, state, body) : null;
  let first = true;
  while (gen === generation) {
    try {
      const data = await view.load(arg, state);
      if (gen !== generation) return;
      const drawn = view.render(data, arg, state);
      body.replaceChildren(...[drawn].flat().filter((x) => x !== null && x !== undefined));
      if (first) {
        page.replaceChildren(...[controls, body].filter((x) => x !== null));
        first = false;
        // When the first data was drawn, for `weft`'s own measurements.
        /** @type {any} */ (window).weftFirstData ??= performance.now();
      }
      live.textContent = `updated ${new Date().toLocaleTimeString()}`;
      live.classList.remove("stale");
      showBanner(null);
    } catch (e) {
      if (gen !== generation) return;
      if (e instanceof SignInNeeded) { signIn(e.message); return; }
      live.classList.add("stale");
      if (e instanceof ViewFailed) {
        showBanner(e.message);
      } else {
        showBanner(`The dashboard does not answer (${e instanceof Error ? e.message : e}); retrying…`);
        if (failures >= FAILOVER_AFTER && (await failover())) return;
      }
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

window.addEventListener("hashchange", run);
run();
