// Switchboard share-link widget: <script src="https://HOST/s/TOKEN/widget.js" async></script>
// adds a chat button to the page; it opens the link's chat page in an iframe (framing is
// allowed only for the origins on the link's allowlist). No data of the host page is read.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) {
    return;
  }
  var chatUrl = script.src.replace(/\/widget\.js(?:[?#].*)?$/, "");
  var label = script.getAttribute("data-label") || "Chat";

  function style(el, rules) {
    for (var k in rules) {
      if (Object.prototype.hasOwnProperty.call(rules, k)) {
        el.style[k] = rules[k];
      }
    }
  }

  function mount() {
    var button = document.createElement("button");
    var frame = null;
    button.type = "button";
    button.textContent = label;
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("data-switchboard-widget", "button");
    style(button, {
      position: "fixed", right: "16px", bottom: "16px", zIndex: "2147483647",
      padding: "10px 16px", border: "0", borderRadius: "20px", background: "#2563eb",
      color: "#fff", font: "600 15px system-ui, sans-serif", cursor: "pointer"
    });
    button.addEventListener("click", function () {
      if (frame === null) {
        frame = document.createElement("iframe");
        frame.src = chatUrl;
        frame.title = label;
        frame.setAttribute("data-switchboard-widget", "frame");
        style(frame, {
          position: "fixed", right: "16px", bottom: "64px", zIndex: "2147483647",
          width: "min(380px, calc(100vw - 32px))", height: "min(560px, calc(100vh - 96px))",
          border: "1px solid #ccc", borderRadius: "10px", background: "#fff"
        });
        document.body.appendChild(frame);
      } else {
        frame.hidden = !frame.hidden;
      }
      button.setAttribute("aria-expanded", frame.hidden ? "false" : "true");
    });
    document.body.appendChild(button);
  }

  if (document.body) {
    mount();
  } else {
    document.addEventListener("DOMContentLoaded", mount);
  }
})();
