// Customer-phone simulator for the fake WhatsApp Cloud API. No build step, no dependencies.
// Every customer or business text is untrusted: it is only ever set with textContent, never parsed as HTML.
(function () {
  "use strict";

  var $ = function (id) { return document.getElementById(id); };
  var businessSelect = $("sim-business");
  var phoneInput = $("sim-customer-phone");
  var nameInput = $("sim-customer-name");
  var autoRead = $("sim-auto-read");
  var list = $("sim-messages");
  var errorBox = $("sim-error");
  var readRequested = new Set();
  var numbersSignature = "";
  var EMOJIS = ["👍", "❤️", "😂", "😮", "😢", "🙏"];
  var TICKS = { accepted: "🕓", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "⚠" };
  var ORDER_WORDS = { pending: "Pending", processing: "Processing", partially_shipped: "Partially shipped",
    shipped: "Shipped", completed: "Completed", canceled: "Canceled" };
  var PAYMENT_WORDS = { pending: "Awaiting payment", captured: "Paid", failed: "Payment failed" };
  var MAX_QUANTITY = 99; // WhatsApp's cart: at most 99 units of an item (COMMERCE §3.1)
  // The cart of this chat (per device, as on WhatsApp): one catalog's products, by SKU.
  var cart = { catalog_id: "", items: new Map() };
  // "Message business" on a product: the next text is about it (context.referred_product).
  var referral = null;

  // ---------------------------------------------------------------- helpers

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "class") { node.className = attrs[key]; } else { node.setAttribute(key, attrs[key]); }
    });
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function safeUrl(url) {
    if (typeof url !== "string") { return null; }
    if (url.indexOf("/_fake/") === 0) { return url; }
    return /^https?:\/\//i.test(url) ? url : null;
  }

  function customer() { return phoneInput.value.replace(/\D/g, ""); }

  function showError(message) {
    errorBox.hidden = !message;
    errorBox.textContent = message || "";
  }

  function api(method, path, body) {
    return fetch(path, {
      method: method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) { throw new Error(data.error || response.statusText); }
        return data;
      });
    });
  }

  function remember() {
    try {
      localStorage.setItem("sim.pnid", businessSelect.value);
      localStorage.setItem("sim.phone", phoneInput.value);
      localStorage.setItem("sim.name", nameInput.value);
    } catch (e) { /* storage may be unavailable */ }
  }

  function restore() {
    var params = new URLSearchParams(window.location.search);
    var stored = function (key) { try { return localStorage.getItem(key); } catch (e) { return null; } };
    phoneInput.value = params.get("customer") || stored("sim.phone") || phoneInput.value;
    nameInput.value = params.get("name") || stored("sim.name") || nameInput.value;
    if (params.get("autoread") === "0") { autoRead.checked = false; }
    businessSelect.dataset.wanted = params.get("pnid") || stored("sim.pnid") || "";
  }

  // ---------------------------------------------------------------- customer actions

  function sendInbound(payload) {
    if (!businessSelect.value || !customer()) {
      showError("Choose a business number and your phone first.");
      return Promise.resolve();
    }
    payload.phone_number_id = businessSelect.value;
    payload.from = customer();
    payload.name = nameInput.value;
    remember();
    return api("POST", "/_fake/inbound", payload).then(function () {
      showError("");
      return refresh();
    }).catch(function (err) { showError(err.message); });
  }

  $("sim-compose").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = $("sim-text").value;
    if (!text.trim()) { return; }
    $("sim-text").value = "";
    var payload = { type: "text", text: text };
    if (referral) {
      payload.context_message_id = referral.wamid;
      payload.referred_product = { catalog_id: referral.catalog_id, product_retailer_id: referral.retailer_id };
      setReferral(null);
    }
    sendInbound(payload);
  });

  $("sim-image-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var file = $("sim-image").files[0];
    if (!file) { showError("Choose an image file."); return; }
    var reader = new FileReader();
    reader.onload = function () {
      var data = String(reader.result).split(",")[1] || "";
      var image = { data: data, mime_type: file.type || "image/jpeg" };
      if ($("sim-image-caption").value) { image.caption = $("sim-image-caption").value; }
      sendInbound({ type: "image", image: image });
      $("sim-image-form").reset();
    };
    reader.readAsDataURL(file);
  });

  $("sim-location-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var location = { latitude: parseFloat($("sim-lat").value), longitude: parseFloat($("sim-long").value) };
    if (isNaN(location.latitude) || isNaN(location.longitude)) { showError("Latitude and longitude are numbers."); return; }
    if ($("sim-loc-name").value) { location.name = $("sim-loc-name").value; }
    if ($("sim-loc-address").value) { location.address = $("sim-loc-address").value; }
    sendInbound({ type: "location", location: location });
  });

  list.addEventListener("click", function (event) {
    var target = event.target.closest("button");
    if (!target) { return; }
    var message = target.closest(".sim-msg");
    var wamid = message ? message.getAttribute("data-wamid") : null;
    if (target.classList.contains("sim-reply-button")) {
      if (target.getAttribute("data-kind") === "template") {
        sendInbound({ type: "button", button: {
          payload: target.getAttribute("data-payload"), text: target.textContent, context_message_id: wamid } });
      } else {
        sendInbound({ type: "button_reply", button_reply: {
          id: target.getAttribute("data-reply-id"), title: target.textContent, context_message_id: wamid } });
      }
    } else if (target.classList.contains("sim-list-row")) {
      var reply = { id: target.getAttribute("data-row-id"), title: target.getAttribute("data-title"),
        context_message_id: wamid };
      if (target.getAttribute("data-description")) { reply.description = target.getAttribute("data-description"); }
      sendInbound({ type: "list_reply", list_reply: reply });
    } else if (target.classList.contains("sim-add-to-cart")) {
      addToCart(JSON.parse(target.getAttribute("data-product")));
    } else if (target.classList.contains("sim-message-business")) {
      var product = JSON.parse(target.getAttribute("data-product"));
      setReferral({ wamid: wamid, catalog_id: product.catalog_id, retailer_id: product.retailer_id,
        name: product.name || product.retailer_id });
      $("sim-text").focus();
    } else if (target.classList.contains("sim-view-catalog")) {
      var listing = target.parentNode.querySelector(".sim-catalog-list");
      if (listing) { listing.hidden = !listing.hidden; }
    } else if (target.classList.contains("sim-react-send")) {
      var select = message.querySelector(".sim-react-select");
      sendInbound({ type: "reaction", reaction: { message_id: wamid, emoji: select.value } });
    }
  });

  function markRead(onlyUnrequested) {
    if (!businessSelect.value || !customer()) { return; }
    api("POST", "/_fake/read", { phone_number_id: businessSelect.value, customer: customer() })
      .then(function () { if (!onlyUnrequested) { refresh(); } })
      .catch(function (err) { showError(err.message); });
  }

  $("sim-mark-read").addEventListener("click", function () { markRead(false); });
  [businessSelect, phoneInput, nameInput].forEach(function (input) {
    input.addEventListener("change", function () {
      remember(); readRequested.clear(); list.textContent = "";
      if (input !== nameInput) { clearCart(); setReferral(null); }
      refresh();
    });
  });

  // ---------------------------------------------------------------- cart and product questions

  function setReferral(value) {
    referral = value;
    $("sim-referral").hidden = !value;
    $("sim-referral-text").textContent = value ? "About: " + value.name : "";
  }

  $("sim-referral-cancel").addEventListener("click", function () { setReferral(null); });

  function clearCart() {
    cart = { catalog_id: "", items: new Map() };
    renderCart();
  }

  function addToCart(product) {
    if (cart.catalog_id && cart.catalog_id !== product.catalog_id) { clearCart(); }
    cart.catalog_id = product.catalog_id;
    var line = cart.items.get(product.retailer_id);
    if (line) {
      line.quantity = Math.min(MAX_QUANTITY, line.quantity + 1);
    } else {
      cart.items.set(product.retailer_id, { product: product, quantity: 1 });
    }
    renderCart();
  }

  function minor(amount) { return Math.round(amount * 100); }

  function renderCart() {
    var lines = $("sim-cart-lines");
    lines.textContent = "";
    var totals = {};
    cart.items.forEach(function (line, sku) {
      var li = el("li", { "data-testid": "sim-cart-line", "data-sku": sku });
      li.appendChild(el("span", {}, line.product.name || sku));
      var quantity = el("input", { type: "number", min: "1", max: String(MAX_QUANTITY), value: String(line.quantity),
        "aria-label": "Quantity of " + (line.product.name || sku), "data-testid": "sim-cart-quantity" });
      quantity.addEventListener("change", function () {
        var value = parseInt(quantity.value, 10);
        line.quantity = isNaN(value) ? 1 : Math.max(1, Math.min(MAX_QUANTITY, value));
        renderCart();
      });
      li.appendChild(quantity);
      li.appendChild(el("span", {}, line.product.price_display));
      var remove = el("button", { type: "button", "aria-label": "Remove " + (line.product.name || sku) }, "✕");
      remove.addEventListener("click", function () { cart.items.delete(sku); renderCart(); });
      li.appendChild(remove);
      lines.appendChild(li);
      totals[line.product.currency] = (totals[line.product.currency] || 0) + minor(line.product.item_price) * line.quantity;
    });
    $("sim-cart-total").textContent = Object.keys(totals).map(function (currency) {
      return "Total " + currency + " " + (totals[currency] / 100).toFixed(2);
    }).join(" · ");
    $("sim-cart").hidden = cart.items.size === 0;
  }

  // The cart as WhatsApp sends it: one order webhook, the unit prices in major units (COMMERCE §3.1).
  $("sim-cart-send").addEventListener("click", function () {
    if (!cart.items.size) { return; }
    var items = [];
    cart.items.forEach(function (line, sku) {
      items.push({ product_retailer_id: sku, quantity: line.quantity, item_price: line.product.item_price,
        currency: line.product.currency });
    });
    var order = { catalog_id: cart.catalog_id, text: $("sim-cart-note").value, product_items: items };
    sendInbound({ type: "order", order: order }).then(function () {
      if (!errorBox.hidden) { return; }
      $("sim-cart-note").value = "";
      clearCart();
    });
  });

  // ---------------------------------------------------------------- rendering

  function mediaNode(media) {
    var wrap = el("div", { class: "sim-media" });
    var src = safeUrl(media.src);
    if (src && (media.kind === "image" || media.kind === "sticker")) {
      var img = el("img", { alt: media.caption || media.kind });
      img.src = src;
      wrap.appendChild(img);
    } else if (src && (media.kind === "video" || media.kind === "audio")) {
      var player = el(media.kind, { controls: "" });
      player.src = src;
      wrap.appendChild(player);
    } else if (src) {
      var link = el("a", { target: "_blank", rel: "noopener noreferrer" }, "📄 " + (media.filename || media.kind));
      link.href = src;
      wrap.appendChild(link);
    } else {
      wrap.appendChild(el("span", {}, "[" + media.kind + "]"));
    }
    if (media.caption) { wrap.appendChild(el("div", { class: "sim-caption" }, media.caption)); }
    return wrap;
  }

  function headerNode(header) {
    if (!header) { return null; }
    if (header.text) { return el("div", { class: "sim-msg-header" }, header.text); }
    if (header.media) { return mediaNode(header.media); }
    if (header.format && header.format !== "TEXT") { return el("div", { class: "sim-msg-header" }, "[" + header.format.toLowerCase() + "]"); }
    return null;
  }

  function appendAll(parent, nodes) {
    nodes.forEach(function (node) { if (node) { parent.appendChild(node); } });
  }

  function interactiveNodes(view) {
    var nodes = [headerNode(view.header), el("div", { class: "sim-text" }, view.body)];
    if (view.footer) { nodes.push(el("div", { class: "sim-msg-footer" }, view.footer)); }
    if (view.buttons) {
      var buttons = el("div", { class: "sim-buttons" });
      view.buttons.forEach(function (b) {
        buttons.appendChild(el("button", { type: "button", class: "sim-reply-button", "data-reply-id": b.id,
          "data-testid": "sim-reply-button" }, b.title));
      });
      nodes.push(buttons);
    }
    if (view.list) {
      var box = el("div", { class: "sim-list" });
      box.appendChild(el("div", { class: "sim-list-title" }, "☰ " + view.list.button));
      view.list.sections.forEach(function (section) {
        if (section.title) { box.appendChild(el("div", { class: "sim-list-section" }, section.title)); }
        section.rows.forEach(function (row) {
          var button = el("button", { type: "button", class: "sim-list-row", "data-row-id": row.id, "data-title": row.title,
            "data-description": row.description || "", "data-testid": "sim-list-row" }, row.title);
          if (row.description) { button.appendChild(el("small", {}, row.description)); }
          box.appendChild(button);
        });
      });
      nodes.push(box);
    }
    if (view.cta) {
      var href = safeUrl(view.cta.url);
      var cta = el("a", { class: "sim-cta", target: "_blank", rel: "noopener noreferrer" }, "↗ " + view.cta.display_text);
      if (href) { cta.href = href; }
      nodes.push(cta);
    }
    if (view.order) { nodes.push(view.type === "order_details" ? orderDetailsNode(view.order) : orderStatusNode(view.order)); }
    if (view.commerce) { nodes.push(commerceNode(view.commerce)); }
    return nodes;
  }

  // A product as WhatsApp shows it: image, name, price; Add to cart (when the cart is on) and Message business.
  function productNode(product, commerce) {
    var box = el("div", { class: "sim-product", "data-testid": "sim-product", "data-sku": product.retailer_id });
    var image = product.known ? safeUrl(product.image_url) : null;
    if (image) {
      var img = el("img", { alt: product.name, loading: "lazy", referrerpolicy: "no-referrer" });
      img.src = image;
      box.appendChild(img);
    }
    var info = el("div", { class: "sim-product-info" });
    info.appendChild(el("span", { class: "sim-product-name", "data-testid": "sim-product-name" },
      product.known ? product.name : product.retailer_id));
    if (product.known) {
      info.appendChild(el("span", { class: "sim-product-price", "data-testid": "sim-product-price" }, product.price_display));
      if (!product.available) { info.appendChild(el("span", { class: "sim-product-sku" }, "Unavailable")); }
    } else {
      info.appendChild(el("span", { class: "sim-product-sku" }, "Product not found in the catalog"));
    }
    var actions = el("div", { class: "sim-product-actions" });
    var data = JSON.stringify(product);
    if (product.known && product.available && commerce.cart_enabled) {
      actions.appendChild(el("button", { type: "button", class: "sim-add-to-cart", "data-product": data,
        "data-testid": "sim-add-to-cart" }, "Add to cart"));
    }
    actions.appendChild(el("button", { type: "button", class: "sim-message-business", "data-product": data,
      "data-testid": "sim-message-business" }, "Message business"));
    info.appendChild(actions);
    box.appendChild(info);
    return box;
  }

  function commerceNode(commerce) {
    var box = el("div", { class: "sim-commerce", "data-testid": "sim-commerce", "data-kind": commerce.kind });
    if (commerce.kind === "product") {
      box.appendChild(productNode(commerce.product, commerce));
    } else if (commerce.kind === "product_list") {
      var count = commerce.sections.reduce(function (n, s) { return n + s.products.length; }, 0);
      box.appendChild(el("div", { class: "sim-list-title" }, "☰ View items (" + count + ")"));
      commerce.sections.forEach(function (section) {
        if (section.title) { box.appendChild(el("div", { class: "sim-list-section" }, section.title)); }
        section.products.forEach(function (product) { box.appendChild(productNode(product, commerce)); });
      });
    } else {
      if (commerce.thumbnail) {
        var thumb = safeUrl(commerce.thumbnail.image_url);
        if (thumb) {
          var img = el("img", { alt: commerce.thumbnail.name || "Catalog", loading: "lazy", referrerpolicy: "no-referrer" });
          img.src = thumb;
          box.insertBefore(img, box.firstChild);
        }
      }
      box.appendChild(el("button", { type: "button", class: "sim-view-catalog", "data-testid": "sim-view-catalog" },
        "View catalog"));
      var listing = el("div", { class: "sim-catalog-list", "data-testid": "sim-catalog-list", hidden: "" });
      if (!commerce.products.length) { listing.appendChild(el("div", { class: "sim-product-sku" }, "The catalog is empty.")); }
      commerce.products.forEach(function (product) { listing.appendChild(productNode(product, commerce)); });
      box.appendChild(listing);
    }
    return box;
  }

  // An order's status (and its payment's) as WhatsApp words them on the customer's phone.
  function statusWords(order) {
    if (order.payment_status && PAYMENT_WORDS[order.payment_status]) {
      var words = PAYMENT_WORDS[order.payment_status];
      return order.status && order.status !== "pending" ? words + " · " + (ORDER_WORDS[order.status] || order.status) : words;
    }
    return ORDER_WORDS[order.order_status || order.status] || order.order_status || order.status || "";
  }

  function orderLine(cls, left, right, testid) {
    var row = el("div", { class: cls });
    if (testid) { row.setAttribute("data-testid", testid); }
    row.appendChild(el("span", {}, left));
    row.appendChild(el("span", {}, right));
    return row;
  }

  function orderDetailsNode(order) {
    var box = el("div", { class: "sim-order", "data-testid": "sim-order" });
    box.appendChild(el("div", { class: "sim-order-head" }, "🧾 Order " + order.reference_id));
    (order.items || []).forEach(function (item) {
      box.appendChild(orderLine("sim-order-line", item.quantity + " × " + item.name, item.amount));
    });
    (order.charges || []).forEach(function (charge) {
      box.appendChild(orderLine("sim-order-line sim-order-charge", charge.label, charge.amount));
    });
    box.appendChild(orderLine("sim-order-line sim-order-total", "Total", order.total, "sim-order-total"));
    box.appendChild(el("div", { class: "sim-order-status", "data-testid": "sim-order-status" }, statusWords(order)));
    if (order.expiration) { box.appendChild(el("div", { class: "sim-msg-footer" }, order.expiration)); }
    var actions = el("div", { class: "sim-buttons" });
    // Paid (order_status: payment captured): WhatsApp offers the code and the link no more.
    var open = order.payment_status !== "captured";
    if (open && order.pix_code) {
      var code = el("code", { class: "sim-pix-code", "data-testid": "sim-pix-code", hidden: "" }, order.pix_code);
      var copy = el("button", { type: "button", class: "sim-pix-copy", "data-testid": "sim-pix-copy" },
        "Copy Pix code");
      copy.addEventListener("click", function (event) {
        event.stopPropagation();
        code.hidden = false;
        if (navigator.clipboard) { navigator.clipboard.writeText(order.pix_code).catch(function () {}); }
        copy.textContent = "Pix code copied";
      });
      actions.appendChild(copy);
      actions.appendChild(code);
    }
    var href = open ? safeUrl(order.payment_link) : "";
    if (href) {
      var pay = el("a", { class: "sim-cta", target: "_blank", rel: "noopener noreferrer", "data-testid": "sim-pay" }, "Pay");
      pay.href = href;
      actions.appendChild(pay);
    }
    box.appendChild(actions);
    return box;
  }

  function orderStatusNode(order) {
    var box = el("div", { class: "sim-order", "data-testid": "sim-order" });
    box.appendChild(el("div", { class: "sim-order-head" }, "🧾 Order " + order.reference_id));
    box.appendChild(el("div", { class: "sim-order-status", "data-testid": "sim-order-status" }, statusWords(order)));
    if (order.description) { box.appendChild(el("div", { class: "sim-msg-footer" }, order.description)); }
    return box;
  }

  function templateNodes(view) {
    var nodes = [headerNode(view.header), el("div", { class: "sim-text" }, view.body)];
    if (view.footer) { nodes.push(el("div", { class: "sim-msg-footer" }, view.footer)); }
    if (view.buttons && view.buttons.length) {
      var buttons = el("div", { class: "sim-buttons" });
      view.buttons.forEach(function (b) {
        if (b.type === "QUICK_REPLY") {
          buttons.appendChild(el("button", { type: "button", class: "sim-reply-button", "data-kind": "template",
            "data-payload": b.payload || b.text, "data-testid": "sim-reply-button" }, b.text));
        } else {
          var link = el("a", { class: "sim-cta", target: "_blank", rel: "noopener noreferrer" }, "↗ " + b.text);
          var href = safeUrl(b.url);
          if (href) { link.href = href; }
          buttons.appendChild(link);
        }
      });
      nodes.push(buttons);
    }
    return nodes;
  }

  function contentNodes(m) {
    if (m.text !== undefined) { return [el("div", { class: "sim-text" }, m.text)]; }
    if (m.media) { return [mediaNode(m.media)]; }
    if (m.location) {
      var loc = m.location;
      var label = "📍 " + [loc.name, loc.address].filter(Boolean).join(" — ");
      return [el("div", { class: "sim-location" }, label + " (" + loc.latitude + ", " + loc.longitude + ")")];
    }
    if (m.contacts) {
      return m.contacts.map(function (c) { return el("div", { class: "sim-contact" }, "👤 " + c.name + " " + c.phones.join(", ")); });
    }
    if (m.template) { return templateNodes(m.template); }
    if (m.interactive) { return interactiveNodes(m.interactive); }
    if (m.reply) { return [el("div", { class: "sim-reply" }, "↩ " + m.reply.title)]; }
    return [el("div", { class: "sim-text" }, "[" + m.type + "]")];
  }

  function messageNode(m) {
    var li = el("li", { class: "sim-msg", "data-direction": m.direction, "data-wamid": m.wamid, "data-type": m.type,
      "data-testid": "sim-msg" });
    if (m.context_id) { li.appendChild(el("div", { class: "sim-quote" }, "↪ reply to " + m.context_id.slice(0, 24) + "…")); }
    if (m.referred_product) {
      var about = m.referred_product.known ? m.referred_product.name + " · " + m.referred_product.price_display
        : m.referred_product.retailer_id;
      li.appendChild(el("div", { class: "sim-quote", "data-testid": "sim-referred-product" }, "🛍 About: " + about));
    }
    appendAll(li, contentNodes(m));
    m.errors.forEach(function (e) {
      li.appendChild(el("div", { class: "sim-msg-error" }, "Not delivered: (#" + e.code + ") " + e.title));
    });
    var meta = el("div", { class: "sim-meta" });
    var reactions = Object.keys(m.reactions || {}).map(function (k) { return m.reactions[k]; }).join(" ");
    if (reactions) { meta.appendChild(el("span", { class: "sim-reactions", "data-testid": "sim-reactions" }, reactions)); }
    if (m.direction === "out") {
      var picker = el("span", { class: "sim-react" });
      var select = el("select", { class: "sim-react-select", "aria-label": "Reaction" });
      EMOJIS.concat([""]).forEach(function (emoji) { select.appendChild(el("option", { value: emoji }, emoji || "✕")); });
      picker.appendChild(select);
      picker.appendChild(el("button", { type: "button", class: "sim-react-send", "data-testid": "sim-react" }, "React"));
      meta.appendChild(picker);
    }
    meta.appendChild(el("time", {}, new Date(m.timestamp * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })));
    meta.appendChild(el("span", { class: "sim-ticks", "data-status": m.status, "data-testid": "sim-ticks",
      title: m.status }, TICKS[m.status] || m.status));
    li.appendChild(meta);
    return li;
  }

  function renderNumbers(numbers) {
    var signature = JSON.stringify(numbers);
    if (signature === numbersSignature) { return; }
    numbersSignature = signature;
    var current = businessSelect.value || businessSelect.dataset.wanted;
    businessSelect.textContent = "";
    businessSelect.appendChild(el("option", { value: "" }, numbers.length ? "— choose —" : "no numbers registered"));
    numbers.forEach(function (n) {
      businessSelect.appendChild(el("option", { value: n.phone_number_id },
        n.verified_name + " (+" + n.display_phone_number + ")"));
    });
    if (numbers.some(function (n) { return n.phone_number_id === current; })) {
      businessSelect.value = current;
    } else if (numbers.length === 1) {
      businessSelect.value = numbers[0].phone_number_id;
    }
  }

  function renderMessages(messages) {
    var wanted = new Set(messages.map(function (m) { return m.wamid; }));
    Array.prototype.slice.call(list.children).forEach(function (child) {
      if (!wanted.has(child.getAttribute("data-wamid"))) { list.removeChild(child); }
    });
    var atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 30;
    messages.forEach(function (m, index) {
      var signature = JSON.stringify(m);
      var existing = list.querySelector('.sim-msg[data-wamid="' + CSS.escape(m.wamid) + '"]');
      if (existing && existing.getAttribute("data-signature") !== signature) {
        var replacement = messageNode(m);
        replacement.setAttribute("data-signature", signature);
        list.replaceChild(replacement, existing);
        existing = replacement;
      } else if (!existing) {
        existing = messageNode(m);
        existing.setAttribute("data-signature", signature);
      }
      if (list.children[index] !== existing) { list.insertBefore(existing, list.children[index] || null); }
    });
    if (atBottom) { list.scrollTop = list.scrollHeight; }
  }

  function render(state) {
    renderNumbers(state.numbers);
    var number = state.numbers.filter(function (n) { return n.phone_number_id === businessSelect.value; })[0];
    $("sim-chat-title").textContent = number ? number.verified_name + " · +" + number.display_phone_number : "Pick a business number";
    $("sim-typing").hidden = !state.customer.typing;
    var until = state.customer.window_open_until;
    $("sim-window").textContent = until
      ? (until > state.now ? "Customer-service window open until " + new Date(until * 1000).toLocaleString()
        : "Customer-service window closed (only templates reach you)")
      : "No message from you yet: the business can only send templates.";
    renderMessages(number ? state.messages : []);
    if (autoRead.checked && document.visibilityState === "visible" && number) {
      var unread = state.messages.filter(function (m) {
        return m.direction === "out" && (m.status === "sent" || m.status === "delivered") && !readRequested.has(m.wamid);
      });
      if (unread.length) {
        unread.forEach(function (m) { readRequested.add(m.wamid); });
        markRead(true);
      }
    }
  }

  var inFlight = false;
  function refresh() {
    if (inFlight) { return Promise.resolve(); }
    inFlight = true;
    var query = "?pnid=" + encodeURIComponent(businessSelect.value || "") + "&customer=" + encodeURIComponent(customer());
    return api("GET", "/_fake/simulator/state" + query)
      .then(render)
      .catch(function (err) { showError("Fake Cloud API unreachable: " + err.message); })
      .then(function () { inFlight = false; });
  }

  document.addEventListener("visibilitychange", refresh);
  restore();
  refresh();
  window.setInterval(refresh, 1000);
})();
