// The console's page: draws the topology, traffic, DNS questions and faults,
// and follows them over the event stream. Buttons act through admin
// endpoints: /_emulator/console/act as the service's owner (the page holds
// no secret to sign Query API calls with, which --strict-auth demands) and
// the fault endpoints.
"use strict";

const state = { regions: [], faults: [], counters: {}, targets: {}, last: {} };
const KEEP = 25;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") e.addEventListener("click", v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const kid of kids.flat()) if (kid !== undefined && kid !== null) e.append(kid);
  return e;
}

async function getJSON(path) {
  const r = await fetch(path);
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

function report(err) {
  const h = document.querySelector("header");
  let e = document.getElementById("error");
  if (!e) { e = el("span", { id: "error" }); h.append(e); }
  e.textContent = String(err.message || err);
}

// Accepts or rejects an endpoint's connection as the service's owner.
async function decideConnection(action, region, serviceId, endpointId) {
  const body = JSON.stringify({ action, region, service_id: serviceId, endpoint_id: endpointId });
  const r = await fetch("/_emulator/console/act", { method: "POST", headers: { "Content-Type": "application/json" }, body });
  if (!r.ok) throw new Error((await r.json()).error || `HTTP ${r.status}`);
}

async function addFault(spec) {
  const r = await fetch("/_emulator/faults", { method: "POST", body: JSON.stringify(spec) });
  if (!r.ok) throw new Error((await r.json()).error);
}

async function clearFault(id) {
  const path = id ? `/_emulator/faults?id=${encodeURIComponent(id)}` : "/_emulator/faults";
  const r = await fetch(path, { method: "DELETE" });
  if (!r.ok) throw new Error((await r.json()).error);
}

function act(f) {
  return (ev) => { ev.target.disabled = true; f().catch(report).finally(() => { ev.target.disabled = false; }); };
}

function badge(cls, value) {
  return el("span", { class: cls, ["data-" + cls]: value }, value);
}

function faultOn(kind, match) {
  return state.faults.find((f) => f.kind === kind && match(f));
}

function renderTopology() {
  const root = document.getElementById("topology");
  const services = new Map();
  for (const r of state.regions) for (const s of r.services) services.set(s.id, { ...s, region: r.region });
  const regions = state.regions.map((r) => {
    const owners = [...new Set([...r.vpcs, ...r.load_balancers, ...r.services, ...r.endpoints].map((x) => x.owner))].sort();
    const accounts = owners.map((owner) => {
      const mine = (list) => list.filter((x) => x.owner === owner);
      return el("div", { class: "account", id: `account-${owner}-${r.region}` },
        el("h3", {}, `account ${owner}`),
        mine(r.vpcs).map((v) => el("div", { class: "box vpc", id: `vpc-${v.id}` },
          el("b", {}, "VPC "), v.id, " ", el("span", { class: "muted" }, v.cidr),
          el("ul", {}, v.subnets.map((s) => el("li", {}, `${s.zone} ${s.cidr} `, el("span", { class: "id" }, s.id)))))),
        mine(r.load_balancers).map((lb) => el("div", { class: "box nlb", id: `nlb-${lb.name}` },
          el("b", {}, "NLB "), lb.name, " ", badge("state", lb.state),
          el("ul", {}, lb.nodes.map((n) => {
            const down = faultOn("zone-down", (f) => f.zone === n.zone);
            return el("li", { class: "node" }, `node ${n.zone} ${n.address} `, el("span", { class: "id" }, n.eni),
              down ? el("button", { onclick: act(() => clearFault(down.id)) }, "restore zone")
                : el("button", { class: "danger", onclick: act(() => addFault({ kind: "zone-down", zone: n.zone })) }, "fail zone"));
          })),
          lb.listeners.map((l) => el("div", {}, `listener ${l.listener} → ${l.target_group || "?"}`,
            el("ul", {}, l.targets.map((t) => {
              const down = faultOn("target-down", (f) => f.target === t.id || f.target === `${t.id}:${t.port}`);
              const tc = (state.targets[l.target_group_arn] || {})[`${t.id}:${t.port}`];
              return el("li", { class: "target", id: `target-${t.id}-${t.port}`, "data-health": t.health,
                "data-group": l.target_group_arn, "data-key": `${t.id}:${t.port}` },
                `${t.id}:${t.port} `, badge("health", t.health), t.reason ? el("span", { class: "muted" }, ` ${t.reason}`) : null,
                tc ? targetCounters(el("span", { class: "muted counters" }), tc) : null,
                down ? el("button", { class: "target-up", onclick: act(() => clearFault(down.id)) }, "bring back")
                  : el("button", { class: "danger target-down", onclick: act(() => addFault({ kind: "target-down", target: t.id })) }, "take down"));
            })))))),
        mine(r.services).map((s) => el("div", { class: "box service", id: `service-${s.id}` },
          el("b", {}, "service "), s.name, " ", badge("state", s.state),
          el("div", { class: "muted" }, `acceptance required: ${s.acceptance_required}; allowed: ${s.allowed_principals.join(", ") || "nobody"}`))),
        mine(r.endpoints).map((e) => {
          const svc = services.get(e.service_id);
          const decide = (action) => act(() => decideConnection(action, svc.region, svc.id, e.id));
          const c = state.counters[e.id];
          return el("div", { class: "box endpoint", id: `endpoint-${e.id}`, "data-state": e.state },
            el("b", {}, "endpoint "), e.id, " ", badge("state", e.state),
            svc && e.state === "pendingAcceptance" ? [
              el("button", { class: "accept", onclick: decide("AcceptVpcEndpointConnections") }, "accept (as provider)"),
              el("button", { class: "danger reject", onclick: decide("RejectVpcEndpointConnections") }, "reject")] : null,
            el("div", { class: "muted" }, `in ${e.vpc_id} → ${e.service_name}`),
            el("ul", {}, e.enis.map((n) => el("li", { class: "eni" }, `ENI ${n.zone} ${n.address} `, el("span", { class: "id" }, n.id)))),
            c ? endpointCounters(el("div", { class: "muted counters" }), c) : null);
        }));
    });
    return el("div", { class: "region" }, el("h2", {}, r.region), el("div", { class: "accounts" }, accounts));
  });
  root.replaceChildren(...(regions.length ? regions : [el("p", { class: "muted" }, "Nothing yet: create a VPC.")]));
}

function endpointCounters(e, c) {
  e.textContent = `open ${c.active}, flows ${c.connections} (${c.rate.toFixed(1)}/s), refused ${c.refused}, bytes in ${c.bytes_in} / out ${c.bytes_out}`;
  return e;
}

function targetCounters(e, tc) {
  e.dataset.active = tc.active; e.dataset.connections = tc.connections;
  e.dataset.bytesIn = tc.bytes_in; e.dataset.bytesOut = tc.bytes_out;
  e.textContent = ` open ${tc.active}, flows ${tc.connections} (${tc.rate.toFixed(1)}/s), bytes in ${tc.bytes_in} / out ${tc.bytes_out} `;
  return e;
}

// Counters change every poll, the topology rarely: the numbers are
// written into the page as it is, and the topology is drawn again only
// when a box that now has counters had none (each redraw of the page
// costs the browser far more than the new text).
function showCounters() {
  for (const box of document.querySelectorAll(".box.endpoint")) {
    const c = state.counters[box.id.slice("endpoint-".length)];
    const e = box.querySelector(":scope > .counters");
    if (c && !e) return renderTopology();
    if (c) endpointCounters(e, c);
  }
  for (const li of document.querySelectorAll("li.target")) {
    const tc = (state.targets[li.dataset.group] || {})[li.dataset.key];
    const e = li.querySelector(".counters");
    if (tc && !e) return renderTopology();
    if (tc) targetCounters(e, tc);
  }
}

function renderFaults() {
  const root = document.getElementById("faults");
  if (!state.faults.length) { root.replaceChildren(el("p", { class: "muted" }, "None.")); return; }
  root.replaceChildren(
    el("ul", {}, state.faults.map((f) => {
      const { id, kind, hits, created_ms, expires_ms, ...rest } = f;
      const what = Object.entries(rest).map(([k, v]) => `${k}=${v}`).join(" ");
      const until = expires_ms ? ` until ${new Date(expires_ms).toLocaleTimeString()}` : "";
      return el("li", { class: "fault", id: `fault-${id}` }, `${id} ${kind} ${what} (hits ${hits})${until}`,
        el("button", { onclick: act(() => clearFault(id)) }, "clear"));
    })),
    el("button", { class: "danger", onclick: act(() => clearFault(null)) }, "clear all"));
}

function time(ms) { return new Date(ms).toLocaleTimeString(); }

function flowRow(f) {
  return el("tr", { class: "flow" },
    el("td", {}, time(f.end_ms)), el("td", {}, f.vpc_endpoint_id), el("td", {}, f.source),
    el("td", {}, `${f.endpoint_eni} ${f.destination}`), el("td", { class: "node" }, f.nlb ? f.nlb.node : "-"),
    el("td", {}, f.nlb ? f.nlb.target : "-"), el("td", {}, `${f.bytes_in} / ${f.bytes_out}`),
    el("td", {}, `${f.end_ms - f.start_ms} ms`), el("td", {}, f.ended), el("td", { class: f.action }, f.action));
}

function queryRow(q) {
  return el("tr", { class: "query" },
    el("td", {}, q.query_timestamp), el("td", {}, q.vpc_id ? `${q.vpc_id} (${q.account_id})` : "public"),
    el("td", {}, q.srcaddr), el("td", {}, q.query_name), el("td", {}, q.query_type), el("td", {}, q.rcode),
    el("td", {}, q.answers.map((a) => a.Rdata).join(", ")));
}

// The latest first: new rows go on top, the oldest past KEEP leave; rows
// already shown are not drawn again.
function showRows(selector, items, row) {
  const body = document.querySelector(selector);
  body.prepend(...items.slice(-KEEP).reverse().map(row));
  while (body.rows.length > KEEP) body.lastElementChild.remove();
}

async function loadTopology() {
  const t = await getJSON("/_emulator/console/topology");
  state.regions = t.regions;
  document.getElementById("revision").textContent = `revision ${t.revision}`;
  renderTopology();
}

async function loadCounters() {
  const st = await getJSON("/_emulator/status");
  const now = Date.now();
  const rows = (st.dataplane && st.dataplane.endpoints) || {};
  for (const [id, c] of Object.entries(rows)) {
    const before = state.last[id];
    c.rate = before ? Math.max(0, (c.connections - before.connections) * 1000 / Math.max(1, now - before.at)) : 0;
    state.last[id] = { connections: c.connections, at: now };
    state.counters[id] = c;
  }
  const groups = (st.dataplane && st.dataplane.targets) || {};
  for (const [group, targets] of Object.entries(groups)) {
    for (const [target, c] of Object.entries(targets)) {
      const key = `${group} ${target}`;
      const before = state.last[key];
      c.rate = before ? Math.max(0, (c.connections - before.connections) * 1000 / Math.max(1, now - before.at)) : 0;
      state.last[key] = { connections: c.connections, at: now };
    }
  }
  state.targets = groups;
  showCounters();
}

let pending = null;
function soon(f) {
  if (pending) return;
  pending = setTimeout(() => { pending = null; f().catch(report); }, 100);
}

async function start() {
  const [flows, queries, faults] = await Promise.all([
    getJSON(`/_emulator/flows?limit=${KEEP}`), getJSON(`/_emulator/query-logs?limit=${KEEP}`), getJSON("/_emulator/faults")]);
  state.faults = faults.faults;
  await loadTopology();
  renderFaults(); showRows("#flows tbody", flows.flows, flowRow); showRows("#queries tbody", queries, queryRow);
  await loadCounters();
  setInterval(() => loadCounters().catch(report), 2000);
  const events = new EventSource("/_emulator/console/events");
  const live = document.getElementById("live");
  events.addEventListener("hello", () => { live.dataset.live = "yes"; live.textContent = "live"; });
  events.onerror = () => { live.dataset.live = "no"; live.textContent = "reconnecting"; };
  events.addEventListener("change", () => soon(loadTopology));
  // Flows and queries come in batches (at most one a second), the latest of each.
  events.addEventListener("flows", (e) => showRows("#flows tbody", JSON.parse(e.data).flows, flowRow));
  events.addEventListener("queries", (e) => showRows("#queries tbody", JSON.parse(e.data).queries, queryRow));
  events.addEventListener("faults", (e) => { state.faults = JSON.parse(e.data); renderFaults(); renderTopology(); });
}

start().catch(report);
