// The segment page: the builder with a live member count (from the
// preview endpoint, a moment after each edit), the JSON view, and saving
// through the API so that errors come back with the path of the rule.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("segment-editor");
  if (!root) return;
  const H = Herald;
  const $ = (id) => document.getElementById(id);
  const segmentID = root.dataset.segmentId;
  const loaded = root.dataset.definition;
  let initial;
  try { initial = JSON.parse(loaded); } catch (e) { initial = { all: [] }; }

  const jsonView = $("json-view"), jsonText = $("json-text"), jsonError = $("json-error");
  const count = $("live-count"), noun = $("live-noun"), note = $("live-note"), sample = $("live-sample");
  const saveError = $("save-error"), saveStatus = $("save-status");
  const fmt = new Intl.NumberFormat();

  let inflight = null;
  let lastError = null;
  async function preview() {
    if (inflight) inflight.abort();
    const ctl = new AbortController();
    inflight = ctl;
    root.classList.add("counting");
    let r;
    try {
      r = await H.api("POST", "/api/segments/preview", { definition: ed.get(), sample: 8 }, { signal: ctl.signal });
    } catch (e) {
      return; // replaced by a newer edit
    }
    if (inflight !== ctl) return;
    inflight = null;
    root.classList.remove("counting");
    if (!r.ok) {
      count.textContent = "—";
      noun.textContent = "";
      sample.replaceChildren();
      lastError = r.error;
      const placed = r.status === 400 && ed.showErrors(r.error);
      note.textContent = placed ? "Fix the condition marked in red to see who matches." : r.error.message;
      note.classList.add("error");
      return;
    }
    lastError = null;
    ed.showErrors(null);
    note.classList.remove("error");
    count.textContent = fmt.format(r.data.count);
    noun.textContent = r.data.count === 1 ? "contact" : "contacts";
    note.textContent = r.data.count > r.data.sample.length && r.data.sample.length ? "The first " + r.data.sample.length + ":" : (r.data.count ? "" : "Nobody matches these conditions now.");
    sample.replaceChildren(...r.data.sample.map((c) => {
      const name = [c.first_name, c.last_name].filter(Boolean).join(" ");
      return H.el("li", {}, H.el("a", { href: "/contacts/" + c.id, dir: "auto" }, name || c.email), name ? H.el("span", { class: "muted" }, " " + c.email) : null);
    }));
  }
  const schedule = H.debounce(preview, 350);

  const ed = window.HeraldSegmentBuilder.mount($("builder"), initial, {
    onChange: (def) => {
      if (!jsonView.hidden) jsonText.value = JSON.stringify(def, null, 2);
      markDirty();
      schedule();
    },
  });

  // The live count is for the conditions as they stand; the page says
  // when they differ from what is saved.
  const savedName = $("segment-name").value, savedDesc = $("segment-description").value;
  function markDirty() {
    const dirty = JSON.stringify(ed.get()) !== JSON.stringify(initial) ||
      $("segment-name").value !== savedName || $("segment-description").value !== savedDesc;
    saveStatus.textContent = dirty && segmentID ? "Unsaved changes" : "";
  }
  $("segment-name").addEventListener("input", markDirty);
  $("segment-description").addEventListener("input", markDirty);
  ed.ready.then(preview);

  $("json-toggle").addEventListener("click", (ev) => {
    const open = jsonView.hidden;
    jsonView.hidden = !open;
    ev.currentTarget.setAttribute("aria-expanded", String(open));
    if (open) {
      jsonText.value = JSON.stringify(ed.get(), null, 2);
      jsonError.hidden = true;
      jsonText.removeAttribute("aria-invalid");
    }
  });
  $("json-apply").addEventListener("click", () => {
    let def;
    try {
      def = JSON.parse(jsonText.value);
    } catch (e) {
      jsonError.textContent = "Not valid JSON: " + e.message;
      jsonError.hidden = false;
      jsonText.setAttribute("aria-invalid", "true");
      return;
    }
    jsonError.hidden = true;
    jsonText.removeAttribute("aria-invalid");
    ed.set(def);
  });

  const nameInput = $("segment-name"), descInput = $("segment-description");
  function fieldError(name, msg) {
    const slot = document.querySelector(`[data-error-for="${name}"]`);
    const input = name === "name" ? nameInput : descInput;
    slot.textContent = msg || "";
    slot.hidden = !msg;
    if (msg) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
  }

  $("save-segment").addEventListener("click", async (ev) => {
    const button = ev.currentTarget;
    fieldError("name", "");
    fieldError("description", "");
    saveError.hidden = true;
    const body = { name: nameInput.value, description: descInput.value };
    const def = ed.get();
    // An unchanged definition is not sent, so that a rename does not
    // recompute the membership.
    if (!segmentID || JSON.stringify(def) !== JSON.stringify(initial)) body.definition = def;
    if (!segmentID && !body.name.trim()) {
      fieldError("name", "Give the segment a name.");
      nameInput.focus();
      return;
    }
    button.disabled = true;
    saveStatus.textContent = "Saving…";
    const r = segmentID ? await H.api("PATCH", "/api/segments/" + segmentID, body) : await H.api("POST", "/api/segments", body);
    button.disabled = false;
    if (r.ok) {
      window.location.assign("/segments/" + r.data.id + (segmentID ? "?saved=1" : "?created=1"));
      return;
    }
    saveStatus.textContent = "";
    const path = (r.error && r.error.path) || "";
    if (path === "name" || path === "description") {
      fieldError(path, r.error.message);
      (path === "name" ? nameInput : descInput).focus();
    } else if (r.status === 400 && ed.showErrors(r.error)) {
      saveError.textContent = "Not saved: " + r.error.message + " (marked below).";
      saveError.hidden = false;
    } else {
      saveError.textContent = "Not saved: " + r.error.message;
      saveError.hidden = false;
    }
  });
});
