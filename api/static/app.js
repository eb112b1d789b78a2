// The dashboard: live hosts (metric:lobby) and counters (counters:lobby) over Phoenix channels,
// a chart of any series or expression from /api/v1/query_range, and the cluster from /cluster.
// Served by every node; phoenix.js reconnects to the node that served it, and rejoins.
import { Socket } from "/static/vendor/phoenix/phoenix.mjs";
import uPlot from "/static/vendor/uplot/uPlot.esm.js";

const $ = (id) => document.getElementById(id);
const SHOWN_COUNTERS = 200; // rows of the table; the filter narrows the rest
const SPARK_POINTS = 60; // seconds of each host gauge's sparkline
const GAUGES = [["cpu_usage", "CPU"], ["memory_usage", "Memory"], ["disk_usage", "Disk"]];

function element(tag, attributes = {}, ...children) {
  const made = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, value);
  made.append(...children);
  return made;
}

async function getJSON(path) {
  const answer = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await answer.json();
  if (!answer.ok) throw new Error(body.error || body.detail || `${answer.status}`);
  return body;
}

// Hosts: each host's gauges, with a sparkline of the last minute.
const hostHistory = new Map(); // id -> {cpu_usage: [..], ...}

function sparkline(values) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${SPARK_POINTS - 1} 100`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-hidden", "true");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  const first = SPARK_POINTS - values.length;
  line.setAttribute("points", values.map((v, i) => `${first + i},${100 - v}`).join(" "));
  svg.append(line);
  return svg;
}

function showHosts(rows) {
  const shown = new Set(rows.map((row) => row.id));
  for (const id of hostHistory.keys()) if (!shown.has(id)) hostHistory.delete(id);
  for (const row of rows) {
    const history = hostHistory.get(row.id) || Object.fromEntries(GAUGES.map(([k]) => [k, []]));
    for (const [key] of GAUGES) {
      history[key].push(Number(row[key]));
      history[key].splice(0, history[key].length - SPARK_POINTS);
    }
    hostHistory.set(row.id, history);
  }
  const cards = rows.map((row) => {
    const history = hostHistory.get(row.id);
    const gauges = GAUGES.map(([key, name]) =>
      element("div", { class: "gauge", "data-gauge": key },
        `${name} ${Number(row[key]).toFixed(1)}%`, sparkline(history[key])));
    return element("article", { class: "host", "data-host": row.id, "data-at": row.timestamp },
      element("h3", {}, row.id), element("div", { class: "gauges" }, ...gauges));
  });
  $("hosts").replaceChildren(...(cards.length ? cards : [element("p", { class: "empty" },
    "no host has reported yet")]));
}

// Counters: read whole once joined (and after a reset), then kept by the pushed changes. Changes
// pushed while a read is out are kept and applied over it; an older read never lands last.
const counters = new Map();
let reading = 0; // the newest read's number
let pending = null; // changes pushed while that read is out

function showCounters() {
  const wanted = $("filter").value.trim().toLowerCase();
  const labels = [...counters.keys()].filter((l) => l.toLowerCase().includes(wanted)).sort();
  const rows = labels.slice(0, SHOWN_COUNTERS).map((label) =>
    element("tr", { "data-label": label }, element("td", {}, label),
      element("td", { class: "number" }, String(counters.get(label)))));
  $("counters").replaceChildren(...rows);
  const more = labels.length - rows.length;
  $("counters-note").textContent = more > 0
    ? `${labels.length.toLocaleString()} match; the first ${rows.length} shown: narrow the filter`
    : `${labels.length.toLocaleString()} of ${counters.size.toLocaleString()} counters`;
}

async function readCounters() {
  const mine = ++reading;
  pending = [];
  let all;
  try {
    all = await getJSON("/metrics");
  } catch (error) {
    if (mine === reading) $("counters-note").textContent = `counters not read: ${error.message}`;
    return;
  }
  if (mine !== reading) return; // a newer read is out
  const since = pending;
  pending = null;
  counters.clear();
  for (const [label, value] of Object.entries(all)) counters.set(label, value);
  since.forEach(applyChanges);
  showCounters();
}

function applyChanges(changed) {
  if (pending !== null) {
    pending.push(changed);
    return;
  }
  for (const [label, value] of Object.entries(changed)) {
    if (value === null) counters.delete(label);
    else counters.set(label, value);
  }
  showCounters();
}

// The chart: the picked metric or the expression, over a range at a step.
let plot = null;

function stepSeconds(range) {
  const picked = $("step").value;
  if (picked === "auto") return Math.max(1, Math.ceil(range / 240));
  if (picked === "free") return $("free-step").value.trim() || "60";
  return Number(picked);
}

function seriesName(metric) {
  const { __name__: name = "", ...labels } = metric;
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(", ");
  return pairs ? `${name}{${pairs}}` : name || "value";
}

async function draw() {
  const query = $("expression").value.trim() || $("metric").value;
  if (!query) {
    $("chart-note").textContent = "pick a metric or write an expression";
    return;
  }
  const range = Number($("range").value);
  const end = Date.now() / 1000;
  const params = new URLSearchParams({ query, start: String(end - range), end: String(end),
    step: String(stepSeconds(range)) });
  let result;
  try {
    result = (await getJSON(`/api/v1/query_range?${params}`)).data.result;
  } catch (error) {
    $("chart-note").textContent = `not drawn: ${error.message}`;
    return;
  }
  const times = [...new Set(result.flatMap((s) => s.values.map(([t]) => t)))].sort((a, b) => a - b);
  const columns = result.map((s) => {
    const at = new Map(s.values.map(([t, v]) => [t, Number(v)]));
    return times.map((t) => (at.has(t) ? at.get(t) : null));
  });
  const points = columns.reduce((n, c) => n + c.filter((v) => v !== null).length, 0);
  $("chart-note").textContent = `${query}: ${result.length} series, ${points} points`;
  $("chart").dataset.points = String(points);
  const width = $("chart").clientWidth || 320;
  const options = { width, height: 240, series: [{}, ...result.map((s, i) => ({
    label: seriesName(s.metric), stroke: `hsl(${(i * 67) % 360} 70% 45%)`, points: { show: true },
  }))] };
  if (plot) plot.destroy();
  plot = new uPlot(options, [times, ...columns], $("chart"));
  $("chart").dataset.drawn = JSON.stringify(plot.data); // what uPlot holds: times, then series
}

async function fillMetrics() {
  try {
    const names = (await getJSON("/api/v1/label/__name__/values")).data;
    const picked = $("metric").value;
    $("metric").replaceChildren(element("option", { value: "" }, "(pick one)"),
      ...names.slice(0, 5000).map((n) => element("option", { value: n }, n)));
    $("metric").value = names.includes(picked) ? picked : "";
  } catch (error) {
    $("chart-note").textContent = `metric names not read: ${error.message}`;
  }
}

// The cluster: nodes up or down, the actor and where it runs.
async function showCluster() {
  try {
    const cluster = await getJSON("/cluster");
    const peers = cluster.peers.map((p) => element("li", {},
      element("span", { class: p.status === "up" ? "up" : "down" }, p.status), ` ${p.name}`,
      p.self ? " (this page's node)" : ""));
    const actor = cluster.actor;
    const where = cluster.ray_nodes.find((n) => n.actor_here);
    const facts = [`actor: ${actor.state}`];
    if (actor.pid) facts.push(`pid ${actor.pid}`);
    if (actor.epoch !== undefined) facts.push(`epoch ${actor.epoch}`);
    if (where) facts.push(`on the Ray node at ${where.address}`);
    $("cluster").replaceChildren(element("ul", { id: "peers" }, ...peers),
      element("p", { id: "actor" }, facts.join(", ")));
  } catch (error) {
    $("cluster").replaceChildren(element("p", { class: "down" }, `not read: ${error.message}`));
  }
}

function connect() {
  const socket = new Socket("/socket", {});
  socket.onOpen(() => { $("status").textContent = "live"; });
  socket.onClose(() => { $("status").textContent = "reconnecting…"; });
  socket.onError(() => { $("status").textContent = "reconnecting…"; });
  socket.connect();
  const lobby = socket.channel("metric:lobby", {});
  lobby.on("metrics_data", ({ metrics }) => showHosts(metrics));
  lobby.join();
  const changes = socket.channel("counters:lobby", {});
  changes.on("counters_changed", ({ counters: changed }) => applyChanges(changed));
  changes.on("counters_reset", () => readCounters());
  changes.join().receive("ok", () => readCounters()); // again on every rejoin
}

$("filter").addEventListener("input", showCounters);
$("step").addEventListener("change", () => { $("free-step").hidden = $("step").value !== "free"; });
$("metric").addEventListener("focus", fillMetrics);
$("chart-form").addEventListener("submit", (event) => { event.preventDefault(); draw(); });
connect();
fillMetrics();
showCluster();
setInterval(showCluster, 5000);
