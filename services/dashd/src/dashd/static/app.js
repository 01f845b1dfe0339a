// Small behaviours for the dashboard and the public share page (external file: the CSP
// allows no inline script): a chat (the web chat, oldest first; the share page, newest first)
// and the status page follow their Server-Sent Events streams; a form[data-fetch] posts with
// fetch and stays on the page.
(function () {
  "use strict";
  function scrollChat() {
    var list = document.getElementById("messages");
    if (list && list.dataset.order !== "newest-first") { list.scrollTop = list.scrollHeight; }
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
    // gives up only on a refused one (signed out, link rotated or revoked, too many streams).
    // When the page itself no longer opens, reload it to show why; else say so.
    source.addEventListener("error", function () {
      if (source.readyState !== EventSource.CLOSED) { return; }
      var shown = function () { if (hint) { hint.hidden = false; } };
      if (!window.fetch) { shown(); return; }
      fetch(location.href, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) {
          if (r.status === 404 || r.redirected) { location.reload(); } else { shown(); }
        })
        .catch(shown);
    });
  }
  function followChat() {
    var list = document.getElementById("messages");
    if (!list || !list.dataset.events || !window.EventSource) { return; }
    var newestFirst = list.dataset.order === "newest-first";
    var typing = document.getElementById("typing");
    var source = new EventSource(list.dataset.events);
    source.addEventListener("message", function (ev) {
      var row = nodesOf(ev.data).firstElementChild;
      var seq = row && row.dataset.seq;
      if (!seq || !/^[0-9]+$/.test(seq) || list.querySelector('[data-seq="' + seq + '"]')) {
        return;  // each message once, however often a reconnect brings it
      }
      if (newestFirst) { list.insertBefore(row, list.firstChild); } else { list.appendChild(row); }
      list.dataset.after = seq;
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
  // The share page's form: posted with fetch (answered 204; the live stream brings the
  // message), an error shown from the page the server renders; without JavaScript it posts
  // and redirects as a plain form.
  function sendWithFetch() {
    var form = document.querySelector("form[data-fetch]");
    if (!form || !window.fetch || !window.FormData || !window.URLSearchParams) { return; }
    var error = document.getElementById("share-error");
    var say = function (text) {
      if (error) { error.textContent = text; error.hidden = !text; }
    };
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var button = form.querySelector("button");
      var box = form.elements.namedItem("text");
      var body = new URLSearchParams(new FormData(form));
      if (button) { button.disabled = true; }
      fetch(form.action, {
        method: "POST", body: body, credentials: "same-origin", headers: { "X-Share-Fetch": "1" }
      })
        .then(function (r) {
          if (r.status === 204) { say(""); if (box) { box.value = ""; } return null; }
          if (r.status === 404) { location.reload(); return null; }
          return r.text().then(function (html) {
            var shown = nodesOf(html).querySelector("#share-error");
            say(shown && shown.textContent ? shown.textContent : "Not sent (" + r.status + "): send again.");
          });
        })
        .catch(function () { say("Not sent: the connection failed; send again."); })
        .finally(function () { if (button) { button.disabled = false; } if (box) { box.focus(); } });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    scrollChat();
    followChat();
    followStatus();
    sendWithFetch();
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
