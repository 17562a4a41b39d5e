// Callflows admin: a few progressive enhancements; every page works without them.
(function () {
  "use strict";
  // Forms with data-confirm ask first.
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute && ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });

  // YAML editor: line numbers that follow the text, error lines marked, "line N" links jump there.
  function setupEditor(box) {
    var gutter = box.querySelector(".gutter");
    var area = box.querySelector("textarea");
    var errors = (gutter.getAttribute("data-error-lines") || "").split(",").filter(Boolean).map(Number);
    var count = -1;
    function render() {
      var n = area.value.split("\n").length;
      if (n === count) return;
      count = n;
      var parts = [];
      for (var i = 1; i <= n; i++) {
        parts.push('<span id="L' + i + '"' + (errors.indexOf(i) >= 0 ? ' class="err"' : "") + ">" + i + "</span>");
      }
      gutter.innerHTML = parts.join("");
    }
    function sync() { gutter.scrollTop = area.scrollTop; }
    area.addEventListener("input", render);
    area.addEventListener("scroll", sync);
    render();
    function goto(line) {
      var lines = area.value.split("\n");
      var start = 0;
      for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
      var end = start + (lines[line - 1] || "").length;
      area.focus();
      area.setSelectionRange(start, end);
      var lh = parseFloat(window.getComputedStyle(area).lineHeight) || 18;
      area.scrollTop = Math.max(0, (line - 5) * lh);
      sync();
    }
    document.querySelectorAll("a.goto-line").forEach(function (a) {
      a.addEventListener("click", function (ev) { ev.preventDefault(); goto(Number(a.getAttribute("data-line"))); });
    });
    var m = /^#L(\d+)$/.exec(window.location.hash);
    if (m) goto(Number(m[1]));
    // Tab inserts two spaces instead of leaving the editor.
    area.addEventListener("keydown", function (ev) {
      if (ev.key === "Tab" && !ev.shiftKey && !area.readOnly) {
        ev.preventDefault();
        var s = area.selectionStart, e = area.selectionEnd;
        area.setRangeText("  ", s, e, "end");
        render();
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".code-editor").forEach(setupEditor);
    var say = document.querySelector("form.say input[name=text]");
    if (say) { window.scrollTo(0, document.body.scrollHeight); say.focus(); }
  });
})();
