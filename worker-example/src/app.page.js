// The balance-preview page: loads the customer's snapshot once, then prices
// estimates locally with the same WebAssembly ledger the server runs.
import { CreditLedger } from "/pkg/browser.js";

const params = new URLSearchParams(location.search);
const token = params.get("token") ?? "";
const $ = (id) => document.getElementById(id);
const poolName = (resourceId) => resourceId ?? "(global pool)";
const format = (n) => Number(n).toLocaleString("en-US", { maximumFractionDigits: 6 });

function customerOf(token) {
  const customer = params.get("customerId");
  if (customer) return customer;
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload + "===".slice((payload.length + 3) % 4))).c;
  } catch {
    return "";
  }
}

async function main() {
  const customerId = customerOf(token);
  $("customer").textContent = customerId || "?";
  const response = await fetch(`/v1/pools/snapshot?customerId=${encodeURIComponent(customerId)}`, { headers: { authorization: `Bearer ${token}` } });
  const snapshot = await response.json();
  if (!response.ok) throw new Error(`${snapshot.error?.code}: ${snapshot.error?.message}`);
  renderPools(snapshot);
  renderCharts(snapshot);
  renderBreakdown(snapshot);
  setUpEstimates(snapshot);
  document.body.dataset.ready = "true";
}

function renderPools(snapshot) {
  const rows = snapshot.pools.map((pool) => {
    const tr = document.createElement("tr");
    tr.dataset.pool = poolName(pool.resourceId);
    const cells = [poolName(pool.resourceId), pool.currencyId, pool.planId ?? "—", format(pool.balance.totalGranted), format(pool.balance.totalConsumed), format(pool.balance.currentBalance)];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i >= 3) td.className = "num";
      if (i === 5) { td.dataset.balance = String(pool.balance.currentBalance); if (pool.balance.currentBalance < 0) td.classList.add("negative"); }
      tr.append(td);
    });
    return tr;
  });
  $("pools").querySelector("tbody").replaceChildren(...rows);
}

function renderCharts(snapshot) {
  const sign = { CREDITS_GRANTED: 1, CREDITS_CONSUMED: -1, CREDITS_EXPIRED: -1, CREDITS_VOIDED: -1 };
  const charts = snapshot.pools.map((pool) => {
    let balance = 0;
    const points = pool.events.map((e) => { balance += (sign[e.eventType] ?? 0) * e.amount; return [Date.parse(e.timestamp), balance]; });
    const figure = document.createElement("figure");
    const caption = document.createElement("figcaption");
    caption.textContent = `${poolName(pool.resourceId)} · ${pool.currencyId}`;
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 600 160");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.dataset.pool = poolName(pool.resourceId);
    if (points.length > 0) {
      const [t0, t1] = [points[0][0], Math.max(points.at(-1)[0], points[0][0] + 1)];
      const values = points.map((p) => p[1]).concat(0);
      const lo = Math.min(...values);
      const hi = Math.max(...values, lo + 1);
      const x = (t) => 10 + ((t - t0) / (t1 - t0)) * 580;
      const y = (v) => 150 - ((v - lo) / (hi - lo || 1)) * 140;
      const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
      line.setAttribute("points", points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" "));
      line.setAttribute("fill", "none");
      line.setAttribute("stroke", "#3056d3");
      line.setAttribute("stroke-width", "2");
      svg.append(line);
    }
    figure.append(caption, svg);
    return figure;
  });
  $("charts").replaceChildren(...charts);
}

function renderBreakdown(snapshot) {
  const rows = [];
  for (const pool of snapshot.pools) {
    const byFeature = new Map();
    for (const e of pool.events) {
      if (e.eventType !== "CREDITS_CONSUMED" || !e.featureId) continue;
      const entry = byFeature.get(e.featureId) ?? { credits: 0, events: new Set() };
      entry.credits += e.amount;
      entry.events.add(e.eventId);
      byFeature.set(e.featureId, entry);
    }
    for (const [featureId, { credits, events }] of byFeature) {
      const tr = document.createElement("tr");
      for (const [text, num] of [[poolName(pool.resourceId)], [featureId], [format(credits), true], [String(events.size), true]]) {
        const td = document.createElement("td");
        td.textContent = text;
        if (num) td.className = "num";
        tr.append(td);
      }
      rows.push(tr);
    }
  }
  $("breakdown").querySelector("tbody").replaceChildren(...rows);
}

function setUpEstimates(snapshot) {
  // A ledger over the snapshot's heads, frozen at the snapshot's time: estimates
  // write nothing, so this in-memory copy never diverges from what it showed.
  const entries = new Map(Object.entries(snapshot.entries));
  const ledger = new CreditLedger({
    kv: { get: (key) => entries.get(key), put: () => { throw new Error("the preview is read-only"); } },
    catalog: snapshot.catalog,
    now: () => Date.parse(snapshot.generatedAt),
  });
  const pools = snapshot.pools.filter((p) => p.planId);
  $("estimate-pool").replaceChildren(...pools.map((p, i) => new Option(`${poolName(p.resourceId)} (${p.planId})`, String(i))));
  const features = () => {
    const plan = snapshot.catalog.plans.find((p) => p.id === pools[Number($("estimate-pool").value)]?.planId);
    return (plan?.creditRates ?? []).filter((rate) => !rate.costFormula);
  };
  const fillFeatures = () => $("estimate-feature").replaceChildren(...features().map((f) => new Option(f.featureId, f.featureId)));
  const update = async () => {
    const pool = pools[Number($("estimate-pool").value)];
    const value = Number($("estimate-quantity").value);
    if (!pool || !(value > 0)) { $("estimate-result").textContent = "—"; return; }
    try {
      const { estimates: [estimate] } = await ledger.estimateUsageCost({ customerId: snapshot.customerId, resourceId: pool.resourceId, featureId: $("estimate-feature").value, value });
      $("estimate-result").textContent = `costs ${format(estimate.estimatedCost)}; balance ${format(estimate.currentBalance)} → ${format(estimate.balanceAfterEstimate)}${estimate.wouldOverdraft ? " (overdraft)" : ""}`;
      $("estimate-result").dataset.cost = String(estimate.estimatedCost);
      $("estimate-result").dataset.after = String(estimate.balanceAfterEstimate);
    } catch (error) {
      $("estimate-result").textContent = `${error.code}: ${error.message}`;
    }
  };
  $("estimate-pool").addEventListener("change", () => { fillFeatures(); update(); });
  $("estimate-feature").addEventListener("change", update);
  $("estimate-quantity").addEventListener("input", update);
  fillFeatures();
  return update();
}

main().catch((error) => { $("error").textContent = String(error.message ?? error); document.body.dataset.ready = "error"; });
