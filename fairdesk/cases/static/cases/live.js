/* Fairdesk live updates: a long-poll on /live/changes/ (see fairdesk/cases/live.py).
   The page names the endpoint (and on a case page, its case) on an aria-live region:
     <div data-live-url="/live/changes/" data-live-case="<uuid>" aria-live="polite">
   On a change the queue table, or the open case's timeline, is fetched again and swapped
   in place: ticked boxes, keyboard focus and a half-written reply stay as they were.
   No storm: answers are at least GAP apart (changes batch up), a 204 with Retry-After
   is honoured, errors back off exponentially with jitter, and a hidden tab stops asking. */
(function () {
  "use strict";

  var region = document.querySelector("[data-live-url]");
  if (!region || !window.fetch || !window.DOMParser || !window.AbortController) return;

  var url = region.getAttribute("data-live-url");
  var caseId = region.getAttribute("data-live-case") || "";
  var GAP = 3000;
  var MAX_BACKOFF = 60000;
  var cursor = "";
  var failures = 0;
  var timer = 0;
  var inflight = null;
  var stopped = false;

  function jittered(ms) {
    return Math.round(ms * (0.75 + Math.random() * 0.5));
  }

  function later(ms) {
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, ms);
  }

  function poll() {
    timer = 0;
    if (stopped || inflight || document.visibilityState === "hidden") return;
    inflight = new AbortController();
    var address = url + (cursor ? "?since=" + encodeURIComponent(cursor) : "");
    fetch(address, {
      credentials: "same-origin",
      redirect: "manual",
      cache: "no-store",
      headers: { Accept: "application/json" },
      signal: inflight.signal
    })
      .then(answered)
      .catch(function (error) {
        inflight = null;
        if (error && error.name === "AbortError") return;
        failures += 1;
        later(jittered(Math.min(MAX_BACKOFF, 1000 * Math.pow(2, failures))));
      });
  }

  function answered(response) {
    if (response.type === "opaqueredirect" || response.status === 403) {
      inflight = null;
      stopped = true; // signed out: the next page load starts again
      return undefined;
    }
    if (response.status === 204) {
      inflight = null;
      failures = 0;
      var retry = parseInt(response.headers.get("Retry-After") || "0", 10);
      later(jittered(retry > 0 ? retry * 1000 : 500));
      return undefined;
    }
    if (!response.ok) throw new Error("live updates: HTTP " + response.status);
    return response.json().then(function (data) {
      inflight = null;
      failures = 0;
      var first = !cursor;
      cursor = data.cursor;
      if (!first) apply(data);
      later(first || data.more ? 0 : jittered(GAP));
    });
  }

  function apply(data) {
    var concerned = !caseId || data.more;
    var inbound = 0;
    data.cases.forEach(function (change) {
      if (!caseId || change.id === caseId) {
        concerned = true;
        inbound += change.inbound;
      }
    });
    if (!concerned) return;
    refresh()
      .then(function () {
        if (inbound) announce(inbound === 1 ? "1 new message" : inbound + " new messages");
      })
      .catch(function () { /* the next change or the next load shows it */ });
  }

  function refresh() {
    return fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok || response.redirected) throw new Error("refresh: " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        if (caseId) swapTimeline(fresh);
        else swapQueue(fresh);
      });
  }

  function swapTimeline(fresh) {
    var old = document.querySelector("#case-work .timeline");
    var next = fresh.querySelector("#case-work .timeline");
    if (old && next) {
      old.replaceWith(next);
      if (window.htmx) window.htmx.process(next); // "show earlier" loads in place
    }
  }

  function swapQueue(fresh) {
    var old = document.querySelector("table.queue");
    var next = fresh.querySelector("table.queue");
    if (old && next) {
      var focused = rowOf(document.activeElement, old);
      keepTicks(old, next);
      old.replaceWith(next);
      if (focused) refocus(next, focused);
      return;
    }
    // The queue went from empty to not (or back): the whole content, keeping this region.
    var main = document.getElementById("main");
    var freshMain = fresh.getElementById("main");
    if (!main || !freshMain) return;
    var freshRegion = freshMain.querySelector("[data-live-url]");
    if (freshRegion) freshRegion.replaceWith(region);
    Array.prototype.forEach.call(freshMain.querySelectorAll("script"), function (s) { s.remove(); });
    main.replaceChildren.apply(main, Array.prototype.slice.call(freshMain.childNodes));
    if (window.htmx) window.htmx.process(main);
  }

  function rowOf(el, table) {
    var row = el && el.closest ? el.closest("[data-queue-row]") : null;
    return row && table.contains(row) ? row.getAttribute("data-case-id") : "";
  }

  function keepTicks(old, next) {
    var ticked = {};
    Array.prototype.forEach.call(old.querySelectorAll('input[name="case"]:checked'), function (box) {
      ticked[box.value] = true;
    });
    Array.prototype.forEach.call(next.querySelectorAll('input[name="case"]'), function (box) {
      box.checked = !!ticked[box.value];
    });
  }

  function refocus(table, id) {
    var rows = table.querySelectorAll("[data-queue-row]");
    Array.prototype.forEach.call(rows, function (row) {
      if (row.getAttribute("data-case-id") !== id) return;
      row.setAttribute("aria-current", "true");
      var link = row.querySelector("[data-row-link]");
      if (link) link.focus();
    });
  }

  function announce(text) {
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      window.clearTimeout(timer);
      timer = 0;
      if (inflight) inflight.abort();
      inflight = null;
    } else if (!timer && !inflight) {
      later(jittered(500));
    }
  });

  later(0);
})();
