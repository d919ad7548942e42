// The message template form: shows the fields the chosen category, header and buttons need, and keeps a
// WhatsApp-like preview up to date as the admin types (examples in place of the variables). Everything is
// written with textContent; the words come translated from the "template-preview-text" JSON.
(function () {
  "use strict";

  var form = document.querySelector("[data-template-form]");
  var textNode = document.getElementById("template-preview-text");
  if (!form || !textNode) return;
  var T = JSON.parse(textNode.textContent);
  var preview = {
    header: document.querySelector("[data-preview-header]"),
    body: document.querySelector("[data-preview-body]"),
    footer: document.querySelector("[data-preview-footer]"),
    buttons: document.querySelector("[data-preview-buttons]"),
  };
  var VARIABLE = /\{\{\s*([^{}]*?)\s*\}\}/g;
  var rows = Array.prototype.slice.call(form.querySelectorAll("[data-button-row]"));
  var addButton = form.querySelector("[data-add-button]");
  var imageUrl = null;
  var imageFile = null;

  function field(name) {
    return form.querySelector("[name='" + name + "']");
  }
  function value(name) {
    var node = field(name);
    if (!node) return "";
    if (node.type === "checkbox") return node.checked ? "on" : "";
    return node.value || "";
  }
  function rowValue(row, name) {
    var node = row.querySelector("[name$='-" + name + "']");
    return node ? node.value || "" : "";
  }
  function toggle(selector, attribute, current) {
    Array.prototype.forEach.call(form.querySelectorAll(selector), function (node) {
      node.hidden = node.getAttribute(attribute).split(" ").indexOf(current) === -1;
    });
  }

  // The examples typed one per line, given to the variables in order (as the server does).
  function examples(text, lines, numbered) {
    var names = [];
    text.replace(VARIABLE, function (match, name) {
      if (names.indexOf(name) === -1) names.push(name);
      return match;
    });
    if (numbered) names.sort(function (a, b) { return (parseInt(a, 10) || 0) - (parseInt(b, 10) || 0); });
    var values = lines.split(/\r?\n/);
    var found = {};
    names.forEach(function (name, index) {
      if (values[index] && values[index].trim()) found[name] = values[index].trim();
    });
    return found;
  }
  function fill(text, values) {
    return text.replace(VARIABLE, function (match, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : match;
    });
  }

  var visibleRows = rows.filter(function (row) { return rowValue(row, "type") || row.querySelector(".errorlist"); }).length;

  function showRows() {
    rows.forEach(function (row, index) {
      var typed = rowValue(row, "type");
      row.hidden = index >= visibleRows && !typed;
      var current = typed || "NONE";
      Array.prototype.forEach.call(row.querySelectorAll("[data-when-button]"), function (node) {
        node.hidden = node.getAttribute("data-when-button").split(" ").indexOf(current) === -1;
      });
    });
    if (addButton) addButton.hidden = visibleRows >= rows.length;
  }

  function renderHeader(category) {
    preview.header.textContent = "";
    if (category === "AUTHENTICATION") return;
    var format = value("header_format");
    if (format === "TEXT") {
      var headerText = value("header_text");
      var example = value("header_example").trim();
      preview.header.textContent = example ? headerText.replace(VARIABLE, example) : headerText;
      return;
    }
    if (!T[format]) return;
    var media = document.createElement("div");
    media.className = "wa-media";
    var input = field("header_sample");
    var file = input && input.files && input.files[0];
    if (format === "IMAGE" && file && /^image\//.test(file.type)) {
      // One object URL per chosen file: the preview is redrawn at every keystroke.
      if (file !== imageFile) {
        if (imageUrl) URL.revokeObjectURL(imageUrl);
        imageFile = file;
        imageUrl = URL.createObjectURL(file);
      }
      var img = document.createElement("img");
      img.src = imageUrl;
      img.alt = T.IMAGE;
      media.appendChild(img);
    } else {
      media.textContent = file ? T[format] + ": " + file.name : T[format];
    }
    preview.header.appendChild(media);
  }

  function renderButtons(category) {
    preview.buttons.textContent = "";
    var labels = [];
    if (category === "AUTHENTICATION") {
      labels.push(value("otp_type") === "ONE_TAP" && value("autofill_text") ? value("autofill_text") : value("otp_text"));
    } else {
      rows.forEach(function (row) {
        var type = rowValue(row, "type");
        if (!type) return;
        labels.push(type === "COPY_CODE" ? T.COPY_CODE : rowValue(row, "text"));
      });
    }
    labels.forEach(function (label) {
      var item = document.createElement("li");
      item.textContent = label;
      preview.buttons.appendChild(item);
    });
  }

  function update() {
    var category = value("category");
    toggle("[data-when-category]", "data-when-category", category);
    toggle("[data-when-header]", "data-when-header", value("header_format"));
    toggle("[data-when-otp]", "data-when-otp", value("otp_type"));
    showRows();
    renderHeader(category);
    if (category === "AUTHENTICATION") {
      var body = T.auth_body.replace("{{1}}", T.auth_code);
      if (value("add_security_recommendation")) body += " " + T.auth_security;
      preview.body.textContent = body;
      var minutes = value("code_expiration_minutes");
      preview.footer.textContent = minutes ? T.auth_expires.replace("%(minutes)s", minutes) : "";
    } else {
      var text = value("body");
      preview.body.textContent = fill(text, examples(text, value("body_examples"), value("parameter_format") !== "NAMED"));
      preview.footer.textContent = value("footer");
    }
    renderButtons(category);
  }

  if (addButton) {
    addButton.addEventListener("click", function () {
      visibleRows = Math.min(visibleRows + 1, rows.length);
      update();
      var select = rows[visibleRows - 1] && rows[visibleRows - 1].querySelector("select");
      if (select) select.focus();
    });
  }
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
})();
