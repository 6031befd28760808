/* Fairdesk composer: a live length counter for the reply box, and the picker's buttons
   that put a canned reply, an article or its link into it. No framework.
   The counter approximates the server's rule (fairdesk/replies/limits.py), which decides:
   the limits, X's single-weight ranges and the signature come from the page
   (#composer-limits), so only the counting itself is repeated here. */
(function () {
  "use strict";

  var data = null;
  var wasOver = false;

  function limits() {
    if (data === null) {
      var node = document.getElementById("composer-limits");
      data = node ? JSON.parse(node.textContent) : {};
    }
    return data;
  }

  function form() { return document.querySelector("#case-work .reply-form"); }

  function box() {
    var f = form();
    return f ? f.querySelector("textarea[name=text]") : null;
  }

  function target() {
    var f = form();
    var targets = limits().targets || {};
    if (!f) return null;
    var picked = f.querySelector("input[name=visibility]:checked");
    var visibility = picked ? picked.value : "public";
    var channel = f.querySelector("select[name=channel]");
    if (visibility === "private" && channel && channel.value) {
      return targets["private:" + channel.value] || targets["private"];
    }
    return targets[visibility] || null;
  }

  var URL = /(?:https?:\/\/|www\.)[^\s<>"']+/gi;
  var EMOJI = /\p{Extended_Pictographic}|\p{Regional_Indicator}|^[0-9#*]\uFE0F?\u20E3$/u;

  function graphemes(text) {
    if (window.Intl && Intl.Segmenter) {
      return Array.from(new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(text));
    }
    return Array.from(text).map(function (c) { return { segment: c }; });
  }

  function single(code, spans) {
    return spans.some(function (s) { return code >= s[0] && code <= s[1]; });
  }

  function xLength(text, rule) {
    text = text.normalize("NFC");
    var urls = text.match(URL) || [];
    var length = urls.length * rule.url_length;
    graphemes(text.replace(URL, "")).forEach(function (g) {
      if (EMOJI.test(g.segment)) { length += 2; return; }
      Array.from(g.segment).forEach(function (c) {
        length += single(c.codePointAt(0), rule.single) ? 1 : 2;
      });
    });
    return length;
  }

  function mastodonLength(text, rule) {
    if (rule.prefix && text.slice(0, rule.prefix.length).toLowerCase() !== rule.prefix.toLowerCase()) {
      text = rule.prefix + " " + text;
    }
    text = text.replace(/https?:\/\/[^\s<>"]+/gi, "x".repeat(rule.url_length));
    text = text.replace(/(^|[^\w\/])(@[\w.-]+)@[\w-]+(?:\.[\w-]+)+/g, "$1$2");
    return Array.from(text).length;
  }

  function measure(text, rule) {
    if (rule.client === "x") return xLength(text, rule);
    if (rule.client === "graphemes") return graphemes(text).length;
    if (rule.client === "mastodon") return mastodonLength(text, rule);
    return Array.from(text).length;
  }

  function bytes(text) { return new TextEncoder().encode(text).length; }

  function update() {
    var out = document.querySelector("[data-composer-count]");
    var textarea = box();
    var rule = target();
    if (!out || !textarea || !rule) return;
    var text = textarea.value.trim() + (limits().signature || "");
    var used = measure(text, rule);
    var over = (rule.max !== null && used > rule.max) ||
      (rule.max_bytes !== null && bytes(text) > rule.max_bytes);
    var of = rule.max === null ? " (no platform limit)" : " of " + rule.max;
    out.textContent = used + of + " " + rule.unit.split(" (")[0] + " — " + rule.where +
      ", signature included" + (over ? ". Too long: shorten it." : ".");
    out.classList.toggle("over", over);
    if (over !== wasOver) {  // announce crossing the limit, not every keystroke
      var alert = document.querySelector("[data-composer-alert]");
      if (alert) alert.textContent = over ? "The reply is too long for " + rule.where + "." : "The reply fits.";
      wasOver = over;
    }
  }

  function insert(text) {
    var textarea = box();
    if (!textarea) return;
    var start = textarea.selectionStart || 0;
    var end = textarea.selectionEnd || 0;
    var before = textarea.value.slice(0, start);
    var after = textarea.value.slice(end);
    var gap = before && !/\s$/.test(before) ? " " : "";
    textarea.value = before + gap + text + after;
    var caret = (before + gap + text).length;
    textarea.focus();
    textarea.setSelectionRange(caret, caret);
    update();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-composer-insert]") : null;
    if (!button) return;
    event.preventDefault();
    insert(button.getAttribute("data-composer-insert"));
  });
  document.addEventListener("input", function (event) {
    if (event.target.closest && event.target.closest("#case-work .reply-form")) update();
  });
  document.addEventListener("change", function (event) {
    if (event.target.closest && event.target.closest("#case-work .reply-form")) update();
  });
  document.addEventListener("htmx:afterSettle", update);
  document.addEventListener("DOMContentLoaded", update);
  if (document.readyState !== "loading") update();
}());
