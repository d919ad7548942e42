// What every part of the inbox shares: the page's elements, the open conversation, requests to the
// inbox's endpoints (JSON that carries server-rendered fragments), toasts and the page's strings.

export const root = document.getElementById("inbox");

function find(selector) {
  return root ? root.querySelector(selector) : null;
}

export const slug = root ? root.dataset.slug : "";
export const base = root ? root.dataset.base : ""; // /t/<slug>/inbox/
export const rowsEl = find("[data-rows]");
export const listSentinel = find("[data-list-sentinel]");
export const paneEl = find("[data-pane]");
export const sidebarEl = find("[data-sidebar]");
export const filtersForm = find("[data-filters]");
export const liveState = find("[data-live-state]");
const toasts = document.querySelector("[data-toasts]");
const csrf = (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";

// The conversation shown in the pane: its display id, and what the server last said of it
// ({id, display_id, window_open, contact_name, ...}).
export const state = {
  open: root && root.dataset.open ? Number(root.dataset.open) : null,
  conversation: null,
};

// --- strings ----------------------------------------------------------------------------------------
// Translated by Django's JavaScript catalog (loaded before the modules: window.gettext); makemessages
// -d djangojs extracts them. "{name}" placeholders are filled in by text(name, values).
const gettext = window.gettext || ((s) => s);
const TEXTS = {
  hidden: gettext("The conversation is now assigned to someone else."),
  empty: gettext("No conversations here."),
  choose: gettext("Choose a conversation."),
  unavailable: gettext("This conversation is not available to you."),
  start: gettext("Start of the conversation"),
  placeholderReply: gettext("Type a reply… (/ for quick replies, Enter sends, Shift+Enter new line)"),
  placeholderNote: gettext("Private note for the team… (@ to mention)"),
  retry: gettext("Retry"),
  quickReplyFile: gettext("+ file of /{shortcut}"),
  headerLink: gettext("{format} link (https://…)"),
  snoozeTime: gettext("Choose a time to snooze until."),
  attributeName: gettext("Attribute name"),
  attributeValue: gettext("Attribute value"),
  attributeRemove: gettext("Remove attribute"),
  saved: gettext("Saved"),
  someone: gettext("Someone"),
  mentioned: gettext("{actor} mentioned you in #{id}"),
  assigned: gettext("{actor} assigned you #{id}"),
  slaBreached: gettext("SLA breached on #{id}"),
  slaLeft: gettext("{left} left"),
  slaBreachedNow: gettext("Breached just now"),
  live: gettext("Live"),
  reconnecting: gettext("Reconnecting…"),
  windowClosed: gettext("Reply window closed: templates only"),
  windowCloses: gettext("Reply window closes in {left}"),
  requestFailed: gettext("Request failed ({status})"),
};

export function text(name, values) {
  const template = TEXTS[name] || name;
  if (!values) return template;
  return template.replace(/\{(\w+)\}/g, (all, field) => (field in values ? String(values[field]) : all));
}

// --- numbers and durations --------------------------------------------------------------------------
// The browser's Intl in the page's language reads the same CLDR data as Babel on the server
// (helpdesk/l10n.py), so a number or a countdown updated here reads as the server wrote it.
const lang = document.documentElement.lang || "en";
const numberFormat = new Intl.NumberFormat(lang);
const unitList = new Intl.ListFormat(lang, {type: "unit", style: "narrow"});
const unitFormats = {};

function unit(value, name) {
  if (!unitFormats[name]) unitFormats[name] = new Intl.NumberFormat(lang, {style: "unit", unit: name, unitDisplay: "narrow"});
  return unitFormats[name].format(value);
}

// A count with the language's separators: "1.234" (pt-BR), "1,234" (English).
export function formatNumber(n) {
  return numberFormat.format(n);
}

// Hours and minutes left, rounded down: "5h 3m" / "5 h 3 min"; under an hour the minutes alone
// (the server's time_left filter).
export function formatTimeLeft(ms) {
  const left = Math.max(0, Math.floor(ms / 60000));
  const hours = Math.floor(left / 60), minutes = left % 60;
  return unitList.format(hours ? [unit(hours, "hour"), unit(minutes, "minute")] : [unit(minutes, "minute")]);
}

// --- requests ---------------------------------------------------------------------------------------

export function url(path, params) {
  const u = new URL(base + path, window.location.origin);
  if (params) Object.keys(params).forEach((k) => {
    const v = params[k];
    if (Array.isArray(v)) v.forEach((x) => { u.searchParams.append(k, x); });
    else if (v !== null && v !== undefined && v !== "") u.searchParams.set(k, v);
  });
  return u.toString();
}

function readJSON(response) {
  return response.json().catch(() => ({})).then((data) => {
    if (!response.ok) {
      const err = new Error((data.error && data.error.message) || text("requestFailed", {status: response.status}));
      err.status = response.status;
      err.data = data;
      throw err;
    }
    return data;
  });
}

export function getJSON(u) {
  return fetch(u, {credentials: "same-origin", headers: {"Accept": "application/json"}}).then(readJSON);
}

export function postForm(path, data) {
  const body = data instanceof FormData ? data : new FormData();
  if (!(data instanceof FormData) && data) Object.keys(data).forEach((k) => {
    const v = data[k];
    if (Array.isArray(v)) v.forEach((x) => { body.append(k, x); });
    else if (v !== null && v !== undefined) body.append(k, v);
  });
  return fetch(url(path), {
    method: "POST", credentials: "same-origin", body: body,
    headers: {"X-CSRFToken": csrf, "Accept": "application/json"},
  }).then(readJSON);
}

// A server-rendered fragment, parsed inert (nothing in it runs; the server escaped customer text).
export function fragment(html) {
  const t = document.createElement("template");
  t.innerHTML = html;
  return t.content;
}

export function toast(message, kind) {
  if (!toasts) return;
  const el = document.createElement("div");
  el.className = "toast" + (kind ? " toast-" + kind : "");
  el.textContent = message;
  toasts.appendChild(el);
  setTimeout(() => { el.remove(); }, 6000);
}
