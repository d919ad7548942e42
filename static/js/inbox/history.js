// The open conversation's history: messages slotted in by the server's key (data-key), day separators,
// paging back (?before=) and re-reading messages by id.
import {fragment, getJSON, paneEl, postForm, state, text, toast, url} from "./shared.js";

let newestId = 0;
let oldestId = 0;
let loadingOlder = false;
let historyObserver = null;

function historyEl() { return paneEl.querySelector("[data-history]"); }
function messagesEl() { return paneEl.querySelector("[data-messages]"); }

// The newest message shown, by arrival: catching up asks for the ones after it.
export function newestShown() { return newestId; }

export function trackIds() {
  const shown = paneEl.querySelectorAll("[data-messages] > [data-id]");
  const ids = Array.prototype.map.call(shown, (el) => Number(el.dataset.id));
  // Ids are arrival order (catching up asks for later ones); the top of the history is where scrolling back starts.
  newestId = ids.length ? Math.max.apply(null, ids) : 0;
  oldestId = ids.length ? ids[0] : 0;
}

function nearBottom() {
  const h = historyEl();
  return !h || h.scrollHeight - h.scrollTop - h.clientHeight < 120;
}

export function scrollToBottom() {
  const h = historyEl();
  if (h) h.scrollTop = h.scrollHeight;
}

// Day separators: one before the first message of each day, in the order the history shows;
// each message carries its day and the day's label (rendered in the viewer's time zone).
function syncDays(list) {
  let day = null;
  Array.prototype.slice.call(list.children).forEach((el) => {
    if (el.classList.contains("msg-day")) { el.remove(); return; }
    if (!el.dataset.day || el.dataset.day === day) return;
    day = el.dataset.day;
    const sep = document.createElement("p");
    sep.className = "msg-day";
    sep.dataset.day = day;
    const time = document.createElement("time");
    time.setAttribute("datetime", day);
    time.textContent = el.dataset.dayLabel || day;
    sep.appendChild(time);
    el.before(sep);
  });
}

function olderRemain() {
  const sentinel = paneEl.querySelector("[data-history-sentinel]");
  return !!sentinel && sentinel.dataset.more === "1";
}

export function upsertMessages(html) {
  const list = messagesEl();
  if (!list) return;
  const stick = nearBottom();
  Array.prototype.slice.call(fragment(html).children).forEach((el) => {
    if (!el.dataset.id) return; // a day separator: placed by syncDays below
    const old = document.getElementById(el.id);
    if (old) { old.replaceWith(el); return; }
    // The server's key places it (the customer's time, then arrival): a late message slots in where it belongs.
    const key = el.dataset.key;
    let after = null;
    const children = list.querySelectorAll(":scope > [data-key]");
    for (let i = children.length - 1; i >= 0; i--) {
      if (children[i].dataset.key < key) { after = children[i]; break; }
    }
    if (after) after.after(el);
    else if (!olderRemain() || !children.length) list.prepend(el);
    // Otherwise it belongs among older messages not loaded yet: scrolling back brings it.
  });
  syncDays(list);
  trackIds();
  if (stick) scrollToBottom();
}

export function refreshMessages(ids) {
  if (!state.open || !ids.length) return Promise.resolve();
  return getJSON(url("c/" + state.open + "/messages/", {ids: ids.join(",")})).then((data) => {
    upsertMessages(data.html);
  });
}

// Our messages still on their way (queued to delivered): their statuses may have moved while we were away.
export function outgoingInFlight() {
  return Array.prototype.filter.call(
    paneEl.querySelectorAll("[data-messages] > [data-id][data-status]"),
    (el) => ["queued", "sending", "sent", "delivered"].indexOf(el.dataset.status) !== -1,
  ).slice(-50).map((el) => el.dataset.id);
}

function loadOlder() {
  const sentinel = paneEl.querySelector("[data-history-sentinel]");
  if (!sentinel || sentinel.dataset.more !== "1" || loadingOlder || !oldestId) return;
  loadingOlder = true;
  const h = historyEl();
  const fromBottom = h.scrollHeight - h.scrollTop;
  getJSON(url("c/" + state.open + "/messages/", {before: oldestId})).then((data) => {
    messagesEl().prepend(fragment(data.html));
    syncDays(messagesEl());
    trackIds();
    sentinel.dataset.more = data.more ? "1" : "0";
    if (!data.more) {
      sentinel.innerHTML = "<p class='muted small'></p>";
      sentinel.firstChild.textContent = text("start");
    }
    h.scrollTop = h.scrollHeight - fromBottom; // keep the reader's place
  }).finally(() => { loadingOlder = false; });
}

// Scrolling back to the top of the history loads the page before it.
export function observeHistory() {
  if (historyObserver) historyObserver.disconnect();
  const sentinel = paneEl.querySelector("[data-history-sentinel]");
  if (!sentinel || !("IntersectionObserver" in window)) return;
  historyObserver = new IntersectionObserver((entries) => {
    if (entries[0].isIntersecting) loadOlder();
  }, {root: historyEl(), rootMargin: "200px 0px 0px 0px"});
  historyObserver.observe(sentinel);
}

export function react(button) {
  const target = button.closest("[data-id]");
  postForm("c/" + state.open + "/messages/" + target.dataset.id + "/react/", {emoji: button.dataset.react})
    .then((res) => { upsertMessages(res.html); })
    .catch((err) => { toast(err.message, "error"); });
}
