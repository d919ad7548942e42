// Live updates. Each WebSocket event is only a hint: the page re-reads the server's state by cursor
// (messages after the newest shown, rows by id), and after a reconnect, when the tab comes back and
// once a minute it re-reads the list and the open conversation, so a lost event never loses a message.
import {liveState, root, slug, state, text} from "./shared.js";
import {refreshRows, reloadList} from "./list.js";
import {outgoingInFlight, refreshMessages} from "./history.js";
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

function handle(event) {
  const conv = event.conversation || {};
  const isOpen = state.conversation && conv.id === state.conversation.id;
  switch (event.type) {
    case "message.created":
      refreshRows([conv.id]);
      if (isOpen) {
        // A message committed after a later-numbered one is not "after" the newest shown: ask for it by id.
        catchUp().then(() => {
          if (!document.getElementById("m-" + event.message.id)) return refreshMessages([event.message.id]);
          return undefined;
        }).catch(() => { /* the next resync catches up */ });
        // A customer's message reopens the reply window and changes "waiting since".
        if (event.message.direction === "in") { markRead(); refreshHeader(); }
      }
      break;
    case "message.updated":
      if (isOpen) refreshMessages([event.message.id]);
      refreshRows([conv.id]);
      break;
    case "conversation.updated":
      refreshRows([conv.id]);
      if (isOpen) refreshHeader();
      break;
    case "conversation.hidden":
      conversationGone(conv.display_id);
      refreshRows([conv.id]); // the row endpoint answers it as missing, with the new tab counts
      break;
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

function connect() {
  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + window.location.host + "/ws/t/" + slug + "/");
  socket.addEventListener("open", () => {
    retryDelay = 500;
    liveState.textContent = text("live");
    liveState.dataset.state = "live";
    root.dataset.live = "1";
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
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) { resync(); markRead(); }
  });
  // A safety net beside the push: a cheap resync every minute.
  setInterval(() => { if (!document.hidden) resync(); }, 60000);
  connect();
}
