// The agent inbox's entry point. The server renders every fragment; the modules fetch them and keep
// the list and the open conversation in step with live events (docs/decisions/0002). This module
// wires the page's events to them and starts the page.
import {base, paneEl, root, rowsEl, sidebarEl, state} from "./shared.js";
import {chooseTab, markActiveRow, observeList, reloadList, shownDisplayIds, tickSla} from "./list.js";
import {react} from "./history.js";
import {
  act, closePane, openConversation, snooze, startWithOpenConversation, tickWindows,
} from "./conversation.js";
import {
  cancelReply, choosePopup, focusText, onInput, onTextKeydown, retryFailed, saveDraft, send, sendTemplate, setMode,
  showFileName, startReply, templateFields, templatePreview,
} from "./composer.js";
import {
  addAttribute, closeContact, contactIsOpen, removeAttribute, saveContact, toggleContact,
} from "./contact.js";
import {initNotifications} from "./notifications.js";
import {onProductPicked, onProductsInput, sendProducts, toggleProducts} from "./products.js";
import {startRealtime} from "./realtime.js";

function onClick(event) {
  const t = event.target;
  const open = t.closest("[data-open-conversation]");
  if (open && !event.metaKey && !event.ctrlKey && !event.shiftKey) {
    event.preventDefault();
    saveDraft();
    openConversation(Number(open.dataset.openConversation));
    return;
  }
  const tab = t.closest("[data-tab]");
  if (tab) { chooseTab(tab); return; }
  const contactButton = t.closest("[data-contact-toggle]");
  if (contactButton) { toggleContact(contactButton); return; }
  if (t.closest("[data-contact-close]")) { closeContact(true); return; }
  if (t.closest("[data-back]")) { closePane(); history.pushState({}, "", base); return; }
  if (t.closest("[data-send]")) { send(); return; }
  if (t.closest("[data-reply-cancel]")) { cancelReply(); return; }
  const mode = t.closest("[data-mode]");
  if (mode) { setMode(mode.dataset.mode); focusText(); return; }
  const item = t.closest(".popup-item");
  if (item) { choosePopup(Number(item.dataset.index)); return; }
  if (t.closest("[data-template-send]")) { sendTemplate(); return; }
  const productsToggle = t.closest("[data-products-toggle]");
  if (productsToggle) { toggleProducts(productsToggle); return; }
  if (t.closest("[data-products-send]")) { sendProducts("products"); return; }
  if (t.closest("[data-products-catalog]")) { sendProducts("catalog"); return; }
  // The status buttons; a message's article also carries data-status (its delivery status).
  const status = t.closest("button[data-status]");
  if (status) {
    act("status", {status: status.dataset.status});
    if (t.closest("details")) t.closest("details").removeAttribute("open");
    return;
  }
  const mute = t.closest("button[data-mute]");
  if (mute) {
    act("mute", {muted: mute.dataset.mute});
    if (t.closest("details")) t.closest("details").removeAttribute("open");
    return;
  }
  const snoozeButton = t.closest("[data-snooze]");
  if (snoozeButton) { snooze(snoozeButton.dataset.snooze); return; }
  const remove = t.closest("[data-label-remove]");
  if (remove) { act("labels", {remove: [remove.dataset.labelRemove]}); return; }
  const reply = t.closest("[data-reply]");
  if (reply) { startReply(reply); return; }
  const failed = t.closest("[data-retry]");
  if (failed) { retryFailed(failed); return; }
  const reaction = t.closest("[data-react]");
  if (reaction) { react(reaction); return; }
  if (t.closest("[data-attr-add]")) { addAttribute(); return; }
  const attrRemove = t.closest("[data-attr-remove]");
  if (attrRemove) { removeAttribute(attrRemove); return; }
  if (t.closest("[data-contact-save]")) saveContact();
}

function onChange(event) {
  const t = event.target;
  if (t.closest("[data-filters]")) { reloadList(); return; }
  if (t.matches("[data-assign]")) { act("assign", {assignee: t.value}); return; }
  if (t.matches("[data-priority]")) { act("priority", {priority: t.value}); return; }
  if (t.matches("[data-team]")) { act("team", {team: t.value}); return; }
  if (t.matches("[data-label-add]") && t.value) { act("labels", {add: [t.value]}); return; }
  if (t.matches("[data-template-select]")) { templateFields(); return; }
  if (t.matches("[data-products-list] input[type=checkbox]")) { onProductPicked(t); return; }
  if (t.matches("[data-file]")) showFileName(t);
}

let searchTimer = null;
function onInputEvent(event) {
  const t = event.target;
  if (t.matches("[data-search]")) {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(reloadList, 250);
    return;
  }
  if (t.matches("[data-text]")) { onInput(); return; }
  if (t.matches("[data-products-search]")) { onProductsInput(t); return; }
  if (t.closest("[data-template-params]")) templatePreview();
}

// Keyboard shortcuts, when not typing.
function onShortcut(event) {
  const t = event.target;
  if (event.metaKey || event.ctrlKey || event.altKey) return;
  // An open dialog (the shortcuts) handles its own keys: Esc closes it, as the browser does.
  if (event.defaultPrevented || document.querySelector("dialog[open]")) return;
  const drawer = window.matchMedia("(max-width: 1199px)").matches;
  if (event.key === "Escape" && contactIsOpen() && (drawer || sidebarEl.contains(t))) {
    closeContact(true);
    event.preventDefault();
    return;
  }
  if (t.closest && t.closest("input, textarea, select, [contenteditable]")) {
    if (event.key === "Escape") t.blur();
    return;
  }
  const rows = shownDisplayIds();
  const index = rows.indexOf(state.open);
  switch (event.key) {
    case "j": case "k": {
      const next = rows[event.key === "j" ? index + 1 : Math.max(index - 1, 0)];
      if (next !== undefined) openConversation(next, {focus: false});
      break;
    }
    case "r": setMode("reply"); focusText(); break;
    case "n": setMode("note"); focusText(); break;
    case "m": act("assign", {assignee: "me"}); break;
    case "e": act("status", {status: "resolved"}); break;
    case "o": act("status", {status: "open"}); break;
    case "?": {
      const d = document.querySelector("[data-shortcuts]");
      if (d && d.showModal) d.showModal();
      break;
    }
    case "Escape": if (window.matchMedia("(max-width: 899px)").matches && state.open) closePane(); break;
    default: return;
  }
  event.preventDefault();
}

function start() {
  root.addEventListener("click", onClick);
  root.addEventListener("change", onChange);
  // The filters and the composer are driven by script: neither form is ever submitted as a page load.
  root.addEventListener("submit", (event) => {
    if (event.target.closest("[data-filters], [data-composer]")) event.preventDefault();
  });
  root.addEventListener("input", onInputEvent);
  root.addEventListener("keydown", (event) => {
    if (event.target.matches("[data-text]")) onTextKeydown(event);
  });
  document.addEventListener("keydown", onShortcut);
  window.addEventListener("popstate", () => {
    const m = /\/c\/(\d+)\/?$/.exec(window.location.pathname);
    if (m) openConversation(Number(m[1]), {keepUrl: true}); else closePane();
  });
  observeList();
  initNotifications();
  setInterval(tickWindows, 30000); // reply window countdowns
  setInterval(tickSla, 30000); // SLA clocks

  markActiveRow();
  if (state.open) startWithOpenConversation();
  tickWindows();
  startRealtime();
}

if (root && rowsEl && paneEl) start();
