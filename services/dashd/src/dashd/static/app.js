// Small behaviours for the web chat (external file: the CSP allows no inline script).
(function () {
  "use strict";
  function scrollChat() {
    var list = document.getElementById("messages");
    if (list) { list.scrollTop = list.scrollHeight; }
    var empty = document.getElementById("chat-empty");
    if (empty && list && list.children.length) { empty.remove(); }
  }
  document.addEventListener("DOMContentLoaded", scrollChat);
  document.addEventListener("htmx:oobAfterSwap", scrollChat);
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
