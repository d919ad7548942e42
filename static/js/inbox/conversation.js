// The conversation pane: opening and closing a conversation, its header, catching up by cursor, read
// state, actions (assign, status, snooze, priority, labels) and the reply window's countdown.
import {
  base, formatTimeLeft, fragment, getJSON, paneEl, postForm, root, sidebarEl, state, text, toast, url,
} from "./shared.js";
import {currentFilters, markActiveRow, removeRow, rowIsUnread, setCounts} from "./list.js";
import {newestShown, observeHistory, scrollToBottom, trackIds, upsertMessages} from "./history.js";
import {applyWindow, resetComposer, restoreDraft, setMode} from "./composer.js";
import {closeContact, contactIsOpen, syncContactToggle} from "./contact.js";

let readTimer = null;
let headerTimer = null;

function setConversation(conv) {
  const changed = !state.conversation || state.conversation.id !== conv.id;
  state.conversation = conv;
  if (changed) document.dispatchEvent(new CustomEvent("inbox:watch"));
  const pane = paneEl.querySelector(".pane");
  if (pane) pane.dataset.windowOpen = conv.window_open ? "1" : "0";
  applyWindow();
}

export function openConversation(displayId, opts) {
  opts = opts || {};
  state.open = displayId;
  root.classList.add("has-conversation");
  markActiveRow();
  const sidebar = getJSON(url("c/" + displayId + "/sidebar/"));
  return getJSON(url("c/" + displayId + "/pane/")).then((data) => {
    paneEl.innerHTML = data.html;
    sidebar.then((side) => { if (state.open === displayId) sidebarEl.innerHTML = side.html; })
      .catch(() => { sidebarEl.innerHTML = ""; });
    resetComposer();
    setMode("reply");
    setConversation(data.conversation);
    trackIds();
    scrollToBottom();
    restoreDraft();
    observeHistory();
    if (!opts.keepUrl) {
      const q = new URLSearchParams(currentFilters()).toString();
      history.pushState({open: displayId}, "", base + "c/" + displayId + "/?" + q);
    }
    markRead();
    if (opts.focus !== false) {
      const ta = paneEl.querySelector("[data-text]");
      if (ta && window.matchMedia("(min-width: 900px)").matches) ta.focus();
    }
  }).catch((err) => {
    if (err.status === 404) {
      paneEl.innerHTML = "<div class='pane-empty muted'><p></p></div>";
      paneEl.querySelector("p").textContent = text("unavailable");
    } else toast(err.message, "error");
  });
}

// The conversation the page was loaded with: its pane came rendered with the page.
export function startWithOpenConversation() {
  const pane = paneEl.querySelector(".pane");
  state.conversation = {id: Number(pane.dataset.conversationId), display_id: state.open,
    window_open: pane.dataset.windowOpen === "1", status: null, assignee_id: null, priority: null};
  document.dispatchEvent(new CustomEvent("inbox:watch"));
  trackIds();
  scrollToBottom();
  restoreDraft();
  observeHistory();
  applyWindow();
  refreshHeader();
  markRead();
}

export function catchUp() {
  // Everything after the newest message shown; repeated until there is nothing more.
  if (!state.open) return Promise.resolve();
  const displayId = state.open;
  return getJSON(url("c/" + displayId + "/messages/", {after: newestShown()})).then((data) => {
    if (state.open !== displayId) return undefined;
    upsertMessages(data.html);
    setConversation(data.conversation);
    if (data.more) return catchUp();
    return undefined;
  });
}

export function markRead() {
  if (!state.open || document.hidden) return;
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    if (!rowIsUnread(state.open)) return;
    postForm("c/" + state.open + "/read/", {}).catch(() => {});
  }, 300);
}

export function closePane() {
  closeContact(false);
  // Pending work for the conversation that closes must not fetch it any more.
  clearTimeout(headerTimer);
  clearTimeout(readTimer);
  state.open = null;
  state.conversation = null;
  document.dispatchEvent(new CustomEvent("inbox:watch"));
  root.classList.remove("has-conversation");
  paneEl.innerHTML = "<div class='pane-empty muted'><p></p></div>";
  paneEl.querySelector("p").textContent = text("choose");
  sidebarEl.innerHTML = "";
  markActiveRow();
}

// A conversation this member can no longer see (assigned to someone else): its row goes, and if it
// is open the pane closes with one toast. Nothing of it is fetched again (the server would answer 404).
export function conversationGone(displayId) {
  removeRow(displayId);
  if (state.open !== displayId) return;
  toast(text("hidden"));
  closePane();
  history.replaceState({}, "", base + window.location.search);
}

function applyHeader(data, displayId) {
  if (data.counts) setCounts(data.counts, data.counts_at);
  if (data.hidden) {
    conversationGone(displayId);
    return;
  }
  const head = paneEl.querySelector("[data-pane-head]");
  const next = head && data.header ? fragment(data.header).firstElementChild : null;
  if (next) {
    const nextToggle = next.querySelector("[data-contact-toggle]");
    if (nextToggle) nextToggle.setAttribute("aria-expanded", String(contactIsOpen()));
    // Unchanged: left alone, so that a click in progress, an open menu or the focus are not lost.
    if (next.isEqualNode(head)) {
      if (data.conversation) setConversation(data.conversation);
      return;
    }
    // A live re-render keeps the keyboard focus on the same control of the header.
    const controls = (el) => Array.from(el.querySelectorAll("a[href], button, input, select, textarea, [tabindex]"));
    const focused = head.contains(document.activeElement) ? controls(head).indexOf(document.activeElement) : -1;
    // ... and an open menu open.
    const menus = (el) => Array.from(el.querySelectorAll("details"));
    const open = menus(head).map((d) => d.open);
    head.replaceWith(next);
    menus(next).forEach((d, i) => { if (open[i]) d.open = true; });
    syncContactToggle();
    if (focused >= 0) {
      const again = controls(next)[focused];
      if (again) again.focus();
    }
  }
  if (data.conversation) setConversation(data.conversation);
}

export function refreshHeader() {
  if (!state.open) return;
  clearTimeout(headerTimer);
  // Debounced: a burst of events re-renders the header once.
  headerTimer = setTimeout(() => {
    const displayId = state.open;
    getJSON(url("c/" + displayId + "/header/")).then((data) => {
      if (state.open === displayId) applyHeader(data, displayId);
    }).catch((err) => { if (err.status === 404) closePane(); });
  }, 80);
}

// An action on the open conversation; the answer carries the new header (or says it is out of sight).
export function act(action, data) {
  if (!state.open) return Promise.resolve();
  const displayId = state.open;
  clearTimeout(headerTimer); // the action's answer carries the header: a refresh still waiting is not needed
  return postForm("c/" + displayId + "/" + action + "/", data).then((res) => {
    if (state.open !== displayId && !res.hidden) return undefined; // another conversation is open by now
    applyHeader(res, displayId);
    if (!res.hidden) return catchUp();
    return undefined;
  }).catch((err) => { toast(err.message, "error"); });
}

function snoozeTime(kind) {
  let d = new Date();
  if (kind === "1h") d = new Date(Date.now() + 3600 * 1000);
  else if (kind === "tomorrow") { d.setDate(d.getDate() + 1); d.setHours(9, 0, 0, 0); }
  else {
    const input = paneEl.querySelector("[data-snooze-at]");
    if (!input || !input.value) { toast(text("snoozeTime"), "error"); return null; }
    d = new Date(input.value);
  }
  return d.toISOString();
}

export function snooze(kind) {
  const until = snoozeTime(kind);
  if (until) act("status", {status: "snoozed", snoozed_until: until});
}

// Reply window countdowns, in the header and the list's badges.
export function tickWindows() {
  const now = Date.now();
  root.querySelectorAll("[data-window][data-window-closes]").forEach((el) => {
    const closes = Date.parse(el.dataset.windowCloses);
    if (!closes) return;
    const left = closes - now;
    if (left <= 0) {
      el.textContent = text("windowClosed");
      el.classList.add("is-closed");
      const pane = paneEl.querySelector(".pane");
      if (pane && pane.dataset.windowOpen === "1") { pane.dataset.windowOpen = "0"; applyWindow(); }
    } else {
      el.textContent = text("windowCloses", {left: formatTimeLeft(left)});
      el.classList.toggle("is-soon", left < 2 * 3600000);
    }
  });
}
