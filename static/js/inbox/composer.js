// The composer: reply and private-note modes, drafts, the pop-up for quick replies ("/") and mentions
// ("@"), attachments, templates when the reply window is closed, and sending with an idempotency key
// that a retry of the same message reuses.
import {getJSON, paneEl, postForm, slug, state, text, toast, url} from "./shared.js";
import {scrollToBottom, upsertMessages} from "./history.js";

let mode = "reply";
let replyTo = null;
let mentions = {};
let sending = false;
let pendingKeyValue = null;
let pendingKeyFor = null; // the conversation the pending key was made for
let templates = [];
let quickReplies = null;
let quickReplyFile = null;
let popupItems = [];
let popupIndex = 0;
let mentionMembers = null;

function composer() { return paneEl.querySelector("[data-composer]"); }
function textArea() { return paneEl.querySelector("[data-text]"); }
function draftKey() { return "draft:" + slug + ":" + state.open + ":" + mode; }

export function focusText() {
  const ta = textArea();
  if (ta) ta.focus();
}

// A newly opened conversation starts with nothing of the previous one's composer.
export function resetComposer() {
  quickReplies = null;
  templates = [];
  replyTo = null;
  mentions = {};
}

// The free-text composer while the reply window is open (or for a note), the template picker otherwise.
export function applyWindow() {
  const pane = paneEl.querySelector(".pane");
  if (!pane) return;
  const open = pane.dataset.windowOpen === "1";
  const free = pane.querySelector("[data-free]");
  const picker = pane.querySelector("[data-template-picker]");
  if (!free || !picker) return;
  const note = mode === "note";
  free.hidden = !open && !note;
  picker.hidden = open || note;
  if (!open && !note) loadTemplates();
}

export function saveDraft() {
  const ta = textArea();
  if (!ta || !state.open) return;
  try {
    if (ta.value) localStorage.setItem(draftKey(), ta.value); else localStorage.removeItem(draftKey());
  } catch (e) { /* storage full or disabled: drafts are a convenience */ }
}

export function restoreDraft() {
  const ta = textArea();
  if (!ta) return;
  try { ta.value = localStorage.getItem(draftKey()) || ""; } catch (e) { ta.value = ""; }
}

export function setMode(newMode) {
  const form = composer();
  if (!form) return;
  saveDraft();
  mode = newMode;
  form.classList.toggle("is-note", mode === "note");
  form.querySelectorAll("[data-mode]").forEach((b) => {
    b.setAttribute("aria-pressed", String(b.dataset.mode === mode));
  });
  const ta = textArea();
  if (ta) ta.placeholder = mode === "note" ? text("placeholderNote") : text("placeholderReply");
  restoreDraft();
  applyWindow();
}

function setError(message) {
  const el = paneEl.querySelector("[data-send-error]");
  if (el) el.textContent = message || "";
}

function newKey() {
  return (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
    : String(Date.now()) + Math.random().toString(16).slice(2);
}

// The key of the message being sent here; one made in another conversation is never reused.
function pendingKey() {
  if (!pendingKeyValue || pendingKeyFor !== state.open) {
    pendingKeyValue = newKey();
    pendingKeyFor = state.open;
  }
  return pendingKeyValue;
}

export function send() {
  const ta = textArea();
  const form = composer();
  if (!ta || !form || sending) return; // a second Enter while sending does nothing
  const fileInput = form.querySelector("[data-file]");
  const file = fileInput && fileInput.files[0];
  const value = ta.value;
  if (!value.trim() && !file) return;
  sending = true;
  // The key stays the same for a retry of the same message, so the server sends it once.
  const key = pendingKey();
  const data = new FormData();
  data.append("text", value);
  let path;
  if (mode === "note") {
    path = "c/" + state.open + "/note/";
    Object.keys(mentions).forEach((name) => {
      if (value.indexOf("@" + name) !== -1) data.append("mention", mentions[name]);
    });
  } else {
    path = "c/" + state.open + "/send/";
    data.append("idempotency_key", key);
    if (replyTo) data.append("reply_to", replyTo);
    if (file) data.append("file", file);
    else if (quickReplyFile) data.append("quick_reply", quickReplyFile);
  }
  const button = form.querySelector("[data-send]");
  if (button) button.disabled = true;
  setError("");
  const displayId = state.open;
  postForm(path, data).then((res) => {
    pendingKeyValue = null;
    if (state.open === displayId) {
      ta.value = "";
      try { localStorage.removeItem(draftKey()); } catch (e) { /* ignore */ }
      if (fileInput) { fileInput.value = ""; paneEl.querySelector("[data-file-name]").textContent = ""; }
      quickReplyFile = null;
      cancelReply();
      mentions = {};
      upsertMessages(res.html);
      scrollToBottom();
    }
  }).catch((err) => {
    if (err.data && err.data.error && err.data.error.code === "reply_window_closed") {
      const pane = paneEl.querySelector(".pane");
      if (pane) pane.dataset.windowOpen = "0";
      applyWindow();
    }
    setError(err.message + " ");
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "btn-secondary small";
    retry.textContent = text("retry");
    retry.addEventListener("click", () => { setError(""); send(); });
    const holder = paneEl.querySelector("[data-send-error]");
    if (holder) holder.appendChild(retry);
  }).finally(() => {
    sending = false;
    if (button) button.disabled = false;
  });
}

export function cancelReply() {
  replyTo = null;
  const bar = paneEl.querySelector("[data-reply-to]");
  if (bar) bar.hidden = true;
}

// "Reply" on a message: the reply quotes it.
export function startReply(button) {
  const msg = button.closest("[data-id]");
  replyTo = msg.dataset.id;
  const bar = paneEl.querySelector("[data-reply-to]");
  if (bar) {
    bar.hidden = false;
    const body = msg.querySelector(".msg-body");
    bar.querySelector("[data-reply-to-text]").textContent = "↩ " + (body ? body.textContent.trim().slice(0, 100) : "");
  }
  setMode("reply");
  focusText();
}

// "Retry" on a failed message: its text comes back to the composer as a new message.
export function retryFailed(button) {
  const article = button.closest("[data-id]");
  const body = article && article.querySelector(".msg-text");
  if (body && textArea()) {
    setMode("reply");
    textArea().value = body.textContent.trim();
    pendingKeyValue = null;
    textArea().focus();
  }
}

export function showFileName(input) {
  const name = paneEl.querySelector("[data-file-name]");
  if (name) name.textContent = input.files[0] ? input.files[0].name : "";
}

// --- the pop-up: quick replies ("/") and mentions ("@") share one list under the text box -----------

function popup() { return paneEl.querySelector("[data-popup]"); }

function popupExpanded(open) {
  const ta = textArea();
  if (!ta) return;
  ta.setAttribute("aria-expanded", String(open));
  if (!open) ta.removeAttribute("aria-activedescendant");
}

function closePopup() {
  const p = popup();
  if (p) { p.hidden = true; p.innerHTML = ""; }
  popupItems = [];
  popupExpanded(false);
}

function showPopup(items, render) {
  const p = popup();
  if (!p) return;
  popupItems = items;
  popupIndex = 0;
  p.innerHTML = "";
  if (!items.length) { p.hidden = true; popupExpanded(false); return; }
  items.forEach((item, i) => {
    // Options are not in the tab order: the text box keeps the focus and points at the active one.
    const opt = document.createElement("div");
    opt.className = "popup-item";
    opt.id = "composer-popup-" + i;
    opt.setAttribute("role", "option");
    opt.dataset.index = i;
    render(opt, item);
    p.appendChild(opt);
  });
  p.hidden = false;
  popupExpanded(true);
  highlightPopup();
}

function highlightPopup() {
  const p = popup();
  if (!p) return;
  Array.prototype.forEach.call(p.children, (el, i) => {
    el.setAttribute("aria-selected", String(i === popupIndex));
    if (i === popupIndex) {
      el.scrollIntoView({block: "nearest"});
      const ta = textArea();
      if (ta) ta.setAttribute("aria-activedescendant", el.id);
    }
  });
}

function loadQuickReplies() {
  if (quickReplies) return Promise.resolve(quickReplies);
  return getJSON(url("c/" + state.open + "/quick-replies/")).then((data) => {
    quickReplies = data.quick_replies;
    return quickReplies;
  });
}

function loadMentionMembers() {
  if (mentionMembers && mentionMembers.open === state.open) return Promise.resolve(mentionMembers.list);
  return getJSON(url("c/" + state.open + "/mentions/")).then((data) => {
    mentionMembers = {open: state.open, list: data.members};
    return data.members;
  });
}

export function onInput() {
  const ta = textArea();
  if (!ta) return;
  saveDraft();
  pendingKeyValue = null; // an edited message is a new message
  const value = ta.value;
  if (mode === "reply" && value.charAt(0) === "/" && value.indexOf("\n") === -1) {
    const term = value.slice(1).toLowerCase();
    loadQuickReplies().then((items) => {
      if (textArea() !== ta || ta.value.charAt(0) !== "/") return;
      const matched = items.filter((q) => (
        q.shortcut.toLowerCase().indexOf(term) !== -1 || q.text.toLowerCase().indexOf(term) !== -1
      )).slice(0, 8);
      showPopup(matched.map((q) => ({kind: "quick", item: q})), (el, entry) => {
        const b = document.createElement("strong");
        b.textContent = "/" + entry.item.shortcut;
        const s = document.createElement("span");
        s.textContent = " " + entry.item.text.slice(0, 80);
        el.appendChild(b); el.appendChild(s);
      });
    });
    return;
  }
  if (mode === "note") {
    const caret = ta.selectionStart;
    const m = /(^|\s)@([^\s@]*)$/.exec(value.slice(0, caret));
    if (m) {
      const q = m[2].toLowerCase();
      loadMentionMembers().then((members) => {
        const matched = members.filter((u) => (
          u.name.toLowerCase().indexOf(q) !== -1 || u.email.toLowerCase().indexOf(q) !== -1
        )).slice(0, 8);
        showPopup(matched.map((u) => ({kind: "mention", item: u, term: m[2]})), (el, entry) => {
          el.textContent = entry.item.name + " · " + entry.item.email;
        });
      });
      return;
    }
  }
  closePopup();
}

export function choosePopup(index) {
  const entry = popupItems[index];
  const ta = textArea();
  if (!entry || !ta) return;
  if (entry.kind === "quick") {
    ta.value = entry.item.text; // variables already filled in by the server
    quickReplyFile = entry.item.has_file ? entry.item.id : null;
    const nameEl = paneEl.querySelector("[data-file-name]");
    if (nameEl) nameEl.textContent = entry.item.has_file ? text("quickReplyFile", {shortcut: entry.item.shortcut}) : "";
  } else {
    const caret = ta.selectionStart;
    const head = ta.value.slice(0, caret).replace(/@([^\s@]*)$/, "@" + entry.item.name + " ");
    ta.value = head + ta.value.slice(caret);
    mentions[entry.item.name] = entry.item.id;
    ta.setSelectionRange(head.length, head.length);
  }
  closePopup();
  saveDraft();
  ta.focus();
}

// Keys in the text box: the pop-up's arrows, Enter and Escape; otherwise Enter sends.
export function onTextKeydown(event) {
  const p = popup();
  if (p && !p.hidden && popupItems.length) {
    if (event.key === "ArrowDown") { popupIndex = (popupIndex + 1) % popupItems.length; highlightPopup(); event.preventDefault(); return; }
    if (event.key === "ArrowUp") { popupIndex = (popupIndex - 1 + popupItems.length) % popupItems.length; highlightPopup(); event.preventDefault(); return; }
    if (event.key === "Enter" || event.key === "Tab") { choosePopup(popupIndex); event.preventDefault(); return; }
    if (event.key === "Escape") { closePopup(); event.preventDefault(); return; }
  }
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
}

// --- templates, when the 24-hour window is closed --------------------------------------------------

function loadTemplates() {
  const select = paneEl.querySelector("[data-template-select]");
  if (!select || select.dataset.loaded === String(state.open)) return;
  select.dataset.loaded = String(state.open);
  getJSON(url("c/" + state.open + "/templates/")).then((data) => {
    templates = data.templates;
    data.templates.forEach((t, i) => {
      const opt = document.createElement("option");
      opt.value = String(i);
      opt.textContent = t.name + " (" + t.language + ")";
      if (t.unavailable) { // a marketing template to a contact without an opt-in: listed, not offered
        opt.disabled = true;
        opt.textContent += " — " + t.unavailable;
      }
      select.appendChild(opt);
    });
  }).catch((err) => { toast(err.message, "error"); });
}

function selectedTemplate() {
  const select = paneEl.querySelector("[data-template-select]");
  return select && select.value !== "" ? templates[Number(select.value)] : undefined;
}

export function templateFields() {
  const holder = paneEl.querySelector("[data-template-params]");
  const t = selectedTemplate();
  holder.innerHTML = "";
  const sendButton = paneEl.querySelector("[data-template-send]");
  sendButton.disabled = !t;
  if (!t) { templatePreview(); return; }
  function field(group, name, label, example, accessibleName) {
    const wrap = document.createElement("label");
    wrap.className = "param";
    wrap.textContent = label + " ";
    const input = document.createElement("input");
    input.dataset.group = group;
    input.dataset.name = name;
    input.required = true;
    if (example) input.placeholder = example; // the example Meta approved with the template
    if (accessibleName) input.setAttribute("aria-label", accessibleName);
    if (group === "body" && name.indexOf("contact") === -1 && state.conversation && name === "1") {
      input.value = state.conversation.contact_name || "";
    }
    wrap.appendChild(input);
    holder.appendChild(wrap);
  }
  t.header_params.forEach((p) => { field("header", p.name, p.label, p.example, p.accessible_name); });
  if (t.header_format && t.header_format !== "TEXT") field("header_media", "link", text("headerLink", {format: t.header_format}));
  t.body_params.forEach((p) => { field("body", p.name, p.label, p.example, p.accessible_name); });
  t.buttons.forEach((b) => {
    if (b.needs === "url" || b.needs === "copy_code" || b.needs === "otp") field("buttons", String(b.index), b.text + " (" + b.needs + ")");
  });
  templatePreview();
}

function templateParams() {
  const params = {};
  const t = selectedTemplate();
  if (!t) return params;
  const named = t.parameter_format === "NAMED";
  paneEl.querySelectorAll("[data-template-params] input").forEach((input) => {
    const g = input.dataset.group, n = input.dataset.name, v = input.value;
    if (g === "header_media") { params.header = [{link: v}]; return; }
    if (g === "buttons") { params.buttons = params.buttons || {}; params.buttons[n] = v; return; }
    if (named) { params[g] = params[g] || {}; params[g][n] = v; }
    else { params[g] = params[g] || []; params[g][Number(n) - 1] = v; }
  });
  return params;
}

export function templatePreview() {
  const box = paneEl.querySelector("[data-template-preview]");
  const select = paneEl.querySelector("[data-template-select]");
  if (!box || !select) return;
  const t = selectedTemplate();
  box.textContent = "";
  if (!t) return;
  const values = {};
  paneEl.querySelectorAll("[data-template-params] input").forEach((input) => {
    values[input.dataset.group + ":" + input.dataset.name] = input.value;
  });
  function fill(source, group) {
    return source.replace(/\{\{\s*([^{}\s]+)\s*\}\}/g, (all, name) => values[group + ":" + name] || all);
  }
  const parts = [];
  if (t.header_text) parts.push(fill(t.header_text, "header"));
  parts.push(fill(t.body_text, "body"));
  if (t.footer_text) parts.push(t.footer_text);
  box.textContent = parts.join("\n\n"); // text only: the preview never interprets markup
  t.buttons.forEach((b) => {
    const s = document.createElement("span");
    s.className = "tpl-button";
    s.textContent = b.text;
    box.appendChild(s);
  });
}

export function sendTemplate() {
  const select = paneEl.querySelector("[data-template-select]");
  const t = selectedTemplate();
  if (!t || sending) return;
  sending = true;
  const key = pendingKey();
  const button = paneEl.querySelector("[data-template-send]");
  const error = paneEl.querySelector("[data-template-error]");
  button.disabled = true;
  error.textContent = "";
  postForm("c/" + state.open + "/send/", {
    template: t.name, language: t.language, params: JSON.stringify(templateParams()),
    idempotency_key: key,
  }).then((res) => {
    pendingKeyValue = null;
    upsertMessages(res.html);
    scrollToBottom();
    select.value = "";
    templateFields();
  }).catch((err) => {
    error.textContent = err.message;
  }).finally(() => {
    sending = false;
    button.disabled = !selectedTemplate();
  });
}
