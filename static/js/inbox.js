// The agent inbox. The server renders every fragment; this script fetches them, keeps the list and the
// open conversation in step with live events, and treats each event only as a hint: it always reads
// the server's state by cursor (messages after the newest shown, rows by id), so after a reconnect
// or a lost event nothing is missed.
(function () {
  "use strict";

  var root = document.getElementById("inbox");
  if (!root) return;
  var slug = root.dataset.slug;
  var base = root.dataset.base; // /t/<slug>/inbox/
  var userId = Number(root.dataset.userId);
  var csrf = (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";
  var rowsEl = root.querySelector("[data-rows]");
  var listSentinel = root.querySelector("[data-list-sentinel]");
  var paneEl = root.querySelector("[data-pane]");
  var sidebarEl = root.querySelector("[data-sidebar]");
  var filtersForm = root.querySelector("[data-filters]");
  var liveState = root.querySelector("[data-live-state]");
  var toasts = document.querySelector("[data-toasts]");

  var state = {
    tab: (root.querySelector(".tab[aria-pressed=true]") || {dataset: {tab: "all"}}).dataset.tab,
    open: root.dataset.open ? Number(root.dataset.open) : null,
    conversation: null, // {id, display_id, window_open, ...}
    newestId: 0,
    oldestId: 0,
    loadingOlder: false,
    loadingList: false,
    mode: "reply",
    replyTo: null,
    mentions: {},
    sending: false,
    pendingKey: null,
    pendingKeyFor: null, // the conversation the pending key was made for
    templates: [],
    quickReplies: null,
    popupItems: [],
    popupIndex: 0,
    socketOpenedOnce: false,
    quickReplyFile: null,
  };

  // --- helpers --------------------------------------------------------------------------------------

  function url(path, params) {
    var u = new URL(base + path, window.location.origin);
    if (params) Object.keys(params).forEach(function (k) {
      var v = params[k];
      if (Array.isArray(v)) v.forEach(function (x) { u.searchParams.append(k, x); });
      else if (v !== null && v !== undefined && v !== "") u.searchParams.set(k, v);
    });
    return u.toString();
  }

  function getJSON(u) {
    return fetch(u, {credentials: "same-origin", headers: {"Accept": "application/json"}}).then(readJSON);
  }

  function postForm(path, data) {
    var body = data instanceof FormData ? data : new FormData();
    if (!(data instanceof FormData) && data) Object.keys(data).forEach(function (k) {
      var v = data[k];
      if (Array.isArray(v)) v.forEach(function (x) { body.append(k, x); });
      else if (v !== null && v !== undefined) body.append(k, v);
    });
    return fetch(url(path), {
      method: "POST", credentials: "same-origin", body: body,
      headers: {"X-CSRFToken": csrf, "Accept": "application/json"},
    }).then(readJSON);
  }

  function readJSON(response) {
    return response.json().catch(function () { return {}; }).then(function (data) {
      if (!response.ok) {
        var err = new Error((data.error && data.error.message) || ("Request failed (" + response.status + ")"));
        err.status = response.status;
        err.data = data;
        throw err;
      }
      return data;
    });
  }

  function fragment(html) {
    var t = document.createElement("template");
    t.innerHTML = html;
    return t.content;
  }

  function toast(text, kind) {
    if (!toasts) return;
    var el = document.createElement("div");
    el.className = "toast" + (kind ? " toast-" + kind : "");
    el.textContent = text;
    toasts.appendChild(el);
    setTimeout(function () { el.remove(); }, 6000);
  }

  function currentFilters() {
    var data = {tab: state.tab};
    new FormData(filtersForm).forEach(function (v, k) { data[k] = v; });
    if (data.q && data.q.trim().length < 3) data.q = ""; // the server searches from 3 characters
    return data;
  }

  // --- the list -------------------------------------------------------------------------------------

  function setCounts(counts) {
    if (!counts) return;
    Object.keys(counts).forEach(function (k) {
      var el = root.querySelector("[data-count='" + k + "']");
      if (el) el.textContent = counts[k];
    });
  }

  function rowKey(li) {
    // Sort key as the server orders: latest activity first (ties: higher id first), or longest waiting.
    var sort = filtersForm.elements.sort.value;
    if (sort === "waiting") return [li.dataset.waiting || "9999", Number(li.dataset.id)];
    return [li.dataset.activity || "", Number(li.dataset.id)];
  }

  function before(a, b) {
    var ka = rowKey(a), kb = rowKey(b);
    var sort = filtersForm.elements.sort.value;
    if (sort === "waiting") return ka[0] < kb[0] || (ka[0] === kb[0] && ka[1] < kb[1]);
    return ka[0] > kb[0] || (ka[0] === kb[0] && ka[1] > kb[1]);
  }

  function placeRow(li) {
    var existing = document.getElementById(li.id);
    if (existing) existing.remove();
    var empty = listSentinel.querySelector(".empty");
    if (empty) empty.remove();
    var rows = rowsEl.children;
    for (var i = 0; i < rows.length; i++) {
      if (before(li, rows[i])) { rowsEl.insertBefore(li, rows[i]); return; }
    }
    // Past the loaded part of the list: it will come with a later page, unless the list is complete.
    if (!listSentinel.dataset.next) rowsEl.appendChild(li);
  }

  function markActiveRow() {
    rowsEl.querySelectorAll(".row").forEach(function (li) {
      li.classList.toggle("is-active", state.open !== null && Number(li.dataset.displayId) === state.open);
    });
  }

  function reloadList() {
    state.loadingList = true;
    var params = currentFilters();
    return getJSON(url("list/", params)).then(function (data) {
      rowsEl.innerHTML = "";
      rowsEl.appendChild(fragment(data.html));
      listSentinel.dataset.next = data.next || "";
      listSentinel.innerHTML = data.ids.length ? "" : "<p class='empty muted'></p>";
      if (!data.ids.length) listSentinel.firstChild.textContent = rowsEl.dataset.empty || "No conversations here.";
      setCounts(data.counts);
      markActiveRow();
      var q = new URLSearchParams(params);
      history.replaceState(history.state, "", (state.open ? base + "c/" + state.open + "/" : base) + "?" + q.toString());
    }).catch(function (err) { toast(err.message, "error"); }).finally(function () { state.loadingList = false; });
  }

  function loadMoreRows() {
    var cursor = listSentinel.dataset.next;
    if (!cursor || state.loadingList) return;
    state.loadingList = true;
    var params = currentFilters();
    params.cursor = cursor;
    getJSON(url("list/", params)).then(function (data) {
      var frag = fragment(data.html);
      Array.prototype.slice.call(frag.children).forEach(function (li) {
        var old = document.getElementById(li.id);
        if (old) old.remove();
        rowsEl.appendChild(li);
      });
      listSentinel.dataset.next = data.next || "";
      markActiveRow();
    }).catch(function (err) { toast(err.message, "error"); }).finally(function () { state.loadingList = false; });
  }

  var pendingRows = new Set();
  var rowsTimer = null;
  function refreshRows(ids) {
    ids.forEach(function (id) { pendingRows.add(id); });
    if (rowsTimer) return;
    // Events of one burst are fetched together.
    rowsTimer = setTimeout(function () {
      rowsTimer = null;
      var batch = Array.from(pendingRows).slice(0, 100);
      batch.forEach(function (id) { pendingRows.delete(id); });
      var params = currentFilters();
      params.ids = batch.join(",");
      getJSON(url("rows/", params)).then(function (data) {
        Object.keys(data.rows).forEach(function (id) {
          var li = fragment(data.rows[id]).firstElementChild;
          if (li) placeRow(li);
        });
        data.missing.forEach(function (id) {
          var li = document.getElementById("c-" + id);
          if (li) li.remove();
        });
        setCounts(data.counts);
        markActiveRow();
        if (pendingRows.size) refreshRows([]);
      }).catch(function () { /* the next resync catches up */ });
    }, 60);
  }

  // --- the conversation pane ------------------------------------------------------------------------

  function historyEl() { return paneEl.querySelector("[data-history]"); }
  function messagesEl() { return paneEl.querySelector("[data-messages]"); }

  function trackIds() {
    var shown = paneEl.querySelectorAll("[data-messages] > [data-id]");
    var ids = Array.prototype.map.call(shown, function (el) { return Number(el.dataset.id); });
    // Ids are arrival order (catching up asks for later ones); the top of the history is where scrolling back starts.
    state.newestId = ids.length ? Math.max.apply(null, ids) : 0;
    state.oldestId = ids.length ? ids[0] : 0;
  }

  function nearBottom() {
    var h = historyEl();
    return !h || h.scrollHeight - h.scrollTop - h.clientHeight < 120;
  }

  function scrollToBottom() {
    var h = historyEl();
    if (h) h.scrollTop = h.scrollHeight;
  }

  // Day separators: one before the first message of each day, in the order the history shows;
  // each message carries its day and the day's label (rendered in the viewer's time zone).
  function syncDays(list) {
    var day = null;
    Array.prototype.slice.call(list.children).forEach(function (el) {
      if (el.classList.contains("msg-day")) { el.remove(); return; }
      if (!el.dataset.day || el.dataset.day === day) return;
      day = el.dataset.day;
      var sep = document.createElement("p");
      sep.className = "msg-day";
      sep.dataset.day = day;
      var time = document.createElement("time");
      time.setAttribute("datetime", day);
      time.textContent = el.dataset.dayLabel || day;
      sep.appendChild(time);
      el.before(sep);
    });
  }

  function upsertMessages(html) {
    var list = messagesEl();
    if (!list) return;
    var stick = nearBottom();
    Array.prototype.slice.call(fragment(html).children).forEach(function (el) {
      if (!el.dataset.id) return; // a day separator: placed by syncDays below
      var old = document.getElementById(el.id);
      if (old) { old.replaceWith(el); return; }
      // The server's key places it (the customer's time, then arrival): a late message slots in where it belongs.
      var key = el.dataset.key;
      var after = null;
      var children = list.querySelectorAll(":scope > [data-key]");
      for (var i = children.length - 1; i >= 0; i--) {
        if (children[i].dataset.key < key) { after = children[i]; break; }
      }
      if (after) after.after(el);
      else if (!olderRemain() || !children.length) list.prepend(el);
      // Otherwise it belongs among older messages not loaded yet: scrolling back brings it.
    });
    syncDays(list);
    trackIds();
    if (stick) scrollToBottom();
  }

  function olderRemain() {
    var sentinel = paneEl.querySelector("[data-history-sentinel]");
    return !!sentinel && sentinel.dataset.more === "1";
  }

  function setConversation(conv) {
    state.conversation = conv;
    var pane = paneEl.querySelector(".pane");
    if (pane) pane.dataset.windowOpen = conv.window_open ? "1" : "0";
    applyWindow();
  }

  function applyWindow() {
    var pane = paneEl.querySelector(".pane");
    if (!pane) return;
    var open = pane.dataset.windowOpen === "1";
    var free = pane.querySelector("[data-free]");
    var picker = pane.querySelector("[data-template-picker]");
    if (!free || !picker) return;
    var note = state.mode === "note";
    free.hidden = !open && !note;
    picker.hidden = open || note;
    if (!open && !note) loadTemplates();
  }

  function openConversation(displayId, opts) {
    opts = opts || {};
    state.open = displayId;
    root.classList.add("has-conversation");
    markActiveRow();
    var sidebar = getJSON(url("c/" + displayId + "/sidebar/"));
    return getJSON(url("c/" + displayId + "/pane/")).then(function (data) {
      paneEl.innerHTML = data.html;
      sidebar.then(function (side) { if (state.open === displayId) sidebarEl.innerHTML = side.html; })
        .catch(function () { sidebarEl.innerHTML = ""; });
      state.quickReplies = null;
      state.templates = [];
      state.replyTo = null;
      state.mentions = {};
      setMode("reply");
      setConversation(data.conversation);
      trackIds();
      scrollToBottom();
      restoreDraft();
      observeHistory();
      if (!opts.keepUrl) {
        var q = new URLSearchParams(currentFilters()).toString();
        history.pushState({open: displayId}, "", base + "c/" + displayId + "/?" + q);
      }
      markRead();
      if (opts.focus !== false) {
        var ta = paneEl.querySelector("[data-text]");
        if (ta && window.matchMedia("(min-width: 900px)").matches) ta.focus();
      }
    }).catch(function (err) {
      if (err.status === 404) {
        paneEl.innerHTML = "<div class='pane-empty muted'><p></p></div>";
        paneEl.querySelector("p").textContent = "This conversation is not available to you.";
      } else toast(err.message, "error");
    });
  }

  function catchUp() {
    // Everything after the newest message shown; repeated until there is nothing more.
    if (!state.open) return Promise.resolve();
    var displayId = state.open;
    return getJSON(url("c/" + displayId + "/messages/", {after: state.newestId})).then(function (data) {
      if (state.open !== displayId) return;
      upsertMessages(data.html);
      setConversation(data.conversation);
      if (data.more) return catchUp();
    });
  }

  function refreshMessages(ids) {
    if (!state.open || !ids.length) return Promise.resolve();
    return getJSON(url("c/" + state.open + "/messages/", {ids: ids.join(",")})).then(function (data) {
      upsertMessages(data.html);
    });
  }

  function loadOlder() {
    var sentinel = paneEl.querySelector("[data-history-sentinel]");
    if (!sentinel || sentinel.dataset.more !== "1" || state.loadingOlder || !state.oldestId) return;
    state.loadingOlder = true;
    var h = historyEl();
    var fromBottom = h.scrollHeight - h.scrollTop;
    getJSON(url("c/" + state.open + "/messages/", {before: state.oldestId})).then(function (data) {
      messagesEl().prepend(fragment(data.html));
      syncDays(messagesEl());
      trackIds();
      sentinel.dataset.more = data.more ? "1" : "0";
      if (!data.more) sentinel.innerHTML = "<p class='muted small'>Start of the conversation</p>";
      h.scrollTop = h.scrollHeight - fromBottom; // keep the reader's place
    }).finally(function () { state.loadingOlder = false; });
  }

  var historyObserver = null;
  function observeHistory() {
    if (historyObserver) historyObserver.disconnect();
    var sentinel = paneEl.querySelector("[data-history-sentinel]");
    if (!sentinel || !("IntersectionObserver" in window)) return;
    historyObserver = new IntersectionObserver(function (entries) {
      if (entries[0].isIntersecting) loadOlder();
    }, {root: historyEl(), rootMargin: "200px 0px 0px 0px"});
    historyObserver.observe(sentinel);
  }

  var readTimer = null;
  function markRead() {
    if (!state.open || document.hidden) return;
    clearTimeout(readTimer);
    readTimer = setTimeout(function () {
      var li = rowsEl.querySelector("[data-display-id='" + state.open + "']");
      if (li && !li.classList.contains("is-unread")) return;
      postForm("c/" + state.open + "/read/", {}).catch(function () {});
    }, 300);
  }

  // A conversation this member can no longer see (assigned to someone else): its row goes, and if it
  // is open the pane closes with one toast. Nothing of it is fetched again (the server would answer 404).
  function conversationGone(displayId) {
    var li = rowsEl.querySelector("[data-display-id='" + displayId + "']");
    if (li) li.remove();
    if (state.open !== displayId) return;
    toast(root.dataset.textHidden || "The conversation is now assigned to someone else.");
    closePane();
    history.replaceState({}, "", base + window.location.search);
  }

  function applyHeader(data, displayId) {
    if (data.counts) setCounts(data.counts);
    if (data.hidden) {
      conversationGone(displayId);
      return;
    }
    var head = paneEl.querySelector("[data-pane-head]");
    if (head && data.header) {
      head.replaceWith(fragment(data.header));
      var toggle = contactToggle();
      if (toggle) toggle.setAttribute("aria-expanded", String(root.classList.contains("contact-open")));
    }
    if (data.conversation) setConversation(data.conversation);
  }

  var headerTimer = null;
  function refreshHeader() {
    if (!state.open) return;
    clearTimeout(headerTimer);
    // Debounced: a burst of events re-renders the header once.
    headerTimer = setTimeout(function () {
      var displayId = state.open;
      getJSON(url("c/" + displayId + "/header/")).then(function (data) {
        if (state.open === displayId) applyHeader(data, displayId);
      }).catch(function (err) { if (err.status === 404) closePane(); });
    }, 80);
  }

  // --- the contact panel: a column on wide screens, a drawer below 1200 px ----------------------------

  function contactToggle() { return paneEl.querySelector("[data-contact-toggle]"); }

  function openContact() {
    root.classList.add("contact-open");
    var toggle = contactToggle();
    if (toggle) toggle.setAttribute("aria-expanded", "true");
    sidebarEl.focus();
  }

  function closeContact(returnFocus) {
    if (!root.classList.contains("contact-open")) return;
    root.classList.remove("contact-open");
    var toggle = contactToggle();
    if (toggle) {
      toggle.setAttribute("aria-expanded", "false");
      if (returnFocus) toggle.focus();
    }
  }

  function closePane() {
    closeContact(false);
    // Pending work for the conversation that closes must not fetch it any more.
    clearTimeout(headerTimer);
    clearTimeout(readTimer);
    state.open = null;
    state.conversation = null;
    root.classList.remove("has-conversation");
    paneEl.innerHTML = "<div class='pane-empty muted'><p>Choose a conversation.</p></div>";
    sidebarEl.innerHTML = "";
    markActiveRow();
  }

  // --- composing ------------------------------------------------------------------------------------

  function composer() { return paneEl.querySelector("[data-composer]"); }
  function textArea() { return paneEl.querySelector("[data-text]"); }
  function draftKey() { return "draft:" + slug + ":" + state.open + ":" + state.mode; }

  function saveDraft() {
    var ta = textArea();
    if (!ta || !state.open) return;
    try {
      if (ta.value) localStorage.setItem(draftKey(), ta.value); else localStorage.removeItem(draftKey());
    } catch (e) { /* storage full or disabled: drafts are a convenience */ }
  }

  function restoreDraft() {
    var ta = textArea();
    if (!ta) return;
    try { ta.value = localStorage.getItem(draftKey()) || ""; } catch (e) { ta.value = ""; }
  }

  function setMode(mode) {
    var form = composer();
    if (!form) return;
    saveDraft();
    state.mode = mode;
    form.classList.toggle("is-note", mode === "note");
    form.querySelectorAll("[data-mode]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.mode === mode));
    });
    var ta = textArea();
    if (ta) ta.placeholder = mode === "note"
      ? "Private note for the team… (@ to mention)"
      : "Type a reply… (/ for quick replies, Enter sends, Shift+Enter new line)";
    restoreDraft();
    applyWindow();
  }

  function setError(text) {
    var el = paneEl.querySelector("[data-send-error]");
    if (el) el.textContent = text || "";
  }

  function newKey() {
    return (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
      : String(Date.now()) + Math.random().toString(16).slice(2);
  }

  // The key of the message being sent here; one made in another conversation is never reused.
  function pendingKey() {
    if (!state.pendingKey || state.pendingKeyFor !== state.open) {
      state.pendingKey = newKey();
      state.pendingKeyFor = state.open;
    }
    return state.pendingKey;
  }

  function send() {
    var ta = textArea();
    var form = composer();
    if (!ta || !form || state.sending) return; // a second Enter while sending does nothing
    var fileInput = form.querySelector("[data-file]");
    var file = fileInput && fileInput.files[0];
    var text = ta.value;
    if (!text.trim() && !file) return;
    state.sending = true;
    // The key stays the same for a retry of the same message, so the server sends it once.
    var key = pendingKey();
    var data = new FormData();
    data.append("text", text);
    var path;
    if (state.mode === "note") {
      path = "c/" + state.open + "/note/";
      Object.keys(state.mentions).forEach(function (name) {
        if (text.indexOf("@" + name) !== -1) data.append("mention", state.mentions[name]);
      });
    } else {
      path = "c/" + state.open + "/send/";
      data.append("idempotency_key", key);
      if (state.replyTo) data.append("reply_to", state.replyTo);
      if (file) data.append("file", file);
      else if (state.quickReplyFile) data.append("quick_reply", state.quickReplyFile);
    }
    var button = form.querySelector("[data-send]");
    if (button) button.disabled = true;
    setError("");
    var displayId = state.open;
    postForm(path, data).then(function (res) {
      state.pendingKey = null;
      if (state.open === displayId) {
        ta.value = "";
        try { localStorage.removeItem(draftKey()); } catch (e) { /* ignore */ }
        if (fileInput) { fileInput.value = ""; paneEl.querySelector("[data-file-name]").textContent = ""; }
        state.quickReplyFile = null;
        cancelReply();
        state.mentions = {};
        upsertMessages(res.html);
        scrollToBottom();
      }
    }).catch(function (err) {
      if (err.data && err.data.error && err.data.error.code === "reply_window_closed") {
        var pane = paneEl.querySelector(".pane");
        if (pane) pane.dataset.windowOpen = "0";
        applyWindow();
      }
      setError(err.message + " ");
      var retry = document.createElement("button");
      retry.type = "button";
      retry.className = "btn-secondary small";
      retry.textContent = "Retry";
      retry.addEventListener("click", function () { setError(""); send(); });
      var holder = paneEl.querySelector("[data-send-error]");
      if (holder) holder.appendChild(retry);
    }).finally(function () {
      state.sending = false;
      if (button) button.disabled = false;
    });
  }

  function cancelReply() {
    state.replyTo = null;
    var bar = paneEl.querySelector("[data-reply-to]");
    if (bar) bar.hidden = true;
  }

  // Quick replies ("/") and mentions ("@") share one pop-up under the text box.
  function popup() { return paneEl.querySelector("[data-popup]"); }

  function popupExpanded(open) {
    var ta = textArea();
    if (!ta) return;
    ta.setAttribute("aria-expanded", String(open));
    if (!open) ta.removeAttribute("aria-activedescendant");
  }

  function closePopup() {
    var p = popup();
    if (p) { p.hidden = true; p.innerHTML = ""; }
    state.popupItems = [];
    popupExpanded(false);
  }

  function showPopup(items, render) {
    var p = popup();
    if (!p) return;
    state.popupItems = items;
    state.popupIndex = 0;
    p.innerHTML = "";
    if (!items.length) { p.hidden = true; popupExpanded(false); return; }
    items.forEach(function (item, i) {
      // Options are not in the tab order: the text box keeps the focus and points at the active one.
      var opt = document.createElement("div");
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
    var p = popup();
    if (!p) return;
    Array.prototype.forEach.call(p.children, function (el, i) {
      el.setAttribute("aria-selected", String(i === state.popupIndex));
      if (i === state.popupIndex) {
        el.scrollIntoView({block: "nearest"});
        var ta = textArea();
        if (ta) ta.setAttribute("aria-activedescendant", el.id);
      }
    });
  }

  function loadQuickReplies() {
    if (state.quickReplies) return Promise.resolve(state.quickReplies);
    return getJSON(url("c/" + state.open + "/quick-replies/")).then(function (data) {
      state.quickReplies = data.quick_replies;
      return state.quickReplies;
    });
  }

  var mentionMembers = null;
  function loadMentionMembers() {
    if (mentionMembers && mentionMembers.open === state.open) return Promise.resolve(mentionMembers.list);
    return getJSON(url("c/" + state.open + "/mentions/")).then(function (data) {
      mentionMembers = {open: state.open, list: data.members};
      return data.members;
    });
  }

  function onInput() {
    var ta = textArea();
    if (!ta) return;
    saveDraft();
    state.pendingKey = null; // an edited message is a new message
    var value = ta.value;
    if (state.mode === "reply" && value.charAt(0) === "/" && value.indexOf("\n") === -1) {
      var term = value.slice(1).toLowerCase();
      loadQuickReplies().then(function (items) {
        if (textArea() !== ta || ta.value.charAt(0) !== "/") return;
        var matched = items.filter(function (q) {
          return q.shortcut.toLowerCase().indexOf(term) !== -1 || q.text.toLowerCase().indexOf(term) !== -1;
        }).slice(0, 8);
        showPopup(matched.map(function (q) { return {kind: "quick", item: q}; }), function (el, entry) {
          var b = document.createElement("strong");
          b.textContent = "/" + entry.item.shortcut;
          var s = document.createElement("span");
          s.textContent = " " + entry.item.text.slice(0, 80);
          el.appendChild(b); el.appendChild(s);
        });
      });
      return;
    }
    if (state.mode === "note") {
      var caret = ta.selectionStart;
      var m = /(^|\s)@([^\s@]*)$/.exec(value.slice(0, caret));
      if (m) {
        var q = m[2].toLowerCase();
        loadMentionMembers().then(function (members) {
          var matched = members.filter(function (u) {
            return u.name.toLowerCase().indexOf(q) !== -1 || u.email.toLowerCase().indexOf(q) !== -1;
          }).slice(0, 8);
          showPopup(matched.map(function (u) { return {kind: "mention", item: u, term: m[2]}; }), function (el, entry) {
            el.textContent = entry.item.name + " · " + entry.item.email;
          });
        });
        return;
      }
    }
    closePopup();
  }

  function choosePopup(index) {
    var entry = state.popupItems[index];
    var ta = textArea();
    if (!entry || !ta) return;
    if (entry.kind === "quick") {
      ta.value = entry.item.text; // variables already filled in by the server
      state.quickReplyFile = entry.item.has_file ? entry.item.id : null;
      var nameEl = paneEl.querySelector("[data-file-name]");
      if (nameEl) nameEl.textContent = entry.item.has_file ? "+ file of /" + entry.item.shortcut : "";
    } else {
      var caret = ta.selectionStart;
      var head = ta.value.slice(0, caret).replace(/@([^\s@]*)$/, "@" + entry.item.name + " ");
      ta.value = head + ta.value.slice(caret);
      state.mentions[entry.item.name] = entry.item.id;
      ta.setSelectionRange(head.length, head.length);
    }
    closePopup();
    saveDraft();
    ta.focus();
  }

  // Templates, when the 24-hour window is closed.
  function loadTemplates() {
    var select = paneEl.querySelector("[data-template-select]");
    if (!select || select.dataset.loaded === String(state.open)) return;
    select.dataset.loaded = String(state.open);
    getJSON(url("c/" + state.open + "/templates/")).then(function (data) {
      state.templates = data.templates;
      data.templates.forEach(function (t, i) {
        var opt = document.createElement("option");
        opt.value = String(i);
        opt.textContent = t.name + " (" + t.language + ")";
        select.appendChild(opt);
      });
    }).catch(function (err) { toast(err.message, "error"); });
  }

  function selectedTemplate() {
    var select = paneEl.querySelector("[data-template-select]");
    return select && select.value !== "" ? state.templates[Number(select.value)] : undefined;
  }

  function templateFields() {
    var select = paneEl.querySelector("[data-template-select]");
    var holder = paneEl.querySelector("[data-template-params]");
    var t = selectedTemplate();
    holder.innerHTML = "";
    var sendButton = paneEl.querySelector("[data-template-send]");
    sendButton.disabled = !t;
    if (!t) { templatePreview(); return; }
    function field(group, name, label, example, accessibleName) {
      var wrap = document.createElement("label");
      wrap.className = "param";
      wrap.textContent = label + " ";
      var input = document.createElement("input");
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
    t.header_params.forEach(function (p) { field("header", p.name, p.label, p.example, p.accessible_name); });
    if (t.header_format && t.header_format !== "TEXT") field("header_media", "link", t.header_format + " link (https://…)");
    t.body_params.forEach(function (p) { field("body", p.name, p.label, p.example, p.accessible_name); });
    t.buttons.forEach(function (b) {
      if (b.needs === "url" || b.needs === "copy_code" || b.needs === "otp") field("buttons", String(b.index), b.text + " (" + b.needs + ")");
    });
    templatePreview();
  }

  function templateParams() {
    var params = {};
    var t = selectedTemplate();
    if (!t) return params;
    var named = t.parameter_format === "NAMED";
    paneEl.querySelectorAll("[data-template-params] input").forEach(function (input) {
      var g = input.dataset.group, n = input.dataset.name, v = input.value;
      if (g === "header_media") { params.header = [{link: v}]; return; }
      if (g === "buttons") { params.buttons = params.buttons || {}; params.buttons[n] = v; return; }
      if (named) { params[g] = params[g] || {}; params[g][n] = v; }
      else { params[g] = params[g] || []; params[g][Number(n) - 1] = v; }
    });
    return params;
  }

  function templatePreview() {
    var box = paneEl.querySelector("[data-template-preview]");
    var select = paneEl.querySelector("[data-template-select]");
    if (!box || !select) return;
    var t = selectedTemplate();
    box.textContent = "";
    if (!t) return;
    var values = {};
    paneEl.querySelectorAll("[data-template-params] input").forEach(function (input) {
      values[input.dataset.group + ":" + input.dataset.name] = input.value;
    });
    function fill(text, group) {
      return text.replace(/\{\{\s*([^{}\s]+)\s*\}\}/g, function (all, name) {
        return values[group + ":" + name] || all;
      });
    }
    var parts = [];
    if (t.header_text) parts.push(fill(t.header_text, "header"));
    parts.push(fill(t.body_text, "body"));
    if (t.footer_text) parts.push(t.footer_text);
    box.textContent = parts.join("\n\n"); // text only: the preview never interprets markup
    t.buttons.forEach(function (b) {
      var s = document.createElement("span");
      s.className = "tpl-button";
      s.textContent = b.text;
      box.appendChild(s);
    });
  }

  function sendTemplate() {
    var select = paneEl.querySelector("[data-template-select]");
    var t = selectedTemplate();
    if (!t || state.sending) return;
    state.sending = true;
    var key = pendingKey();
    var button = paneEl.querySelector("[data-template-send]");
    var error = paneEl.querySelector("[data-template-error]");
    button.disabled = true;
    error.textContent = "";
    postForm("c/" + state.open + "/send/", {
      template: t.name, language: t.language, params: JSON.stringify(templateParams()),
      idempotency_key: key,
    }).then(function (res) {
      state.pendingKey = null;
      upsertMessages(res.html);
      scrollToBottom();
      select.value = "";
      templateFields();
    }).catch(function (err) {
      error.textContent = err.message;
    }).finally(function () {
      state.sending = false;
      button.disabled = !selectedTemplate();
    });
  }

  // --- actions --------------------------------------------------------------------------------------

  function act(action, data) {
    if (!state.open) return Promise.resolve();
    var displayId = state.open;
    return postForm("c/" + displayId + "/" + action + "/", data).then(function (res) {
      if (state.open !== displayId && !res.hidden) return; // another conversation is open by now
      applyHeader(res, displayId);
      if (!res.hidden) return catchUp();
    }).catch(function (err) { toast(err.message, "error"); });
  }

  function snoozeTime(kind) {
    var d = new Date();
    if (kind === "1h") d = new Date(Date.now() + 3600 * 1000);
    else if (kind === "tomorrow") { d.setDate(d.getDate() + 1); d.setHours(9, 0, 0, 0); }
    else {
      var input = paneEl.querySelector("[data-snooze-at]");
      if (!input || !input.value) { toast("Choose a time to snooze until.", "error"); return null; }
      d = new Date(input.value);
    }
    return d.toISOString();
  }

  // --- events ---------------------------------------------------------------------------------------

  root.addEventListener("click", function (event) {
    var t = event.target;
    var open = t.closest("[data-open-conversation]");
    if (open && !event.metaKey && !event.ctrlKey && !event.shiftKey) {
      event.preventDefault();
      saveDraft();
      openConversation(Number(open.dataset.openConversation));
      return;
    }
    var tab = t.closest("[data-tab]");
    if (tab) {
      state.tab = tab.dataset.tab;
      root.querySelectorAll("[data-tab]").forEach(function (b) { b.setAttribute("aria-pressed", String(b === tab)); });
      reloadList();
      return;
    }
    var contactButton = t.closest("[data-contact-toggle]");
    if (contactButton) {
      if (root.classList.contains("contact-open") && contactButton.getAttribute("aria-expanded") === "true") closeContact(true);
      else openContact();
      return;
    }
    if (t.closest("[data-contact-close]")) { closeContact(true); return; }
    if (t.closest("[data-back]")) { closePane(); history.pushState({}, "", base); return; }
    if (t.closest("[data-send]")) { send(); return; }
    if (t.closest("[data-reply-cancel]")) { cancelReply(); return; }
    var mode = t.closest("[data-mode]");
    if (mode) { setMode(mode.dataset.mode); var ta = textArea(); if (ta) ta.focus(); return; }
    var item = t.closest(".popup-item");
    if (item) { choosePopup(Number(item.dataset.index)); return; }
    if (t.closest("[data-template-send]")) { sendTemplate(); return; }
    var status = t.closest("[data-status]");
    if (status) { act("status", {status: status.dataset.status}); t.closest("details") && t.closest("details").removeAttribute("open"); return; }
    var snooze = t.closest("[data-snooze]");
    if (snooze) {
      var until = snoozeTime(snooze.dataset.snooze);
      if (until) act("status", {status: "snoozed", snoozed_until: until});
      return;
    }
    var remove = t.closest("[data-label-remove]");
    if (remove) { act("labels", {remove: [remove.dataset.labelRemove]}); return; }
    var reply = t.closest("[data-reply]");
    if (reply) {
      var msg = reply.closest("[data-id]");
      state.replyTo = msg.dataset.id;
      var bar = paneEl.querySelector("[data-reply-to]");
      if (bar) {
        bar.hidden = false;
        var body = msg.querySelector(".msg-body");
        bar.querySelector("[data-reply-to-text]").textContent = "↩ " + (body ? body.textContent.trim().slice(0, 100) : "");
      }
      setMode("reply");
      textArea() && textArea().focus();
      return;
    }
    var failed = t.closest("[data-retry]");
    if (failed) {
      var article = failed.closest("[data-id]");
      var body = article && article.querySelector(".msg-text");
      if (body && textArea()) {
        setMode("reply");
        textArea().value = body.textContent.trim();
        state.pendingKey = null;
        textArea().focus();
      }
      return;
    }
    var react = t.closest("[data-react]");
    if (react) {
      var target = react.closest("[data-id]");
      postForm("c/" + state.open + "/messages/" + target.dataset.id + "/react/", {emoji: react.dataset.react})
        .then(function (res) { upsertMessages(res.html); })
        .catch(function (err) { toast(err.message, "error"); });
      return;
    }
    if (t.closest("[data-attr-add]")) {
      var attrs = sidebarEl.querySelector("[data-attrs]");
      var row = document.createElement("div");
      row.className = "attr";
      row.innerHTML = "<input name='attr_key' maxlength='50' aria-label='Attribute name'><input name='attr_value' maxlength='500' aria-label='Attribute value'><button type='button' class='btn-icon' data-attr-remove aria-label='Remove attribute'>×</button>";
      attrs.appendChild(row);
      row.querySelector("input").focus();
      return;
    }
    var attrRemove = t.closest("[data-attr-remove]");
    if (attrRemove) { attrRemove.closest(".attr").remove(); return; }
    if (t.closest("[data-contact-save]")) {
      var form = sidebarEl.querySelector("[data-contact-form]");
      var statusEl = sidebarEl.querySelector("[data-contact-status]");
      postForm("c/" + state.open + "/contact/", new FormData(form)).then(function (res) {
        sidebarEl.innerHTML = res.html;
        var s = sidebarEl.querySelector("[data-contact-status]");
        if (s) s.textContent = sidebarEl.querySelector("[data-contact-form]").dataset.textSaved || "Saved";
        var again = sidebarEl.querySelector("[data-contact-save]");
        if (again) again.focus(); // the form was replaced: keep the focus in the panel
        refreshRows([state.conversation.id]);
      }).catch(function (err) { if (statusEl) statusEl.textContent = err.message; });
    }
  });

  root.addEventListener("change", function (event) {
    var t = event.target;
    if (t.closest("[data-filters]")) { reloadList(); return; }
    if (t.matches("[data-assign]")) { act("assign", {assignee: t.value}); return; }
    if (t.matches("[data-priority]")) { act("priority", {priority: t.value}); return; }
    if (t.matches("[data-label-add]") && t.value) { act("labels", {add: [t.value]}); return; }
    if (t.matches("[data-template-select]")) { templateFields(); return; }
    if (t.matches("[data-file]")) {
      var name = paneEl.querySelector("[data-file-name]");
      if (name) name.textContent = t.files[0] ? t.files[0].name : "";
    }
  });

  // The filters and the composer are driven by script: neither form is ever submitted as a page load.
  root.addEventListener("submit", function (event) {
    if (event.target.closest("[data-filters], [data-composer]")) event.preventDefault();
  });

  var searchTimer = null;
  root.addEventListener("input", function (event) {
    var t = event.target;
    if (t.matches("[data-search]")) {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(reloadList, 250);
      return;
    }
    if (t.matches("[data-text]")) { onInput(); return; }
    if (t.closest("[data-template-params]")) templatePreview();
  });

  root.addEventListener("keydown", function (event) {
    var t = event.target;
    if (t.matches("[data-text]")) {
      var p = popup();
      if (p && !p.hidden && state.popupItems.length) {
        if (event.key === "ArrowDown") { state.popupIndex = (state.popupIndex + 1) % state.popupItems.length; highlightPopup(); event.preventDefault(); return; }
        if (event.key === "ArrowUp") { state.popupIndex = (state.popupIndex - 1 + state.popupItems.length) % state.popupItems.length; highlightPopup(); event.preventDefault(); return; }
        if (event.key === "Enter" || event.key === "Tab") { choosePopup(state.popupIndex); event.preventDefault(); return; }
        if (event.key === "Escape") { closePopup(); event.preventDefault(); return; }
      }
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        send();
      }
    }
  });

  // Keyboard shortcuts, when not typing.
  document.addEventListener("keydown", function (event) {
    var t = event.target;
    if (event.metaKey || event.ctrlKey || event.altKey) return;
    // An open dialog (the shortcuts) handles its own keys: Esc closes it, as the browser does.
    if (event.defaultPrevented || document.querySelector("dialog[open]")) return;
    var drawer = window.matchMedia("(max-width: 1199px)").matches;
    if (event.key === "Escape" && root.classList.contains("contact-open") && (drawer || sidebarEl.contains(t))) {
      closeContact(true);
      event.preventDefault();
      return;
    }
    if (t.closest && t.closest("input, textarea, select, [contenteditable]")) {
      if (event.key === "Escape") t.blur();
      return;
    }
    var rows = Array.prototype.slice.call(rowsEl.querySelectorAll(".row"));
    var index = rows.findIndex(function (li) { return Number(li.dataset.displayId) === state.open; });
    switch (event.key) {
      case "j": case "k": {
        var next = rows[event.key === "j" ? index + 1 : Math.max(index - 1, 0)];
        if (next) openConversation(Number(next.dataset.displayId), {focus: false});
        break;
      }
      case "r": setMode("reply"); textArea() && textArea().focus(); break;
      case "n": setMode("note"); textArea() && textArea().focus(); break;
      case "m": act("assign", {assignee: "me"}); break;
      case "e": act("status", {status: "resolved"}); break;
      case "o": act("status", {status: "open"}); break;
      case "?": { var d = document.querySelector("[data-shortcuts]"); if (d && d.showModal) d.showModal(); break; }
      case "Escape": if (window.matchMedia("(max-width: 899px)").matches && state.open) closePane(); break;
      default: return;
    }
    event.preventDefault();
  });

  window.addEventListener("popstate", function () {
    var m = /\/c\/(\d+)\/?$/.exec(window.location.pathname);
    if (m) openConversation(Number(m[1]), {keepUrl: true}); else closePane();
  });

  // Infinite scroll of the list.
  if ("IntersectionObserver" in window) {
    new IntersectionObserver(function (entries) {
      if (entries[0].isIntersecting) loadMoreRows();
    }, {root: root.querySelector(".inbox-list"), rootMargin: "0px 0px 300px 0px"}).observe(listSentinel);
  }

  // --- notifications (mentions, assignments) -------------------------------------------------------

  var notificationsEl = root.querySelector("[data-notifications]");
  function notificationCount() {
    var el = root.querySelector("[data-notifications-count]");
    return el ? Number(el.textContent) || 0 : 0;
  }
  function setNotificationCount(n) {
    var el = root.querySelector("[data-notifications-count]");
    if (!el) return;
    el.textContent = String(n);
    el.hidden = n <= 0;
  }
  if (notificationsEl) {
    notificationsEl.addEventListener("toggle", function () {
      if (!notificationsEl.open) return;
      getJSON(url("notifications/")).then(function (data) {
        var list = notificationsEl.querySelector("[data-notifications-list]");
        list.innerHTML = "";
        list.appendChild(fragment(data.html));
        setNotificationCount(data.unread);
      }).catch(function (err) { toast(err.message, "error"); });
    });
    notificationsEl.addEventListener("click", function (event) {
      if (event.target.closest("[data-notifications-read]")) {
        postForm("notifications/read/", {}).then(function () {
          setNotificationCount(0);
          notificationsEl.querySelectorAll(".is-unread").forEach(function (li) { li.classList.remove("is-unread"); });
        }).catch(function (err) { toast(err.message, "error"); });
      } else if (event.target.closest("[data-open-conversation]")) {
        notificationsEl.removeAttribute("open");
      }
    });
  }

  // --- live updates ---------------------------------------------------------------------------------

  function resync() {
    // After a reconnect or a gap: the list from the top, and the open conversation from its newest message.
    reloadList();
    if (state.open) {
      catchUp().then(function () {
        var outgoing = Array.prototype.map.call(
          paneEl.querySelectorAll("[data-messages] > [data-id][data-status]"), function (el) { return el; }
        ).filter(function (el) {
          return ["queued", "sending", "sent", "delivered"].indexOf(el.dataset.status) !== -1;
        }).slice(-50).map(function (el) { return el.dataset.id; });
        return refreshMessages(outgoing);
      }).then(refreshHeader).catch(function () {});
    }
  }

  function handle(event) {
    var conv = event.conversation || {};
    var isOpen = state.conversation && conv.id === state.conversation.id;
    switch (event.type) {
      case "message.created":
        refreshRows([conv.id]);
        if (isOpen) {
          // A message committed after a later-numbered one is not "after" the newest shown: ask for it by id.
          catchUp().then(function () {
            if (!document.getElementById("m-" + event.message.id)) return refreshMessages([event.message.id]);
          }).catch(function () { /* the next resync catches up */ });
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
      case "notification.created": {
        var n = event.notification;
        setNotificationCount(notificationCount() + 1);
        toast((n.actor || "Someone") + (n.kind === "mention" ? " mentioned you in #" : " assigned you #") + n.conversation.display_id);
        break;
      }
      case "member.availability":
        if (state.open) refreshHeader();
        break;
      default:
        break;
    }
  }

  var socket = null;
  var retryDelay = 500;
  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + "/ws/t/" + slug + "/");
    socket.addEventListener("open", function () {
      retryDelay = 500;
      liveState.textContent = "Live";
      liveState.dataset.state = "live";
      root.dataset.live = "1";
      if (state.socketOpenedOnce) resync(); // events may have been missed while we were away
      state.socketOpenedOnce = true;
    });
    socket.addEventListener("message", function (e) {
      var event;
      try { event = JSON.parse(e.data); } catch (err) { return; }
      handle(event);
    });
    socket.addEventListener("close", function () {
      liveState.textContent = "Reconnecting…";
      liveState.dataset.state = "offline";
      root.dataset.live = "0";
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    });
  }
  // For tests and diagnostics: drop the socket as a network failure would.
  window.inboxDebug = {dropSocket: function () { if (socket) socket.close(); }};

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { resync(); markRead(); }
  });
  // A safety net beside the push: a cheap resync every minute.
  setInterval(function () { if (!document.hidden) resync(); }, 60000);

  // Window countdowns and "waiting" ages.
  function tick() {
    var now = Date.now();
    root.querySelectorAll("[data-window][data-window-closes]").forEach(function (el) {
      var closes = Date.parse(el.dataset.windowCloses);
      if (!closes) return;
      var left = closes - now;
      if (left <= 0) {
        el.textContent = "Reply window closed: templates only";
        el.classList.add("is-closed");
        var pane = paneEl.querySelector(".pane");
        if (pane && pane.dataset.windowOpen === "1") { pane.dataset.windowOpen = "0"; applyWindow(); }
      } else {
        var h = Math.floor(left / 3600000), m = Math.floor((left % 3600000) / 60000);
        el.textContent = "Reply window closes in " + h + "h " + m + "m";
        el.classList.toggle("is-soon", left < 2 * 3600000);
      }
    });
  }
  setInterval(tick, 30000);

  // --- start ----------------------------------------------------------------------------------------
  rowsEl.dataset.empty = "No conversations here.";
  markActiveRow();
  if (state.open) {
    var pane = paneEl.querySelector(".pane");
    state.conversation = {id: Number(pane.dataset.conversationId), display_id: state.open,
      window_open: pane.dataset.windowOpen === "1", status: null, assignee_id: null, priority: null};
    trackIds();
    scrollToBottom();
    restoreDraft();
    observeHistory();
    applyWindow();
    refreshHeader();
    markRead();
  }
  tick();
  connect();
})();
