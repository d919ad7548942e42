// Live updates. Events carry what the page shows (the list row, the message, the tab counts' change),
// so the page applies them without asking the server. The server tells it when it may have missed
// something ("resync": a gap in its groups' sequence, a socket that fell behind, a change of access),
// and after a reconnect or when the tab comes back it re-reads the list and the open conversation
// by cursor: a lost event never loses a message. A slow safety net re-reads every five minutes.
import {liveState, paneEl, root, slug, state, text} from "./shared.js";
import {applyCounts, applyRow, refreshRows, reloadList, setLiveGroups} from "./list.js";
import {newestShown, outgoingInFlight, refreshMessages, upsertMessages} from "./history.js";
import {catchUp, conversationGone, markRead, refreshHeader} from "./conversation.js";
import {notify} from "./notifications.js";

let socket = null;
let retryDelay = 500;
let socketOpenedOnce = false;

function resync() {
  // After a reconnect or a gap: the list from the top, and the open conversation from its newest message.
  reloadList();
  if (state.open) {
    catchUp().then(() => refreshMessages(outgoingInFlight())).then(refreshHeader).catch(() => {});
  }
}

// A message of the open conversation: shown from the event; if one before it is not shown yet
// (its event has not come, or was missed), the page catches up from its newest message.
function showMessage(message) {
  const html = message.html && message.html[root.dataset.variant];
  const missed = message.previous_id > newestShown();
  if (html) {
    upsertMessages(html);
    if (root.dataset.canReply !== "1") {
      paneEl.querySelectorAll("#m-" + message.id + " [data-reply], #m-" + message.id + " [data-react]")
        .forEach((el) => { el.remove(); });
    }
  }
  if (missed || !html) {
    catchUp().then(() => {
      if (!document.getElementById("m-" + message.id)) return refreshMessages([message.id]);
      return undefined;
    }).catch(() => { /* the next resync catches up */ });
  }
}

function handle(event) {
  const conv = event.conversation || {};
  const isOpen = state.conversation && conv.id === state.conversation.id;
  switch (event.type) {
    case "batch":
      event.events.forEach(handle);
      break;
    case "hello":
      setLiveGroups(event.groups);
      break;
    case "resync":
      resync();
      break;
    case "message.created":
      if (event.row) applyRow(event.row); else if (!event.row_sent) refreshRows([conv.id]);
      if (isOpen) {
        showMessage(event.message);
        // A customer's message reopens the reply window and changes "waiting since".
        if (event.message.direction === "in") { markRead(); refreshHeader(); }
      }
      break;
    case "message.updated":
      if (event.row) applyRow(event.row); else if (!event.row_sent) refreshRows([conv.id]);
      if (isOpen) {
        const html = event.message.html && event.message.html[root.dataset.variant];
        if (html) upsertMessages(html); else refreshMessages([event.message.id]);
      }
      break;
    case "conversation.updated":
      if (event.row) applyRow(event.row); else if (!event.row_sent) refreshRows([conv.id]);
      applyCounts(event.counts, true, event.row && event.row.version);
      if (isOpen) refreshHeader();
      break;
    case "conversation.hidden": {
      conversationGone(conv.display_id);
      const li = document.getElementById("c-" + conv.id);
      if (li) li.remove();
      applyCounts(event.counts, false, event.version);
      break;
    }
    case "notification.created":
      notify(event.notification);
      break;
    case "member.availability":
      if (state.open) refreshHeader();
      break;
    default:
      break;
  }
}

// The socket sends the message bubbles of the open conversation only: tell it which one that is.
function watch() {
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  socket.send(JSON.stringify({type: "watch", conversation: state.conversation ? state.conversation.id : null}));
}

function connect() {
  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + window.location.host + "/ws/t/" + slug + "/");
  socket.addEventListener("open", () => {
    retryDelay = 500;
    liveState.textContent = text("live");
    liveState.dataset.state = "live";
    root.dataset.live = "1";
    watch();
    if (socketOpenedOnce) resync(); // events may have been missed while we were away
    socketOpenedOnce = true;
  });
  socket.addEventListener("message", (e) => {
    let event;
    try { event = JSON.parse(e.data); } catch (err) { return; }
    handle(event);
  });
  socket.addEventListener("close", () => {
    liveState.textContent = text("reconnecting");
    liveState.dataset.state = "offline";
    root.dataset.live = "0";
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 10000);
  });
}

export function startRealtime() {
  // For tests and diagnostics: drop the socket as a network failure would.
  window.inboxDebug = {dropSocket: () => { if (socket) socket.close(); }};
  document.addEventListener("inbox:watch", watch);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) { resync(); markRead(); }
  });
  // A safety net beside the push and its gap detection.
  setInterval(() => { if (!document.hidden) resync(); }, 300000);
  connect();
}
