// The composer's "Products" picker: search the products on offer, pick one (a product message) or several (a
// list in sections by category), or send the whole catalog. The server checks every SKU and every limit again.
import {getJSON, paneEl, postForm, state, text, url} from "./shared.js";
import {scrollToBottom, upsertMessages} from "./history.js";

const gettext = window.gettext || ((s) => s);
const ngettext = window.ngettext || ((one, many, n) => (n === 1 ? one : many));
const MAX_PRODUCTS = 30;
let picked = new Map(); // SKU -> name, in the order picked
let pickedFor = null; // the conversation they were picked in
let searchTimer = null;
let sending = false;

function panel() { return paneEl.querySelector("[data-products-picker]"); }
function field(name) { return paneEl.querySelector("[data-products-" + name + "]"); }

function setError(message) {
  const el = field("error");
  if (el) el.textContent = message || "";
}

export function toggleProducts(button) {
  const p = panel();
  if (!p) return;
  if (pickedFor !== state.open) { picked = new Map(); pickedFor = state.open; }
  p.hidden = !p.hidden;
  button.setAttribute("aria-expanded", String(!p.hidden));
  if (!p.hidden) {
    setError("");
    load(field("search").value);
    field("search").focus();
  }
}

function load(query) {
  const displayId = state.open;
  getJSON(url("c/" + displayId + "/products/", {q: query})).then((data) => {
    if (state.open !== displayId) return;
    render(data.products);
    setError(data.notice || "");
  }).catch((err) => { setError(err.message); });
}

function render(products) {
  const list = field("list");
  list.textContent = "";
  if (!products.length) {
    const empty = document.createElement("li");
    empty.className = "muted small";
    empty.textContent = gettext("No products found.");
    list.appendChild(empty);
  }
  products.forEach((product) => {
    // Names and categories are the workspace's text: set as text, never parsed as markup.
    const item = document.createElement("li");
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = product.sku;
    box.dataset.productName = product.name;
    box.checked = picked.has(product.sku);
    const name = document.createElement("span");
    name.className = "product-name";
    name.textContent = product.name;
    const price = document.createElement("span");
    price.className = "product-price";
    price.textContent = product.price;
    const meta = document.createElement("small");
    meta.className = "muted";
    meta.textContent = [product.category, product.sku].filter(Boolean).join(" · ");
    label.append(box, " ", name, " ", price, " ", meta);
    item.appendChild(label);
    list.appendChild(item);
  });
  count();
}

function count() {
  const n = picked.size;
  let message = gettext("Pick one product, or several to send a list.");
  if (n === 1) message = gettext("1 product: sent as a product message.");
  else if (n > MAX_PRODUCTS) message = text(gettext("{n} products: WhatsApp shows at most {max} in a list."), {n: n, max: MAX_PRODUCTS});
  else if (n > 1) message = text(ngettext("{n} product: sent as a list.", "{n} products: sent as a list.", n), {n: n});
  field("count").textContent = message;
  field("send").disabled = n === 0 || n > MAX_PRODUCTS;
  field("header").disabled = n < 2;
}

export function onProductsInput(target) {
  if (!target.matches("[data-products-search]")) return;
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => { load(target.value); }, 250);
}

export function onProductPicked(box) {
  if (box.checked) picked.set(box.value, box.dataset.productName);
  else picked.delete(box.value);
  count();
}

function newKey() {
  return (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
    : String(Date.now()) + Math.random().toString(16).slice(2);
}

export function sendProducts(kind) {
  if (sending) return;
  sending = true;
  setError("");
  const displayId = state.open;
  const data = {
    products_kind: kind,
    sku: Array.from(picked.keys()),
    header: field("header").value,
    body: field("body").value,
    footer: field("footer").value,
    idempotency_key: newKey(),
  };
  postForm("c/" + displayId + "/send/", data).then((res) => {
    if (state.open !== displayId) return;
    picked = new Map();
    panel().hidden = true;
    const toggle = paneEl.querySelector("[data-products-toggle]");
    if (toggle) toggle.setAttribute("aria-expanded", "false");
    upsertMessages(res.html);
    scrollToBottom();
  }).catch((err) => { setError(err.message); }).finally(() => { sending = false; });
}
