// The dashboard page: polls /api/state and draws it. No framework, no build step.
//
// Everything shown comes from the network (task data is written by performers, names and endpoints
// by operators and AVS owners): it is only ever set as text (textContent, attribute values), never
// parsed as markup. There is no innerHTML in this file, and the page's Content-Security-Policy
// runs no inline script.
"use strict";

const REFRESH_MS = 1500;
const TOKEN_DECIMALS = 18n;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, String(value));
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function short(hex, keep = 6) {
  if (typeof hex !== "string") return "-";
  return hex.length > 2 * keep + 3 ? `${hex.slice(0, keep + 2)}…${hex.slice(-keep)}` : hex;
}

function tokens(wei) {
  // wei (decimal text) as tokens with up to 4 decimals
  let value;
  try { value = BigInt(wei); } catch (_) { return "-"; }
  const unit = 10n ** TOKEN_DECIMALS;
  const whole = value / unit;
  const frac = ((value % unit) * 10000n) / unit;
  return frac === 0n ? whole.toLocaleString() : `${whole.toLocaleString()}.${frac.toString().padStart(4, "0").replace(/0+$/, "")}`;
}

function seconds(value) {
  if (value === null || value === undefined) return "-";
  return value < 10 ? `${value.toFixed(2)} s` : `${value.toFixed(1)} s`;
}

function ago(stamp, now) {
  if (!stamp) return "never";
  const s = Math.max(0, now - stamp);
  if (s < 60) return `${s.toFixed(0)} s ago`;
  if (s < 3600) return `${(s / 60).toFixed(0)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

// --- the parts ------------------------------------------------------------------------------------

function drawHeader(state) {
  const health = state.aggregator.health;
  const items = [
    ["chain", `${state.chainId}`],
    ["block", state.block === null ? "unreachable" : state.block.toLocaleString()],
    ["center", short(state.attestationCenter)],
    ["aggregator", health ? `${health.status}` : "unreachable"],
  ];
  const network = document.getElementById("network");
  network.replaceChildren(
    ...items.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { class: k === "aggregator" ? `health-${v}` : null }, v)])
  );
  const errors = [...state.errors];
  if (health && health.status !== "ok" && health.error) errors.unshift(`aggregator: ${health.error}`);
  const box = document.getElementById("errors");
  box.hidden = errors.length === 0;
  box.replaceChildren(...errors.map((e) => el("div", {}, e)));
}

function drawSummary(state) {
  const health = state.aggregator.health || {};
  const counts = health.tasks || {};
  const landed = state.tasks.filter((t) => t.status === "landed");
  const latencies = landed.map((t) => t.latency).filter((v) => v !== null).sort((a, b) => a - b);
  const gas = landed.map((t) => t.gasUsed).filter((v) => v !== null).sort((a, b) => a - b);
  const median = (xs) => (xs.length ? xs[Math.floor(xs.length / 2)] : null);
  const online = state.operators.filter((o) => o.online === true).length;
  const cards = [
    ["open", health.openTasks ?? "-"],
    ["landed", counts.landed ?? "-"],
    ["failed", counts.failed ?? "-"],
    ["latency p50", seconds(median(latencies))],
    ["gas p50", median(gas) === null ? "-" : median(gas).toLocaleString()],
    ["attesters online", `${online} / ${state.operators.filter((o) => o.active).length}`],
  ];
  document.getElementById("summary").replaceChildren(
    ...cards.map(([k, v]) => el("div", { class: "card" }, el("div", { class: "value" }, v), el("div", { class: "dim" }, k)))
  );
}

function voteChips(task) {
  const chips = task.votes.map((v) =>
    el(
      "span",
      {
        class: `chip ${v.valid ? v.side : "invalid"}`,
        title: `operator ${v.operatorId}: ${v.side}${v.valid ? "" : " (invalid signature)"}`,
        "data-operator": v.operatorId,
      },
      `${v.operatorId}${v.side === "approve" ? "✓" : "✗"}`
    )
  );
  return el("div", { class: "chips" }, ...(chips.length ? chips : ["-"]));
}

function powerBar(task) {
  let total, approve, reject;
  try {
    total = BigInt(task.totalPower); approve = BigInt(task.approvePower); reject = BigInt(task.rejectPower);
  } catch (_) { return "-"; }
  if (total === 0n) return "-";
  const pct = (x) => Number((x * 1000n) / total) / 10;
  return el(
    "div",
    { class: "bar", title: `approve ${pct(approve)} %, reject ${pct(reject)} % of the voting power` },
    el("span", { class: "approve", "data-width": pct(approve) }),
    el("span", { class: "reject", "data-width": pct(reject) })
  );
}

function drawTasks(state) {
  const names = Object.fromEntries(state.definitions.map((d) => [d.id, d.name]));
  const rows = state.tasks.map((t) => {
    const status = t.status === "landed" ? (t.side === "reject" ? "rejected" : "approved") : t.status;
    const chain = t.taskNumber ? `#${t.taskNumber}` : t.txHash ? short(t.txHash) : "-";
    let detail = t.error || "";
    if (!detail) {
      detail = t.proofOfTask + (t.proofOfTaskLength > t.proofOfTask.length ? "…" : "");
    }
    return el(
      "tr",
      { "data-task-hash": t.taskHash, "data-status": t.status, "data-side": t.side || "" },
      el("td", {}, el("span", { class: `badge ${status}` }, status)),
      el("td", { class: "mono", title: t.taskHash }, short(t.taskHash)),
      el("td", {}, `${t.taskDefinitionId} ${names[t.taskDefinitionId] ?? ""}`),
      el("td", { class: "mono", title: t.performer }, short(t.performer, 4)),
      el("td", {}, voteChips(t)),
      el("td", {}, powerBar(t)),
      el("td", { class: "num" }, seconds(t.latency)),
      el("td", { class: "num" }, t.gasUsed === null ? "-" : t.gasUsed.toLocaleString()),
      el("td", { class: "mono", title: t.txHash || "" }, chain),
      el("td", { class: t.error ? "error detail" : "detail", title: detail }, detail)
    );
  });
  fill(document.querySelector("#tasks tbody"), rows);
  for (const bar of document.querySelectorAll("#tasks .bar span")) {
    bar.style.width = `${bar.getAttribute("data-width")}%`; // CSSOM, not a style attribute: CSP allows it
  }
  document.getElementById("tasks-note").textContent = `newest ${state.tasks.length}, from the aggregator`;
}

function drawOperators(state) {
  const now = state.generatedAt;
  const rows = state.operators.map((o) => {
    const attester = o.online === true ? "online" : o.online === false ? "offline" : "unknown";
    const seen = o.online === false && o.lastFailure ? `${attester}: ${o.lastFailure}` : attester;
    return el(
      "tr",
      { "data-operator": o.id, "data-online": attester, class: o.active ? null : "inactive" },
      el("td", { class: "num" }, o.id),
      el("td", { class: "mono", title: o.account }, short(o.account, 4)),
      el("td", { class: "num" }, tokens(o.stake)),
      el("td", { class: "num" }, o.active ? `${(o.powerShare * 100).toFixed(1)} %` : "inactive"),
      el("td", { title: `last answer ${ago(o.lastAnswerAt, now)}; endpoint ${o.endpoint || "none"}` },
        el("span", { class: `dot ${attester}` }), seen),
      el("td", { class: "num" }, o.votesReceived),
      el("td", { class: "num" }, o.signedOnChain),
      el("td", { class: "num" }, tokens(o.claimableRewards)),
      el("td", { class: o.slashes ? "num error" : "num" }, o.slashes ? `${tokens(o.slashed)} (${o.slashes}×)` : "-")
    );
  });
  fill(document.querySelector("#operators tbody"), rows);
}

function drawDefinitions(state) {
  const rows = state.definitions.map((d) => {
    const p = d.penalties;
    const punished = [
      p.doubleAttestation && "double attestation",
      p.incorrectAttestation && "incorrect attestation",
      p.rejectedTask && "rejected task",
    ].filter(Boolean);
    return el(
      "tr",
      { "data-definition": d.id },
      el("td", { class: "num" }, d.id),
      el("td", {}, d.name),
      el("td", {}, `${d.members} (power ${tokens(d.totalPower)})`),
      el("td", {}, `${tokens(d.attesterReward)} / ${tokens(d.performerReward)} / ${tokens(d.aggregatorReward)}`),
      el("td", { class: "num" }, `${d.disputePeriodBlocks} blocks`),
      el("td", { class: "num" }, d.blockExpiry ? `block ${d.blockExpiry}` : "never"),
      el("td", {}, punished.length ? `${punished.join(", ")}: ${p.slashBps / 100} %` : "none"),
      el("td", { class: "num" }, `${d.approved} ✓ ${d.rejected} ✗`)
    );
  });
  fill(document.querySelector("#definitions tbody"), rows);
}

function eventSummary(e) {
  const a = e.args;
  switch (e.event) {
    case "TaskSubmitted":
    case "TaskRejected":
      return `task #${a.taskNumber} of definition ${a.taskDefinitionId}, ${short(a.taskHash)}, non-signers [${a.nonSignerIds.join(", ")}]`;
    case "OperatorRegistered":
      return `operator ${a.operatorId} ${short(a.account, 4)}, stake ${tokens(a.stake)}`;
    case "OperatorSlashed":
      return `operator ${a.operatorId} lost ${tokens(a.amount)}, reporter ${short(a.reporter, 4)}`;
    case "TaskDefinitionCreated":
    case "TaskDefinitionUpdated":
      return `definition ${a.taskDefinitionId} "${a.params && a.params.name !== undefined ? a.params.name : ""}"`;
    default:
      return Object.entries(a).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ");
  }
}

function drawEvents(state) {
  const items = state.events.map((e) =>
    el(
      "li",
      { "data-event": e.event, title: e.txHash },
      el("span", { class: "mono dim" }, `#${e.block}`),
      " ",
      el("span", { class: `event ${e.event}` }, e.event),
      " ",
      eventSummary(e)
    )
  );
  document.getElementById("events").replaceChildren(...items);
  document.getElementById("events-note").textContent = `scanned blocks ${state.scannedFrom}–${state.scannedTo}`;
}

// --- the loop -----------------------------------------------------------------------------------

let renders = 0;

async function refresh() {
  const freshness = document.getElementById("freshness");
  try {
    const response = await fetch("/api/state", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const state = await response.json();
    drawHeader(state);
    drawSummary(state);
    drawTasks(state);
    drawOperators(state);
    drawDefinitions(state);
    drawEvents(state);
    renders += 1;
    document.body.dataset.state = "live";
    document.body.dataset.renders = String(renders);
    freshness.textContent = `updated ${new Date(state.generatedAt * 1000).toLocaleTimeString()}`;
  } catch (error) {
    document.body.dataset.state = "error";
    freshness.textContent = `cannot reach the dashboard server: ${error.message}`;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
