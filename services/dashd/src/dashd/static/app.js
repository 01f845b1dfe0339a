// Small behaviours for the dashboard (external file: the CSP allows no inline script):
// the web chat and the status page follow their Server-Sent Events streams.
(function () {
  "use strict";
  function scrollChat() {
    var list = document.getElementById("messages");
    if (list) { list.scrollTop = list.scrollHeight; }
    var empty = document.getElementById("chat-empty");
    if (empty && list && list.children.length) { empty.remove(); }
  }
  // Server-rendered, escaped HTML (a Jinja template with autoescape) into nodes; an inert
  // <template> runs no script and loads nothing while parsing.
  function nodesOf(html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html;
    return tpl.content;
  }
  function lost(source, hint) {
    // EventSource retries by itself after a dropped connection (sending Last-Event-ID); it
    // gives up only on a refused one (signed out, no access): say so.
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED && hint) { hint.hidden = false; }
    });
  }
  function followChat() {
    var list = document.getElementById("messages");
    if (!list || !list.dataset.events || !window.EventSource) { return; }
    var typing = document.getElementById("typing");
    var source = new EventSource(list.dataset.events);
    source.addEventListener("message", function (ev) {
      var row = nodesOf(ev.data).firstElementChild;
      if (!row || (row.id && document.getElementById(row.id))) { return; }
      list.appendChild(row);
      scrollChat();
      document.dispatchEvent(new CustomEvent("chat:message", { detail: { seq: ev.lastEventId } }));
    });
    source.addEventListener("typing", function (ev) {
      if (typing) { typing.hidden = ev.data !== "on"; }
    });
    lost(source, document.getElementById("live-lost"));
  }
  function followStatus() {
    var body = document.getElementById("status");
    if (!body || !body.dataset.events || !window.EventSource || !window.fetch) { return; }
    var source = new EventSource(body.dataset.events);
    var busy = false;
    source.addEventListener("changed", function () {
      if (busy) { return; }
      busy = true;
      fetch(body.dataset.live, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
        .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
        .then(function (html) { if (html !== null) { body.replaceChildren(nodesOf(html)); } })
        .catch(function () { /* the next change tries again */ })
        .finally(function () { busy = false; });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    scrollChat();
    followChat();
    followStatus();
  });
  document.addEventListener("htmx:afterSwap", function (ev) {
    if (ev.target && ev.target.id === "compose") {
      var box = document.querySelector("#compose textarea");
      if (box) { box.focus(); }
    }
  });
  // Enter sends, Shift+Enter makes a new line.
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (ev.key === "Enter" && !ev.shiftKey && t && t.name === "text" && t.form && t.form.id === "compose") {
      ev.preventDefault();
      if (t.value.trim()) { t.form.requestSubmit(); }
    }
  });
})();
