/* Fairdesk keyboard shortcuts. Loaded on every page; each key acts only where its target
   exists, and never while the agent is typing in a field or holding a modifier.
   j / k   next / previous case in the queue (focus moves to the case link; Enter opens it)
   a       assign the focused case to me
   e       resolve the focused case (asks first), or press the page's [data-shortcut="e"]
   /       focus the search box          r   focus the reply box on a case page */
(function () {
  "use strict";

  function typing(el) {
    return !!el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-queue-row]"));
  }

  function currentRow() {
    var el = document.activeElement;
    return el && el.closest ? el.closest("[data-queue-row]") : null;
  }

  function move(step) {
    var all = rows();
    if (!all.length) return false;
    var at = all.indexOf(currentRow());
    var next = at < 0 ? all[0] : all[Math.min(all.length - 1, Math.max(0, at + step))];
    all.forEach(function (row) { row.removeAttribute("aria-current"); });
    next.setAttribute("aria-current", "true");
    next.querySelector("[data-row-link]").focus();
    return true;
  }

  function quick(action, status, question) {
    var row = currentRow();
    var form = document.getElementById("quick-action");
    if (!row || !form) return false;
    if (question && !window.confirm(question.replace("{ref}", row.getAttribute("data-reference")))) {
      return true;
    }
    form.elements["case"].value = row.getAttribute("data-case-id");
    form.elements["action"].value = action;
    form.elements["status"].value = status;
    form.submit();
    return true;
  }

  function target(key) {
    return document.querySelector('[data-shortcut="' + key + '"]');
  }

  function focusTarget(key) {
    var el = target(key);
    if (!el) return false;
    el.focus();
    return true;
  }

  var keys = {
    j: function () { return move(1); },
    k: function () { return move(-1); },
    a: function () { return quick("assign_me", "", ""); },
    e: function () {
      if (quick("status", "resolved", "Resolve {ref}?")) return true;
      var button = target("e");
      if (!button) return false;
      button.click();
      return true;
    },
    "/": function () { return focusTarget("/"); },
    r: function () { return focusTarget("r"); }
  };

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target) || !Object.prototype.hasOwnProperty.call(keys, event.key)) return;
    if (keys[event.key]()) event.preventDefault();
  });
})();
