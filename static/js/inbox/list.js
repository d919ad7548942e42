// The conversation list: tabs, filters and search, the tab counts, infinite scroll (keyset cursor),
// and rows re-read by id when an event hints that they changed.
import {
  base, filtersForm, formatNumber, formatTimeLeft, fragment, getJSON, listSentinel, root, rowsEl, state, text, toast,
  url,
} from "./shared.js";

let tab = ((root && root.querySelector(".tab[aria-pressed=true]")) || {dataset: {tab: "all"}}).dataset.tab;
let loadingList = false;

export function currentFilters() {
  const data = {tab: tab};
  new FormData(filtersForm).forEach((v, k) => { data[k] = v; });
  if (data.q && data.q.trim().length < 3) data.q = ""; // the server searches from 3 characters
  return data;
}

// When the server read the counts shown (its clock): changes of events built before are in them.
let countsAt = 0;

// A tab's count: the number in data-value, shown with the language's separators.
function showCount(el, n) {
  el.dataset.value = String(n);
  el.textContent = formatNumber(n);
}

export function setCounts(counts, at) {
  if (!counts) return;
  if (at) countsAt = Math.max(countsAt, at);
  Object.keys(counts).forEach((k) => {
    const el = root.querySelector("[data-count='" + k + "']");
    if (el) showCount(el, counts[k]);
  });
}

function rowKey(li) {
  // Sort key as the server orders: latest activity first (ties: higher id first), or longest waiting.
  const sort = filtersForm.elements.sort.value;
  if (sort === "waiting") return [li.dataset.waiting || "9999", Number(li.dataset.id)];
  if (sort === "sla") return [li.dataset.slaDue || "9999", Number(li.dataset.id)];
  return [li.dataset.activity || "", Number(li.dataset.id)];
}

function before(a, b) {
  const ka = rowKey(a), kb = rowKey(b);
  const sort = filtersForm.elements.sort.value;
  if (sort === "waiting" || sort === "sla") return ka[0] < kb[0] || (ka[0] === kb[0] && ka[1] < kb[1]);
  return ka[0] > kb[0] || (ka[0] === kb[0] && ka[1] > kb[1]);
}

function placeRow(li) {
  const existing = document.getElementById(li.id);
  if (existing) existing.remove();
  const empty = listSentinel.querySelector(".empty");
  if (empty) empty.remove();
  const rows = rowsEl.children;
  for (let i = 0; i < rows.length; i++) {
    if (before(li, rows[i])) { rowsEl.insertBefore(li, rows[i]); return; }
  }
  // Past the loaded part of the list: it will come with a later page, unless the list is complete.
  if (!listSentinel.dataset.next) rowsEl.appendChild(li);
}

// SLA clocks of the rows and the header count down between re-reads; one that runs out turns "breached"
// (the next re-read says how long ago).
export function tickSla() {
  const now = Date.now();
  const soon = Number(root.dataset.slaSoonMinutes || 30) * 60000;
  root.querySelectorAll(".badge-sla-running[data-sla-due], .badge-sla-soon[data-sla-due]").forEach((el) => {
    const due = Date.parse(el.dataset.slaDue);
    if (!due) return;
    const left = due - now;
    el.classList.remove("badge-sla-running", "badge-sla-soon", "badge-sla-breached");
    if (left <= 0) {
      el.classList.add("badge-sla-breached");
      el.textContent = "⏱ " + text("slaBreachedNow");
    } else {
      el.classList.add(left <= soon ? "badge-sla-soon" : "badge-sla-running");
      el.textContent = "⏱ " + text("slaLeft", {left: formatTimeLeft(left)});
    }
  });
}

export function markActiveRow() {
  rowsEl.querySelectorAll(".row").forEach((li) => {
    li.classList.toggle("is-active", state.open !== null && Number(li.dataset.displayId) === state.open);
  });
}

export function removeRow(displayId) {
  const li = rowsEl.querySelector("[data-display-id='" + displayId + "']");
  if (li) li.remove();
}

export function rowIsUnread(displayId) {
  const li = rowsEl.querySelector("[data-display-id='" + displayId + "']");
  return !li || li.classList.contains("is-unread");
}

// The rows in the order shown, as display ids (for j / k).
export function shownDisplayIds() {
  return Array.prototype.map.call(rowsEl.querySelectorAll(".row"), (li) => Number(li.dataset.displayId));
}

export function reloadList() {
  loadingList = true;
  const params = currentFilters();
  return getJSON(url("list/", params)).then((data) => {
    rowsEl.innerHTML = "";
    rowsEl.appendChild(fragment(data.html));
    listSentinel.dataset.next = data.next || "";
    listSentinel.innerHTML = data.ids.length ? "" : "<p class='empty muted'></p>";
    if (!data.ids.length) listSentinel.firstChild.textContent = text("empty");
    setCounts(data.counts, data.counts_at);
    markActiveRow();
    const q = new URLSearchParams(params);
    history.replaceState(history.state, "", (state.open ? base + "c/" + state.open + "/" : base) + "?" + q.toString());
  }).catch((err) => { toast(err.message, "error"); }).finally(() => { loadingList = false; });
}

export function chooseTab(button) {
  tab = button.dataset.tab;
  root.querySelectorAll("[data-tab]").forEach((b) => { b.setAttribute("aria-pressed", String(b === button)); });
  return reloadList();
}

function loadMoreRows() {
  const cursor = listSentinel.dataset.next;
  if (!cursor || loadingList) return;
  loadingList = true;
  const params = currentFilters();
  params.cursor = cursor;
  getJSON(url("list/", params)).then((data) => {
    const frag = fragment(data.html);
    Array.prototype.slice.call(frag.children).forEach((li) => {
      const old = document.getElementById(li.id);
      if (old) old.remove();
      rowsEl.appendChild(li);
    });
    listSentinel.dataset.next = data.next || "";
    markActiveRow();
  }).catch((err) => { toast(err.message, "error"); }).finally(() => { loadingList = false; });
}

// Infinite scroll: the next page when the end of the list comes near.
export function observeList() {
  if (!("IntersectionObserver" in window)) return;
  new IntersectionObserver((entries) => {
    if (entries[0].isIntersecting) loadMoreRows();
  }, {root: root.querySelector(".inbox-list"), rootMargin: "0px 0px 300px 0px"}).observe(listSentinel);
}

const pendingRows = new Set();
let rowsTimer = null;

// Re-reads rows by conversation id: changed rows move to their place, rows that left the filter or
// the member's sight go, and the tab counts follow.
export function refreshRows(ids) {
  ids.forEach((id) => { pendingRows.add(id); });
  if (rowsTimer) return;
  // Events of one burst are fetched together.
  rowsTimer = setTimeout(() => {
    rowsTimer = null;
    const batch = Array.from(pendingRows).slice(0, 100);
    batch.forEach((id) => { pendingRows.delete(id); });
    const params = currentFilters();
    params.ids = batch.join(",");
    getJSON(url("rows/", params)).then((data) => {
      Object.keys(data.rows).forEach((id) => {
        const li = fragment(data.rows[id]).firstElementChild;
        if (li) placeRow(li);
      });
      data.missing.forEach((id) => {
        const li = document.getElementById("c-" + id);
        if (li) li.remove();
      });
      setCounts(data.counts, data.counts_at);
      markActiveRow();
      if (pendingRows.size) refreshRows([]);
    }).catch(() => { /* the next resync catches up */ });
  }, 60);
}

// --- Rows and counts from live events -------------------------------------------------------------
// An event carries its conversation's row rendered per time zone and the fields the list filters on,
// so the page places it without asking the server. A search (full text) is the server's to match:
// with one typed, and for a zone the event has no rendering in, the row is re-read instead.

// The audience groups of this page's socket (from its "hello"): what it saw before a change.
let liveGroups = [];
export function setLiveGroups(groups) { liveGroups = groups || []; }

function rowMatches(row) {
  const f = currentFilters();
  const me = Number(root.dataset.userId);
  if (f.tab === "mine" && row.assignee_id !== me) return false;
  if (f.tab === "unassigned" && row.assignee_id !== null) return false;
  if (f.status && row.status !== f.status) return false;
  if (f.inbox && row.inbox_id !== Number(f.inbox)) return false;
  if (f.assignee && row.assignee_id !== Number(f.assignee)) return false;
  if (f.team && row.team_id !== Number(f.team)) return false;
  if (f.label && row.labels.indexOf(Number(f.label)) === -1) return false;
  if (f.sort === "waiting" && !row.waiting) return false;
  if (f.sort === "sla" && !row.sla_due_at) return false;
  if (f.sla === "soon") {
    // A deadline within the window (or passed), as the server filters; and any breached one still unmet.
    const soon = Number(root.dataset.slaSoonMinutes || 30) * 60000;
    const due = row.sla_due_at ? Date.parse(row.sla_due_at) : Infinity;
    if (!row.sla_breached && due > Date.now() + soon) return false;
  }
  return true;
}

export function applyRow(row) {
  if (!row) return;
  const html = row.html && row.html[root.dataset.variant];
  if (currentFilters().q || !html) { refreshRows([row.id]); return; }
  const existing = document.getElementById("c-" + row.id);
  // Events from two publishers may cross: a row older than the one shown is not put back.
  if (existing && Number(existing.dataset.version || 0) > row.version) return;
  if (!rowMatches(row)) {
    if (existing) existing.remove();
    return;
  }
  const li = fragment(html).firstElementChild;
  if (!li) return;
  placeRow(li);
  markActiveRow();
}

function counted(stateOf, visible, me) {
  if (!stateOf || !visible || !stateOf.open) return {all: 0, mine: 0, unassigned: 0};
  return {all: 1, mine: stateOf.assignee_id === me ? 1 : 0, unassigned: stateOf.assignee_id === null ? 1 : 0};
}

function sees(stateOf) {
  return !!stateOf && stateOf.groups.some((g) => liveGroups.indexOf(g) !== -1);
}

// The tab badges move by what the change did to this member's counts: before (if they saw it) and after.
export function applyCounts(counts, visibleNow, version) {
  if (!counts || (version && version <= countsAt)) return;
  const me = Number(root.dataset.userId);
  const before = counted(counts.before, sees(counts.before), me);
  const after = counted(counts.after, visibleNow, me);
  Object.keys(before).forEach((k) => {
    const el = root.querySelector("[data-count='" + k + "']");
    const delta = after[k] - before[k];
    if (el && delta) showCount(el, Math.max(0, Number(el.dataset.value || 0) + delta));
  });
}
