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

// Hosts: each host's gauges, with a sparkline of its last minute: the rows pushed, and on the
// first push the rows the node already holds, so the lines are drawn at once.
const hostHistory = new Map(); // id -> Map(timestamp -> row) of its newest SPARK_POINTS rows
let shownRows = [];
let seeded = false;

function remember(row) {
  const rows = hostHistory.get(row.id) || new Map();
  rows.set(row.timestamp, row); // a row pushed twice is kept once
  const kept = [...rows.keys()].sort().slice(-SPARK_POINTS); // RFC 3339 in UTC sorts by time
  hostHistory.set(row.id, new Map(kept.map((at) => [at, rows.get(at)])));
}

function sparkline(values) {
  const drawn = values.length === 1 ? [values[0], values[0]] : values; // one point: flat
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${SPARK_POINTS - 1} 100`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-hidden", "true");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  const first = SPARK_POINTS - drawn.length;
  line.setAttribute("points", drawn.map((v, i) => `${first + i},${100 - v}`).join(" "));
  svg.append(line);
  return svg;
}

async function seedHosts(count) {
  try {
    const limit = Math.min(10000, count * SPARK_POINTS);
    (await getJSON(`/v1/hosts/metrics?limit=${limit}`)).metrics.forEach(remember);
  } catch {
    seeded = false; // the next push tries again; the lines fill from pushes meanwhile
    return;
  }
  showHosts(shownRows);
}

function showHosts(rows) {
  shownRows = rows;
  if (!seeded && rows.length) {
    seeded = true;
    seedHosts(rows.length);
  }
  const shown = new Set(rows.map((row) => row.id));
  for (const id of hostHistory.keys()) if (!shown.has(id)) hostHistory.delete(id);
  rows.forEach(remember);
  const cards = rows.map((row) => {
    const history = [...hostHistory.get(row.id).values()];
    const gauges = GAUGES.map(([key, name]) =>
      element("div", { class: "gauge", "data-gauge": key, "data-points": history.length },
        `${name} ${Number(row[key]).toFixed(1)}%`,
        sparkline(history.map((past) => Number(past[key])))));
    return element("article", { class: "host", "data-host": row.id, "data-at": row.timestamp,
      "aria-label": `host ${row.id}` },
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
  const start = end - range;
  const params = new URLSearchParams({ query, start: String(start), end: String(end),
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
  const pointed = `${points} point${points === 1 ? "" : "s"}`;
  $("chart-note").textContent = `${query}: ${result.length} series, ${pointed}`;
  $("chart").dataset.points = String(points);
  // The canvas says nothing to a screen reader: the figure's name does.
  const names = result.slice(0, 5).map((s) => seriesName(s.metric)).join(", ");
  $("chart").setAttribute("aria-label", `Chart of ${query} over ${$("range").selectedOptions[0]
    .text}: ${result.length} series (${names || "none"}), ${pointed}`);
  const width = $("chart").clientWidth || 320;
  // The x axis is the range asked for, not the span of the points (one point spans years).
  const options = { width, height: 240, scales: { x: { time: true, range: [start, end] } },
    series: [{}, ...result.map((s, i) => ({
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

// The cluster: nodes up or down, each shard's actor and where it runs.
function actorFacts(actor, name, rayNodes) {
  const facts = [`${name}: ${actor.state}`];
  if (actor.pid) facts.push(`pid ${actor.pid}`);
  if (actor.epoch !== undefined) facts.push(`epoch ${actor.epoch}`);
  const where = rayNodes.find((n) => n.node_id === actor.node_id);
  if (where) facts.push(`on the Ray node at ${where.address}`);
  return facts.join(", ");
}

async function showCluster() {
  try {
    const cluster = await getJSON("/cluster");
    const peers = cluster.peers.map((p) => element("li", {},
      element("span", { class: p.status === "up" ? "up" : "down" }, p.status), ` ${p.name}`,
      p.self ? " (this page's node)" : ""));
    const shards = cluster.shards.length > 1
      ? cluster.shards.map((s) => actorFacts(s, `shard ${s.shard}`, cluster.ray_nodes))
      : [actorFacts(cluster.actor, "actor", cluster.ray_nodes)];
    $("cluster").replaceChildren(element("ul", { id: "peers" }, ...peers),
      ...shards.map((facts, i) => element("p", i ? { class: "shard" } : { id: "actor" }, facts)));
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
$("step").addEventListener("change", () => {
  const free = $("step").value === "free";
  for (const hidden of [$("free-step"), document.querySelector('label[for="free-step"]')]) {
    hidden.hidden = !free;
  }
});
$("metric").addEventListener("focus", fillMetrics);
$("chart-form").addEventListener("submit", (event) => { event.preventDefault(); draw(); });
connect();
fillMetrics();
showCluster();
setInterval(showCluster, 5000);
