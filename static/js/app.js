// Small progressive enhancements; every page also works without JavaScript.
(function () {
  "use strict";

  // Phone navigation: the menu button shows and hides the sidebar.
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-nav-toggle]");
    if (toggle) {
      var panel = document.getElementById(toggle.getAttribute("aria-controls"));
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      if (panel) panel.classList.toggle("is-open", open);
      return;
    }
    // Close open dropdowns when clicking elsewhere.
    document.querySelectorAll("details.dropdown[open]").forEach(function (d) {
      if (!d.contains(event.target)) d.removeAttribute("open");
    });
  });

  // A menu opening to the left of its button (dropdown-right) that a column of the page would cut off (the
  // button wrapped to the column's left edge) opens to the right instead, and back once there is room.
  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (!details.matches || !details.matches("details.dropdown[open]")) return;
    var menu = details.querySelector(".dropdown-menu.dropdown-right, .dropdown-menu.dropdown-flipped");
    if (!menu) return;
    menu.classList.remove("dropdown-flipped");
    menu.classList.add("dropdown-right");
    var clip = details.parentElement;
    while (clip && clip !== document.body && getComputedStyle(clip).overflowX === "visible") clip = clip.parentElement;
    var left = clip && clip !== document.body ? clip.getBoundingClientRect().left : 0;
    if (menu.getBoundingClientRect().left < left) {
      menu.classList.remove("dropdown-right");
      menu.classList.add("dropdown-flipped");
    }
  }, true);

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.dropdown[open]").forEach(function (d) {
      d.removeAttribute("open");
      var summary = d.querySelector("summary");
      if (summary && d.contains(document.activeElement)) summary.focus();
    });
  });

  // Forms with data-confirm ask before submitting (destructive actions).
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Label colours: data-chip-color sets the element's --chip colour. The CSP allows no inline style
  // attribute, but a style set from script is allowed; rows and panes added later are painted too.
  function paintChips(root) {
    if (root.nodeType !== 1) return;
    var found = root.matches("[data-chip-color]") ? [root] : [];
    found.concat(Array.prototype.slice.call(root.querySelectorAll("[data-chip-color]"))).forEach(function (el) {
      el.style.setProperty("--chip", el.getAttribute("data-chip-color"));
    });
  }
  paintChips(document.documentElement);
  new MutationObserver(function (mutations) {
    mutations.forEach(function (mutation) {
      mutation.addedNodes.forEach(paintChips);
      if (mutation.type === "attributes") paintChips(mutation.target);
    });
  }).observe(document.documentElement, {
    childList: true, subtree: true, attributes: true, attributeFilter: ["data-chip-color"],
  });

  // Buttons with data-copy="#selector" copy that element's text.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button || !navigator.clipboard) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = button.getAttribute("data-copied") || "✓";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // A field with data-submit-on-change="name" sends its form with that button when it changes (a choice that
  // shows more fields: the page works without it, the button being there to click).
  document.addEventListener("change", function (event) {
    var field = event.target.closest && event.target.closest("[data-submit-on-change]");
    if (!field || !field.form) return;
    var button = field.form.querySelector('button[name="' + field.getAttribute("data-submit-on-change") + '"]');
    if (button && field.form.requestSubmit) field.form.requestSubmit(button);
  });
})();
