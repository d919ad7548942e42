// The contact panel: a column on wide screens, a drawer below 1200 px; editing the contact and its
// attributes.
import {paneEl, postForm, root, sidebarEl, state, text} from "./shared.js";
import {refreshRows} from "./list.js";

export function contactToggle() { return paneEl.querySelector("[data-contact-toggle]"); }

export function contactIsOpen() { return root.classList.contains("contact-open"); }

export function openContact() {
  root.classList.add("contact-open");
  const toggle = contactToggle();
  if (toggle) toggle.setAttribute("aria-expanded", "true");
  sidebarEl.focus();
}

export function closeContact(returnFocus) {
  if (!contactIsOpen()) return;
  root.classList.remove("contact-open");
  const toggle = contactToggle();
  if (toggle) {
    toggle.setAttribute("aria-expanded", "false");
    if (returnFocus) toggle.focus();
  }
}

export function toggleContact(button) {
  if (contactIsOpen() && button.getAttribute("aria-expanded") === "true") closeContact(true);
  else openContact();
}

// A re-rendered header keeps saying whether the panel is open.
export function syncContactToggle() {
  const toggle = contactToggle();
  if (toggle) toggle.setAttribute("aria-expanded", String(contactIsOpen()));
}

export function addAttribute() {
  const attrs = sidebarEl.querySelector("[data-attrs]");
  const row = document.createElement("div");
  row.className = "attr";
  const key = document.createElement("input");
  key.name = "attr_key";
  key.maxLength = 50;
  key.setAttribute("aria-label", text("attributeName"));
  const value = document.createElement("input");
  value.name = "attr_value";
  value.maxLength = 500;
  value.setAttribute("aria-label", text("attributeValue"));
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "btn-icon";
  remove.dataset.attrRemove = "";
  remove.setAttribute("aria-label", text("attributeRemove"));
  remove.textContent = "×";
  row.append(key, value, remove);
  attrs.appendChild(row);
  key.focus();
}

export function removeAttribute(button) {
  button.closest(".attr").remove();
}

export function saveContact() {
  const form = sidebarEl.querySelector("[data-contact-form]");
  const statusEl = sidebarEl.querySelector("[data-contact-status]");
  postForm("c/" + state.open + "/contact/", new FormData(form)).then((res) => {
    sidebarEl.innerHTML = res.html;
    const s = sidebarEl.querySelector("[data-contact-status]");
    if (s) s.textContent = text("saved");
    const again = sidebarEl.querySelector("[data-contact-save]");
    if (again) again.focus(); // the form was replaced: keep the focus in the panel
    refreshRows([state.conversation.id]);
  }).catch((err) => { if (statusEl) statusEl.textContent = err.message; });
}
