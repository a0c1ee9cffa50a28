// The code behind the picture: the Python snippet and the gdlab train command of a run's
// configuration (POST /api/code), each with a button that copies it.
"use strict";

(function () {
  var Gdlab = window.Gdlab = window.Gdlab || {};
  var $ = function (id) { return document.getElementById(id); };
  var shown = {python: "", command: "", request: 0};

  // Fill the panel with the code of `config` (a checked configuration, as a run holds it).
  function show(config) {
    var request = ++shown.request;
    return fetch("/api/code", {method: "POST", headers: {"Content-Type": "application/json"},
                               body: JSON.stringify(config)})
      .then(function (r) { return r.json(); })
      .then(function (code) {
        if (request !== shown.request || code.error) return;
        shown.python = code.python;
        shown.command = code.command || "";
        $("code-python").firstChild.textContent = code.python;
        $("code-command").firstChild.textContent = code.command || "(no gdlab train command for these settings)";
        $("copy-command").disabled = !code.command;
        var notes = $("code-notes");
        notes.innerHTML = "";
        code.command_notes.forEach(function (text) {
          var li = document.createElement("li");
          li.textContent = text;
          notes.appendChild(li);
        });
        document.body.dataset.code = "1";
      }).catch(function () {});
  }

  // Put `text` on the clipboard (the Clipboard API, or a selected text area and "copy" where
  // that is refused) and say so on `button`.
  function copy(text, button) {
    var done = function (ok) {
      var label = button.dataset.label || (button.dataset.label = button.textContent);
      button.textContent = ok ? "Copied" : "Press Ctrl+C";
      button.dataset.copied = ok ? "1" : "0";
      setTimeout(function () { button.textContent = label; }, 1600);
    };
    var fallback = function () {
      var area = document.createElement("textarea");
      area.value = text; area.setAttribute("readonly", "");
      area.style.position = "fixed"; area.style.top = "0"; area.style.left = "0"; area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
      document.body.removeChild(area);
      done(ok);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);
    } else {
      fallback();
    }
  }

  function wire() {
    $("copy-python").addEventListener("click", function () { copy(shown.python, $("copy-python")); });
    $("copy-command").addEventListener("click", function () { copy(shown.command, $("copy-command")); });
  }

  Gdlab.code = {show: show, copy: copy, wire: wire, shown: shown};
})();
