// The automation rule form: rows of selects and inputs for the conditions (AND/OR groups) and the
// actions, kept in sync with the JSON fields the server reads (which stay usable without JavaScript).
// Every word shown comes from the server, translated, in the "rule-options" JSON.
(function () {
  "use strict";

  var form = document.querySelector("[data-rule-form]");
  var optionsNode = document.getElementById("rule-options");
  if (!form || !optionsNode) return;
  var O = JSON.parse(optionsNode.textContent);
  var T = O.text;
  var conditionsField = form.querySelector("[name=conditions]");
  var actionsField = form.querySelector("[name=actions]");
  var eventField = form.querySelector("[name=event]");
  var conditionsRoot = form.querySelector("[data-rule-conditions]");
  var actionsRoot = form.querySelector("[data-rule-actions]");

  function parse(text, fallback) {
    try { return JSON.parse(text); } catch (e) { return fallback; }
  }
  var tree = parse(conditionsField.value, null) || { op: "and", items: [] };
  if (!tree.items) tree = { op: "and", items: [] };
  var actions = parse(actionsField.value, null);
  if (!Array.isArray(actions)) actions = [];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function select(label, choices, value, onChange, multiple) {
    var s = el("select", { "aria-label": label });
    if (multiple) s.multiple = true;
    choices.forEach(function (c) {
      var o = el("option", { value: String(c.value), text: c.label });
      var values = multiple ? (value || []).map(String) : [String(value)];
      if (values.indexOf(String(c.value)) !== -1) o.selected = true;
      s.appendChild(o);
    });
    s.addEventListener("change", function () {
      if (multiple) {
        onChange(Array.prototype.filter.call(s.options, function (o) { return o.selected; }).map(function (o) { return o.value; }));
      } else onChange(s.value);
    });
    return s;
  }

  function input(label, value, onChange, type) {
    var i = el("input", { type: type || "text", "aria-label": label, placeholder: label });
    i.value = value == null ? "" : value;
    i.addEventListener("input", function () { onChange(i.value); });
    return i;
  }

  function lines(label, values, onChange) {
    var t = el("textarea", { rows: "2", "aria-label": label, placeholder: label });
    t.value = (values || []).join("\n");
    t.addEventListener("input", function () {
      onChange(t.value.split("\n").map(function (v) { return v.trim(); }).filter(Boolean));
    });
    return t;
  }

  function button(text, onClick, cls) {
    var b = el("button", { type: "button", "class": "btn btn-secondary btn-sm " + (cls || ""), text: text });
    b.addEventListener("click", function () { onClick(); render(); });
    return b;
  }

  function ops(names) {
    return names.map(function (n) { return { value: n, label: O.operators[n] }; });
  }
  function ints(values) { return (values || []).map(function (v) { return parseInt(v, 10); }); }
  function first(list) { return list.length ? list[0].value : null; }

  function conditionDefaults(type) {
    switch (type) {
      case "text_contains": return { type: type, value: "" };
      case "text_regex": return { type: type, pattern: "" };
      case "keywords": return { type: type, values: [] };
      case "contact_attribute": return { type: type, key: "", operator: "equals", value: "" };
      case "contact_label":
      case "conversation_label": return { type: type, operator: "has", label_id: first(O.labels) };
      case "inbox": return { type: type, operator: "is", inbox_ids: O.inboxes.length ? [O.inboxes[0].value] : [] };
      case "team": return { type: type, operator: "is", team_ids: O.teams.length ? [O.teams[0].value] : [] };
      case "priority": return { type: type, operator: "is", values: ["urgent"] };
      case "business_hours": return { type: type, value: "out" };
      case "contact_language": return { type: type, operator: "is", values: ["pt-br"] };
      default: return { type: "first_message", value: true };
    }
  }

  function conditionFields(c) {
    var set = function (k) { return function (v) { c[k] = v; sync(); }; };
    switch (c.type) {
      case "text_contains": return [input(T.value, c.value, set("value"))];
      case "text_regex": return [input(T.pattern, c.pattern, set("pattern"))];
      case "keywords": return [lines(T.keywords, c.values, set("values"))];
      case "contact_attribute":
        var fields = [
          input(T.key, c.key, set("key")),
          select(T.value, ops(["equals", "contains", "exists", "not_exists"]), c.operator, function (v) {
            c.operator = v;
            if (v === "exists" || v === "not_exists") delete c.value; else if (c.value == null) c.value = "";
            render();
          })
        ];
        if (c.operator === "equals" || c.operator === "contains") fields.push(input(T.value, c.value, set("value")));
        return fields;
      case "contact_label":
      case "conversation_label":
        return [
          select(T.value, ops(["has", "has_not"]), c.operator, set("operator")),
          select(T.value, O.labels, c.label_id, function (v) { c.label_id = parseInt(v, 10); sync(); })
        ];
      case "inbox":
        return [
          select(T.value, ops(["is", "is_not"]), c.operator, set("operator")),
          select(T.value, O.inboxes, c.inbox_ids, function (v) { c.inbox_ids = ints(v); sync(); }, true)
        ];
      case "team":
        return [
          select(T.value, ops(["is", "is_not"]), c.operator, set("operator")),
          select(T.value, O.teams, c.team_ids, function (v) { c.team_ids = ints(v); sync(); }, true)
        ];
      case "priority":
        return [
          select(T.value, ops(["is", "is_not"]), c.operator, set("operator")),
          select(T.value, O.priorities, c.values, set("values"), true)
        ];
      case "business_hours":
        return [select(T.value, [{ value: "in", label: T.in_hours }, { value: "out", label: T.out_hours }], c.value, set("value"))];
      case "contact_language":
        return [select(T.value, ops(["is", "is_not"]), c.operator, set("operator")), lines(T.languages, c.values, set("values"))];
      default:
        return [select(T.value, [{ value: "true", label: T.yes }, { value: "false", label: T.no }], String(c.value), function (v) { c.value = v === "true"; sync(); })];
    }
  }

  function conditionTypes() {
    var messageEvent = O.message_events.indexOf(eventField.value) !== -1;
    return O.conditions.map(function (c) {
      var limited = O.message_conditions.indexOf(c.value) !== -1 && !messageEvent;
      return { value: c.value, label: limited ? c.label + " (" + T.message_only + ")" : c.label };
    });
  }

  function groupNode(group, parent, depth) {
    var box = el("fieldset", { "class": "rule-group" });
    var header = el("div", { "class": "rule-row" }, [
      select(T.all, [{ value: "and", label: T.all }, { value: "or", label: T.any }], group.op, function (v) { group.op = v; sync(); })
    ]);
    if (parent) header.appendChild(button(T.remove, function () { parent.items.splice(parent.items.indexOf(group), 1); }, "btn-danger"));
    box.appendChild(header);
    if (!parent && !group.items.length) box.appendChild(el("p", { "class": "muted small", text: T.no_conditions }));
    group.items.forEach(function (item, index) {
      if (item.type === undefined) { box.appendChild(groupNode(item, group, depth + 1)); return; }
      var row = el("div", { "class": "rule-row" }, [
        select(T.value, conditionTypes(), item.type, function (v) { group.items[index] = conditionDefaults(v); render(); })
      ]);
      conditionFields(item).forEach(function (f) { row.appendChild(f); });
      row.appendChild(button(T.remove, function () { group.items.splice(index, 1); }, "btn-danger"));
      box.appendChild(row);
    });
    var tools = el("div", { "class": "rule-row" }, [
      button(T.add_condition, function () { group.items.push(conditionDefaults(O.message_events.indexOf(eventField.value) !== -1 ? "text_contains" : "inbox")); })
    ]);
    if (depth < 3) tools.appendChild(button(T.add_group, function () { group.items.push({ op: "and", items: [] }); }));
    box.appendChild(tools);
    return box;
  }

  function actionDefaults(type) {
    switch (type) {
      case "assign_agent": return { type: type, user_id: first(O.members) };
      case "assign_team": return { type: type, team_id: first(O.teams) };
      case "add_label":
      case "remove_label": return { type: type, label_ids: O.labels.length ? [O.labels[0].value] : [] };
      case "set_priority": return { type: type, priority: "high" };
      case "send_message": return { type: type, text: "", template: null };
      case "send_quick_reply": return { type: type, quick_reply_id: first(O.quick_replies) };
      case "add_note": return { type: type, text: "" };
      case "snooze": return { type: type, mode: "hours", hours: 4 };
      default: return { type: type };
    }
  }

  function actionFields(a) {
    var set = function (k) { return function (v) { a[k] = v; sync(); }; };
    switch (a.type) {
      case "assign_agent": return [select(T.value, O.members, a.user_id, function (v) { a.user_id = parseInt(v, 10); sync(); })];
      case "assign_team": return [select(T.value, O.teams, a.team_id, function (v) { a.team_id = parseInt(v, 10); sync(); })];
      case "add_label":
      case "remove_label": return [select(T.value, O.labels, a.label_ids, function (v) { a.label_ids = ints(v); sync(); }, true)];
      case "set_priority": return [select(T.value, O.priorities, a.priority, set("priority"))];
      case "send_message":
        var templates = [{ value: "", label: T.no_template }].concat(O.templates.map(function (t) {
          return { value: t.name + "|" + t.language, label: t.label };
        }));
        var current = a.template ? a.template.name + "|" + a.template.language : "";
        var text = el("textarea", { rows: "3", "aria-label": T.text, placeholder: T.text });
        text.value = a.text || "";
        text.addEventListener("input", function () { a.text = text.value; sync(); });
        return [text, select(T.template, templates, current, function (v) {
          if (!v) { a.template = null; } else {
            var parts = v.split("|");
            a.template = { name: parts[0], language: parts[1], params: {} };
          }
          sync();
        })];
      case "send_quick_reply": return [select(T.value, O.quick_replies, a.quick_reply_id, function (v) { a.quick_reply_id = parseInt(v, 10); sync(); })];
      case "add_note":
        var note = el("textarea", { rows: "2", "aria-label": T.value, placeholder: T.value });
        note.value = a.text || "";
        note.addEventListener("input", function () { a.text = note.value; sync(); });
        return [note];
      case "snooze":
        var fields = [select(T.value, [{ value: "hours", label: T.for_hours }, { value: "next_opening", label: T.next_opening }], a.mode, function (v) {
          a.mode = v;
          if (v === "hours") a.hours = a.hours || 4; else delete a.hours;
          render();
        })];
        if (a.mode === "hours") fields.push(input(T.hours, a.hours, function (v) { a.hours = parseInt(v, 10) || 0; sync(); }, "number"));
        return fields;
      default: return [];
    }
  }

  function actionsNode() {
    var box = el("div", { "class": "rule-actions" });
    actions.forEach(function (a, index) {
      var row = el("div", { "class": "rule-row" }, [
        el("span", { "class": "muted", text: String(index + 1) + "." }),
        select(T.value, O.actions, a.type, function (v) { actions[index] = actionDefaults(v); render(); })
      ]);
      actionFields(a).forEach(function (f) { row.appendChild(f); });
      if (index > 0) row.appendChild(button(T.up, function () { actions.splice(index - 1, 0, actions.splice(index, 1)[0]); }));
      if (index < actions.length - 1) row.appendChild(button(T.down, function () { actions.splice(index + 1, 0, actions.splice(index, 1)[0]); }));
      row.appendChild(button(T.remove, function () { actions.splice(index, 1); }, "btn-danger"));
      box.appendChild(row);
    });
    box.appendChild(el("div", { "class": "rule-row" }, [button(T.add_action, function () { actions.push(actionDefaults("add_label")); })]));
    return box;
  }

  function sync() {
    conditionsField.value = JSON.stringify(tree);
    actionsField.value = JSON.stringify(actions);
  }

  function render() {
    conditionsRoot.replaceChildren(groupNode(tree, null, 1));
    actionsRoot.replaceChildren(actionsNode());
    sync();
  }

  // Edits typed in the JSON fields are taken back into the rows.
  [conditionsField, actionsField].forEach(function (field) {
    field.addEventListener("change", function () {
      var t = parse(conditionsField.value, null);
      var a = parse(actionsField.value, null);
      if (t && t.items) tree = t;
      if (Array.isArray(a)) actions = a;
      render();
    });
  });
  eventField.addEventListener("change", render);
  render();
})();
