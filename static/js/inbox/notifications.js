// The notifications menu (mentions, assignments, SLA breaches): its count, its list and "mark all read".
import {fragment, getJSON, postForm, root, text, toast, url} from "./shared.js";

function notificationCount() {
  const el = root.querySelector("[data-notifications-count]");
  return el ? Number(el.textContent) || 0 : 0;
}

function setNotificationCount(n) {
  const el = root.querySelector("[data-notifications-count]");
  if (!el) return;
  el.textContent = String(n);
  el.hidden = n <= 0;
}

// A notification that arrived live: one more in the count, and a toast.
export function notify(n) {
  setNotificationCount(notificationCount() + 1);
  const values = {actor: n.actor || text("someone"), id: n.conversation.display_id};
  const kinds = {mention: "mentioned", sla_breached: "slaBreached"};
  toast(text(kinds[n.kind] || "assigned", values));
}

export function initNotifications() {
  const notificationsEl = root.querySelector("[data-notifications]");
  if (!notificationsEl) return;
  notificationsEl.addEventListener("toggle", () => {
    if (!notificationsEl.open) return;
    getJSON(url("notifications/")).then((data) => {
      const list = notificationsEl.querySelector("[data-notifications-list]");
      list.innerHTML = "";
      list.appendChild(fragment(data.html));
      setNotificationCount(data.unread);
    }).catch((err) => { toast(err.message, "error"); });
  });
  notificationsEl.addEventListener("click", (event) => {
    if (event.target.closest("[data-notifications-read]")) {
      postForm("notifications/read/", {}).then(() => {
        setNotificationCount(0);
        notificationsEl.querySelectorAll(".is-unread").forEach((li) => { li.classList.remove("is-unread"); });
      }).catch((err) => { toast(err.message, "error"); });
    } else if (event.target.closest("[data-open-conversation]")) {
      notificationsEl.removeAttribute("open");
    }
  });
}
