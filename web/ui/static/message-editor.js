// What every message editor shares (the campaign editor and the send
// steps of the automation builder): a body textarea with a gutter of line
// numbers that can mark the line of a template error, and the fields and
// functions panel (the snippetsPanel partial), which inserts at the cursor.
"use strict";

window.HeraldMessageEditor = (() => {
  const $ = (sel, root = document) => root.querySelector(sel);

  const LINE = 20; // px, the textarea's line-height in app.css

  function codeEditor(box) {
    const ta = $("textarea", box), gutter = $(".gutter", box);
    let shown = 0, bad = 0;
    const mark = box.appendChild(Herald.el("div", { class: "error-line", hidden: true, "aria-hidden": "true" }));
    function numbers() {
      const n = ta.value.split("\n").length;
      if (n !== shown) {
        const frag = document.createDocumentFragment();
        for (let i = 1; i <= n; i++) frag.append(Herald.el("div", i === bad ? { class: "bad" } : {}, i));
        gutter.replaceChildren(frag);
        shown = n;
      }
      scroll();
    }
    function scroll() {
      gutter.scrollTop = ta.scrollTop;
      if (bad) {
        mark.style.top = (9 + (bad - 1) * LINE - ta.scrollTop) + "px";
        mark.hidden = mark.offsetTop < 0 || mark.offsetTop > ta.clientHeight;
      }
    }
    // markLine shows the line of an error until the text is changed.
    function markLine(line) {
      bad = line;
      shown = 0;
      numbers();
      mark.hidden = false;
      scroll();
    }
    // goTo puts the cursor at line and column and scrolls it into view.
    function goTo(line, col) {
      const lines = ta.value.split("\n");
      let at = 0;
      for (let i = 0; i < Math.min(line - 1, lines.length); i++) at += lines[i].length + 1;
      at += Math.max(0, Math.min(col - 1, (lines[line - 1] || "").length));
      ta.focus({ preventScroll: true });
      ta.setSelectionRange(at, at);
      ta.scrollTop = Math.max(0, (line - 1) * LINE - ta.clientHeight / 3);
      box.scrollIntoView({ block: "nearest" });
      scroll();
    }
    ta.addEventListener("input", () => {
      if (bad) { bad = 0; mark.hidden = true; shown = 0; }
      numbers();
    });
    ta.addEventListener("scroll", scroll);
    box.classList.add("numbered");
    numbers();
    return { ta, markLine, goTo, refresh: () => { shown = 0; numbers(); } };
  }

  // snippets makes panel's buttons insert at the cursor of the last focused
  // [data-insert-target] element (its value names it in the panel), or of
  // fallback() before any was focused or once it left the page (the
  // automation builder redraws its steps). The HTML body gets the HTML
  // form of a snippet (links as <a> elements), as does any target marked
  // data-insert-html.
  function snippets(panel, fallback) {
    if (!panel) return;
    let target = null;
    const name = $("#insert-target", panel);
    const current = () => (target && target.isConnected ? target : fallback());
    const label = () => { const t = current(); if (name) name.textContent = t ? t.dataset.insertTarget : "message"; };
    document.addEventListener("focusin", (ev) => {
      const t = ev.target.closest?.("[data-insert-target]");
      if (t) { target = t; label(); }
    });
    panel.addEventListener("click", (ev) => {
      const b = ev.target.closest("button.snippet");
      const t = current();
      if (!b || !t) return;
      // HTML bodies (the campaign's and its A/B variants') take links as <a>.
      const code = (t.name === "html_body" || "insertHtml" in t.dataset) && b.dataset.html ? b.dataset.html : b.dataset.code;
      const start = t.selectionStart ?? t.value.length, end = t.selectionEnd ?? start;
      t.focus({ preventScroll: true });
      t.setRangeText(code, start, end, "end");
      if (t.tagName === "TEXTAREA") {
        // Keep the inserted text in view: setRangeText does not scroll.
        const y = (t.value.slice(0, t.selectionEnd).split("\n").length - 1) * LINE;
        if (y < t.scrollTop || y > t.scrollTop + t.clientHeight - 2 * LINE) t.scrollTop = Math.max(0, y - t.clientHeight / 3);
      }
      t.dispatchEvent(new Event("input", { bubbles: true }));
    });
    label();
    return { label };
  }

  // templatePos reads the position Herald gives a template error.
  function templatePos(msg) {
    const m = /^line (\d+), column (\d+): ([\s\S]*)$/.exec(msg || "");
    return m ? { line: +m[1], col: +m[2], msg: m[3] } : null;
  }

  return { codeEditor, snippets, templatePos };
})();
