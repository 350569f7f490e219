// The campaign editor and its preview. The pages work as plain forms;
// this adds line numbers and the error mark to the body editors, inserts
// fields at the cursor, counts the audience as segments are ticked, loads
// starter templates in place, and on the preview switches parts and widths
// and finds contacts as the marketer types.
"use strict";

(() => {
  const $ = (sel, root = document) => root.querySelector(sel);

  // message-editor.js is loaded with the editor, not with the preview.
  const codeEditor = (box) => HeraldMessageEditor.codeEditor(box);

  function editorPage(form) {
    const editors = {};
    for (const box of form.querySelectorAll(".code-editor")) {
      const ed = codeEditor(box);
      editors[ed.ta.name] = ed;
    }

    // The error the save reported, on its line.
    const err = $("#template-error");
    if (err) {
      const field = err.dataset.field, line = +err.dataset.line, col = +err.dataset.col;
      const show = () => {
        if (editors[field]) { editors[field].markLine(line); editors[field].goTo(line, col); }
        else if (field === "subject") { const s = $("#subject"); s.focus(); s.setSelectionRange(col - 1, col - 1); }
      };
      if (editors[field]) editors[field].markLine(line);
      $("#goto-error")?.addEventListener("click", show);
      show();
    }

    // Plain text: written by hand, or made from the HTML.
    const textBox = $("#text-editor");
    const syncText = () => {
      const custom = form.querySelector('input[name=text_mode][value=custom]')?.checked;
      if (textBox) textBox.hidden = !custom;
      if (custom) editors.text_body?.refresh();
    };
    for (const r of form.querySelectorAll("input[name=text_mode]")) r.addEventListener("change", syncText);
    syncText();

    // Snippets go where the cursor was last, in the HTML body by default.
    HeraldMessageEditor.snippets($("#snippets-panel"), () => $("#html_body"));

    // The audience, counted live as segments are ticked.
    const count = $("#audience-count"), label = $("#audience-label"), aErr = $("#audience-error");
    const ids = (name) => [...form.querySelectorAll(`input[name=${name}]:checked`)].map((i) => +i.value);
    let pending;
    const recount = Herald.debounce(async () => {
      pending?.abort();
      pending = new AbortController();
      let res;
      try {
        // A follow-up goes to the original's non-openers, less exclusions.
        const followUp = form.dataset.resendOf;
        res = await Herald.api("POST", "/api/campaigns/audience", followUp
          ? { resend_of: +followUp, exclude_segment_ids: ids("exclude_segment_ids") }
          : { segment_ids: ids("segment_ids"), exclude_segment_ids: ids("exclude_segment_ids") }, { signal: pending.signal });
      } catch (e) { return; } // a newer count is on its way
      aErr.hidden = res.ok;
      if (!res.ok) { aErr.textContent = res.error.message; return; }
      count.textContent = res.data.count.toLocaleString();
      label.textContent = (res.data.count === 1 ? "subscribed contact" : "subscribed contacts") + " would receive it now.";
    }, 250);
    if (count) {
      form.addEventListener("change", (ev) => {
        if (ev.target.matches("input[name=segment_ids], input[name=exclude_segment_ids]")) recount();
      });
    }

    // Starters load in place, after asking when there is a body to lose.
    const sf = $("#starter-form"), sel = $("#starter"), desc = $("#starter-description");
    if (sf && sel) {
      const describe = () => {
        const o = sel.selectedOptions[0];
        desc.textContent = o && o.value ? o.dataset.description + " Replaces the subject and the HTML body." : "Replaces the subject and the HTML body; the rest stays as it is.";
      };
      sel.addEventListener("change", describe);
      describe();
      sf.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        if (!sel.value) { sel.focus(); return; }
        const res = await Herald.api("GET", "/api/templates/" + encodeURIComponent(sel.value));
        if (!res.ok) { desc.textContent = res.error.message; return; }
        const html = $("#html_body"), subject = $("#subject"), name = form.querySelector("input[name=name]");
        if (html.value.trim() && html.value !== res.data.html_body &&
          !(await Herald.confirmDialog(`Replace the subject and the HTML body with the “${res.data.name}” template?`, "Replace"))) return;
        subject.value = res.data.subject;
        html.value = res.data.html_body;
        if (name && !name.value.trim()) name.value = res.data.name;
        html.dispatchEvent(new Event("input", { bubbles: true }));
        html.scrollTop = 0;
        editors.html_body?.refresh();
        desc.textContent = `The “${res.data.name}” template is in the editor. Save to keep it.`;
      });
    }
  }

  // --- Preview. -------------------------------------------------------------

  function previewPage() {
    const tabs = document.querySelectorAll('[role=tab]');
    const select = (tab) => {
      for (const t of tabs) {
        const on = t === tab;
        t.setAttribute("aria-selected", on ? "true" : "false");
        t.tabIndex = on ? 0 : -1;
        document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
      }
    };
    for (const t of tabs) t.addEventListener("click", () => select(t));
    if (tabs.length) select(tabs[0]);

    const box = $("#frame-box");
    for (const b of document.querySelectorAll("button[data-width]")) {
      b.addEventListener("click", () => {
        if (box) box.dataset.width = b.dataset.width;
        for (const o of document.querySelectorAll("button[data-width]")) o.setAttribute("aria-pressed", o === b ? "true" : "false");
      });
    }

    // Contacts found as the marketer types; choosing one reloads the
    // preview for them (the server renders it).
    const search = $("#contact-search"), list = $("#contact-results"), picker = $("#contact-picker");
    if (!search || !list) return;
    const base = picker.getAttribute("action");
    // An A/B test's preview stays on the variant it shows.
    const variant = picker.querySelector("input[name=variant]")?.value;
    let pending;
    const find = Herald.debounce(async () => {
      const q = search.value.trim();
      pending?.abort();
      if (!q) { list.replaceChildren(); return; }
      pending = new AbortController();
      let res;
      try {
        res = await Herald.api("GET", "/api/contacts?limit=8&q=" + encodeURIComponent(q), undefined, { signal: pending.signal });
      } catch (e) { return; }
      if (!res.ok) { list.replaceChildren(Herald.el("li", { class: "field-error" }, res.error.message)); return; }
      const rows = res.data.data.map((c) => {
        const name = [c.first_name, c.last_name].filter(Boolean).join(" ") || c.email;
        return Herald.el("li", {},
          Herald.el("a", { href: base + "?contact=" + c.id + (variant ? "&variant=" + encodeURIComponent(variant) : "") }, Herald.el("bdi", { dir: "auto" }, name)),
          " ", Herald.el("span", { class: "muted" }, c.email));
      });
      list.replaceChildren(...(rows.length ? rows : [Herald.el("li", { class: "muted" }, "No contact starts with that.")]));
    }, 200);
    search.addEventListener("input", find);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = $("#campaign-form");
    if (form) editorPage(form);
    if ($("#preview-frame") || $("#contact-picker")) previewPage();
  });
})();
