// The flow builder of /automations/new and /automations/:id: a trigger and
// a vertical list of steps (send, wait, exit if), saved through the JSON
// API. An error the API names by its path ("steps[1].duration") is shown
// on that step or setting, and nothing typed is lost.
"use strict";

(() => {
  const form = document.getElementById("flow-builder");
  if (!form) return;
  const { api, el } = Herald;
  const id = form.dataset.id ? Number(form.dataset.id) : 0;
  const errorBox = document.getElementById("flow-error");
  const stepsList = document.getElementById("steps");
  const triggerBox = document.getElementById("trigger");
  // The fields and functions panel inserts into the step last typed in,
  // or into the last send step's message.
  const panel = HeraldMessageEditor.snippets(document.getElementById("snippets-panel"),
    () => [...stepsList.querySelectorAll("textarea[data-insert-target]")].pop());

  // "Bought since the contact entered": the README's win-back exit.
  const boughtSinceStart = { field: "last_purchase_at", op: "after", value: "$flow_start" };
  const isBoughtSinceStart = (d) => d && d.field === boughtSinceStart.field && d.op === boughtSinceStart.op && d.value === boughtSinceStart.value;

  let trigger = { type: "date", field: "birthday", hour: 9 };
  let steps = []; // {type, campaign_id, message: {subject, html_body, from_name, from_email}, duration, definition, mode}
  const lists = { segments: [], dateFields: [], templates: [] };
  let radioGroups = 0;

  const num = (v) => (v === "" || v === null || v === undefined ? undefined : Number(v));
  const field = (label, input, hint, key) => el("label", { "data-key": key }, label, input, hint ? el("span", { class: "hint" }, hint) : null, el("span", { class: "field-error", role: "alert", hidden: true }));

  function input(attrs, get, set) {
    const e = el("input", Object.assign({ type: "text", autocomplete: "off" }, attrs));
    const v = get();
    e.value = v === undefined || v === null ? "" : v;
    e.addEventListener("input", () => set(e.value));
    return e;
  }
  function select(options, value, set, attrs) {
    const e = el("select", attrs || {}, options.map(([v, label]) => el("option", { value: v, selected: String(v) === String(value) }, label)));
    e.addEventListener("change", () => set(e.value));
    return e;
  }

  // Trigger ---------------------------------------------------------------
  const triggerTypes = [
    ["date", "A date: birthday, anniversary, signup or a custom date"],
    ["segment_entered", "Entering a segment"],
    ["inactivity", "Stopped buying, by their own rhythm"],
    ["event", "An event, such as a purchase or a page view"],
  ];
  function drawTrigger() {
    const t = trigger;
    const kids = [field("Starts when", select(triggerTypes, t.type, (v) => {
      trigger = v === "date" ? { type: v, field: "birthday", hour: 9 } : v === "inactivity" ? { type: v, factor: 1.5, one_time_days: 60 } : { type: v };
      drawTrigger();
    }, { name: "trigger_type" }), null, "type")];
    const setNum = (k) => (v) => { t[k] = num(v); if (t[k] === undefined) delete t[k]; };
    if (t.type === "date") {
      const dates = [["birthday", "Birthday"], ["anniversary", "Anniversary"], ["signup_at", "Signup anniversary"]]
        .concat(lists.dateFields.map((f) => ["attr." + f.name, "Custom date: " + f.name]));
      kids.push(el("div", { class: "form-grid" },
        field("Date", select(dates, t.field, (v) => { t.field = v; }, { name: "trigger_field" }), null, "field"),
        field("Days before (-) or after (+)", input({ type: "number", name: "offset_days", step: 1 }, () => t.offset_days, setNum("offset_days")), "0 is the day itself; -3 three days before.", "offset_days"),
        field("Local hour", input({ type: "number", name: "hour", min: 0, max: 23 }, () => t.hour, setNum("hour")), "0-23, in each contact's own time zone.", "hour")));
    } else if (t.type === "segment_entered") {
      const opts = [["", lists.segments.length ? "Choose a segment" : "No segments yet"]].concat(lists.segments.map((s) => [s.id, s.name]));
      kids.push(field("Segment", select(opts, t.segment_id || "", (v) => { t.segment_id = num(v); }, { name: "segment_id" }), "Contacts enter when they join it, once per time they join.", "segment_id"));
    } else if (t.type === "inactivity") {
      kids.push(el("div", { class: "form-grid" },
        field("Factor", input({ type: "number", name: "factor", step: "0.1", min: 1 }, () => t.factor, setNum("factor")), "× the contact's own average days between purchases.", "factor"),
        field("One-time buyers after (days)", input({ type: "number", name: "one_time_days", min: 1 }, () => t.one_time_days, setNum("one_time_days")), "For contacts who bought once.", "one_time_days"),
        field("At least (days)", input({ type: "number", name: "min_days", min: 0 }, () => t.min_days, setNum("min_days")), "Optional: days since the last purchase.", "min_days"),
        field("At most (days)", input({ type: "number", name: "max_days", min: 0 }, () => t.max_days, setNum("max_days")), "Optional: leaves out long-lost customers.", "max_days")));
    } else if (t.type === "event") {
      kids.push(field("Event", input({ name: "event", placeholder: "purchase" }, () => t.event, (v) => { t.event = v.trim(); }), "The event type as your shop sends it.", "event"));
      const rows = Object.entries(t.where || {}).map(([k, v]) => ({ k, v: String(v), type: typeof v === "number" ? "number" : "text" }));
      const box = el("div", { class: "where-list", "data-key": "where" });
      const sync = () => {
        const w = {};
        // A number property matches only a number: the event's 40 is
        // not the text "40".
        for (const r of rows) if (r.k.trim()) w[r.k.trim()] = r.type === "number" && r.v.trim() !== "" && !isNaN(Number(r.v)) ? Number(r.v) : r.v;
        if (Object.keys(w).length) t.where = w; else delete t.where;
      };
      const drawRows = () => {
        box.replaceChildren(el("span", { class: "muted" }, "Only when its properties are:"), ...rows.map((r, i) => el("div", { class: "inline where-row" },
          el("label", {}, "Property", input({ class: "where-key", "aria-label": "Property" }, () => r.k, (v) => { r.k = v; sync(); })),
          el("label", {}, "equals", input({ class: "where-value", "aria-label": "Value" }, () => r.v, (v) => { r.v = v; sync(); })),
          el("label", {}, "as", select([["text", "text"], ["number", "number"]], r.type, (v) => { r.type = v; sync(); }, { class: "where-type", "aria-label": "Compared as" })),
          el("button", { type: "button", class: "secondary small", onclick: () => { rows.splice(i, 1); sync(); drawRows(); } }, "Remove"))),
        el("button", { type: "button", class: "secondary small", onclick: () => { rows.push({ k: "", v: "", type: "text" }); drawRows(); } }, "Add a property filter"),
        el("span", { class: "field-error", role: "alert", hidden: true }));
      };
      drawRows();
      kids.push(box);
    }
    triggerBox.replaceChildren(...kids);
  }

  // Steps -----------------------------------------------------------------
  const stepNames = { send: "Send a message", wait: "Wait", exit_if: "Exit if" };
  function newStep(type) {
    if (type === "send") return { type, message: { subject: "", html_body: "", from_name: "", from_email: lastFrom() } };
    if (type === "wait") return { type, duration: "7d" };
    return { type, definition: clone(boughtSinceStart), mode: "bought" };
  }
  function lastFrom() {
    for (const s of steps) if (s.type === "send" && s.message.from_email) return s.message.from_email;
    return "";
  }
  const clone = (v) => JSON.parse(JSON.stringify(v));

  function drawSteps() {
    stepsList.replaceChildren(...steps.map((s, i) => {
      const li = el("li", { class: "flow-step step-" + s.type, "data-step": i });
      const head = el("div", { class: "step-head" },
        el("b", {}, `${i + 1}. ${stepNames[s.type]}`),
        el("span", { class: "step-tools" },
          el("button", { type: "button", class: "secondary small", "aria-label": `Move step ${i + 1} up`, disabled: i === 0, onclick: () => move(i, -1) }, "↑"),
          el("button", { type: "button", class: "secondary small", "aria-label": `Move step ${i + 1} down`, disabled: i === steps.length - 1, onclick: () => move(i, 1) }, "↓"),
          el("button", { type: "button", class: "danger small", onclick: () => remove(i) }, "Remove")));
      li.append(head, el("p", { class: "field-error step-error", role: "alert", hidden: true }));
      if (s.type === "send") li.append(sendBody(s, i));
      else if (s.type === "wait") li.append(waitBody(s));
      else li.append(exitBody(s));
      return li;
    }));
    if (!steps.length) stepsList.append(el("li", { class: "empty" }, "No steps yet: add a message to send."));
    panel?.label();
  }
  function move(i, d) {
    const [s] = steps.splice(i, 1);
    steps.splice(i + d, 0, s);
    drawSteps();
    stepsList.querySelector(`[data-step="${i + d}"] button[aria-label^="Move step ${i + d + 1} ${d < 0 ? "up" : "down"}"]`)?.focus();
  }
  async function remove(i) {
    if (!(await Herald.confirmDialog(`Remove step ${i + 1} (${stepNames[steps[i].type].toLowerCase()})? It is gone when you save.`, "Remove"))) return;
    steps.splice(i, 1);
    drawSteps();
  }

  function sendBody(s, i) {
    const m = s.message;
    const box = el("div", { class: "step-body" });
    if (lists.templates.length) {
      box.append(field("Start from", select([["", "Keep what is written"]].concat(lists.templates.map((t) => [t.key, t.name])), "", (key) => {
        const t = lists.templates.find((x) => x.key === key);
        if (!t) return;
        m.subject = t.subject;
        m.html_body = t.html_body;
        drawSteps();
      }, { class: "starter" }), "A starter fills the subject and body, which you can then change.", "template"));
    }
    box.append(el("div", { class: "form-grid" },
      field("From name", input({ name: "from_name" }, () => m.from_name, (v) => { m.from_name = v; }), null, "message.from_name"),
      field("From email", input({ type: "email", name: "from_email", placeholder: "hello@shop.example.com" }, () => m.from_email, (v) => { m.from_email = v; }), null, "message.from_email")));
    box.append(field("Subject", input({ name: "subject", dir: "auto", "data-insert-target": `step ${i + 1}’s subject` }, () => m.subject, (v) => { m.subject = v; }), null, "message.subject"));
    const body = el("textarea", { name: "html_body", rows: 10, wrap: "off", spellcheck: "false", autocapitalize: "off", "data-insert-target": `step ${i + 1}’s message` });
    body.value = m.html_body || "";
    body.addEventListener("input", () => { m.html_body = body.value; });
    const code = el("div", { class: "code-editor compact" }, el("div", { class: "gutter", "aria-hidden": "true" }), body);
    s.editor = HeraldMessageEditor.codeEditor(code);
    box.append(field("Message (HTML)", code, "Fields and functions from the panel go in at the cursor.", "message.html_body"));
    if (s.campaign_id) {
      // The campaign preview page shows the saved message as any contact,
      // as HTML and plain text, at phone width, and sends a test.
      box.append(el("p", { class: "inline step-links" },
        el("a", { class: "button secondary small", href: `/campaigns/${s.campaign_id}/preview` }, "Preview as a contact…"),
        el("span", { class: "hint" }, "Shows the message as last saved.")));
    }
    return box;
  }

  function waitBody(s) {
    const m = /^(\d+)([hd])$/.exec(s.duration || "") || [null, "7", "d"];
    let n = m[1], unit = m[2];
    const sync = () => { s.duration = n + unit; };
    return el("div", { class: "step-body inline" },
      field("For", input({ type: "number", name: "wait_n", min: 1 }, () => n, (v) => { n = v; sync(); }), null, "duration"),
      field("", select([["d", "days"], ["h", "hours"]], unit, (v) => { unit = v; sync(); }, { name: "wait_unit", "aria-label": "Unit" })));
  }

  function exitBody(s) {
    if (!s.mode) s.mode = isBoughtSinceStart(s.definition) ? "bought" : "rule";
    const box = el("div", { class: "step-body" });
    const ruleBox = el("div", { class: "exit-rule" });
    const choose = (mode) => {
      s.mode = mode;
      if (mode === "bought") {
        s.definition = clone(boughtSinceStart);
        ruleBox.replaceChildren();
      } else {
        if (isBoughtSinceStart(s.definition)) s.definition = null;
        s.builder = HeraldSegmentBuilder.mount(ruleBox, s.definition, { onChange: (d) => { s.definition = d; } });
      }
    };
    const name = "exit_mode_" + (++radioGroups);
    const radio = (mode, label) => el("label", { class: "check" }, el("input", { type: "radio", name, value: mode, checked: s.mode === mode, onchange: () => choose(mode) }), label);
    const r1 = radio("bought", "They bought since they entered"), r2 = radio("rule", "They match a rule");
    box.append(el("div", { class: "exit-choice" }, r1, r2), ruleBox,
      el("p", { class: "hint" }, "Checked when a run reaches this step: a contact who matches leaves the automation and gets none of the later messages."));
    if (s.mode === "rule") choose("rule");
    return box;
  }

  for (const b of form.querySelectorAll("[data-add]")) {
    b.addEventListener("click", () => {
      steps.push(newStep(b.dataset.add));
      drawSteps();
      stepsList.lastElementChild?.querySelector("input, select, textarea")?.focus({ preventScroll: true });
    });
  }

  // Save ------------------------------------------------------------------
  function payload() {
    return {
      name: form.elements.name.value.trim(),
      description: form.elements.description.value.trim(),
      trigger: clone(trigger),
      steps: steps.map((s) => {
        if (s.type === "send") {
          const out = { type: "send", message: { subject: s.message.subject, html_body: s.message.html_body, from_name: s.message.from_name, from_email: s.message.from_email } };
          if (s.campaign_id) out.campaign_id = s.campaign_id;
          return out;
        }
        if (s.type === "wait") return { type: "wait", duration: s.duration };
        return { type: "exit_if", definition: s.definition || { all: [] } };
      }),
    };
  }

  function clearErrors() {
    errorBox.hidden = true;
    for (const e of form.querySelectorAll(".field-error")) { e.hidden = true; e.textContent = ""; }
    for (const e of form.querySelectorAll("[aria-invalid]")) e.removeAttribute("aria-invalid");
    for (const e of form.querySelectorAll(".flow-step.has-error")) e.classList.remove("has-error");
  }

  // showError puts the API's error beside what its path names.
  function showError(err) {
    const path = err.path || "";
    let where = "", slot = null, mark = null;
    let m;
    if ((m = /^steps\[(\d+)\]\.?(.*)$/.exec(path))) {
      const i = Number(m[1]), rest = m[2];
      const li = stepsList.querySelector(`[data-step="${i}"]`);
      where = `Step ${i + 1}: `;
      if (li) {
        li.classList.add("has-error");
        if (rest.startsWith("definition") && steps[i].builder) {
          steps[i].builder.showErrors({ message: err.message, path: rest.replace(/^definition\.?/, "") });
        }
        const lab = li.querySelector(`label[data-key="${rest.split(/\.(?=[a-z_]+$)/)[0]}"]`) || li.querySelector(`label[data-key="${rest}"]`);
        slot = lab ? lab.querySelector(".field-error") : li.querySelector(".step-error");
        mark = lab ? lab.querySelector("input, select, textarea") : null;
        li.scrollIntoView({ block: "center" });
      }
    } else if ((m = /^trigger\.?(.*)$/.exec(path))) {
      where = "Trigger: ";
      const lab = triggerBox.querySelector(`[data-key="${m[1].split(/[.[]/)[0] || "type"}"]`);
      if (lab) { slot = lab.querySelector(":scope > .field-error"); mark = lab.querySelector("input, select"); }
    } else if (path === "name" || path === "description") {
      const lab = form.elements[path].closest("label");
      slot = lab.querySelector(".field-error") || lab.appendChild(el("span", { class: "field-error", role: "alert" }));
      mark = form.elements[path];
    }
    let msg = err.message;
    // A template error names its line and column: mark the line in the
    // step's body and put the cursor there, as the campaign editor does.
    const pos = (m = /^steps\[(\d+)\]\.message\.(html_body|subject)$/.exec(path)) && HeraldMessageEditor.templatePos(err.message);
    if (pos) {
      const i = Number(m[1]);
      msg = `${m[2] === "subject" ? "Subject" : "Message (HTML)"}, line ${pos.line}, column ${pos.col}: ${pos.msg}`;
      if (m[2] === "html_body" && steps[i].editor) {
        steps[i].editor.markLine(pos.line);
        steps[i].editor.goTo(pos.line, pos.col);
      } else if (mark) {
        mark.focus();
        mark.setSelectionRange(pos.col - 1, pos.col - 1);
      }
    }
    if (slot) { slot.textContent = msg; slot.hidden = false; }
    if (mark) mark.setAttribute("aria-invalid", "true");
    errorBox.textContent = "Not saved. " + where + msg;
    errorBox.hidden = false;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors();
    const save = document.getElementById("flow-save");
    save.disabled = true;
    const res = id ? await api("PATCH", `/api/automations/${id}`, payload()) : await api("POST", "/api/automations", payload());
    save.disabled = false;
    if (!res.ok) {
      showError(res.error || { message: "Herald could not save it." });
      if (!errorBox.closest(".flow-step")) errorBox.scrollIntoView({ block: "center" });
      return;
    }
    if (!id) { location.href = `/automations/${res.data.id}`; return; }
    document.getElementById("flow-saved").textContent = "Saved.";
    await load();
  });

  // Load ------------------------------------------------------------------
  async function load() {
    const res = await api("GET", `/api/automations/${id}`);
    if (!res.ok) { errorBox.textContent = res.error.message; errorBox.hidden = false; return; }
    const f = res.data;
    form.elements.name.value = f.name;
    form.elements.description.value = f.description || "";
    trigger = f.trigger;
    steps = await Promise.all((f.steps || []).map(async (s) => {
      if (s.type === "send") {
        const out = { type: "send", campaign_id: s.campaign_id, message: { subject: "", html_body: "", from_name: "", from_email: "" } };
        if (s.campaign_id) {
          const c = await api("GET", `/api/campaigns/${s.campaign_id}`);
          if (c.ok) out.message = { subject: c.data.subject, html_body: c.data.html_body, from_name: c.data.from_name, from_email: c.data.from_email };
        }
        return out;
      }
      if (s.type === "wait") return { type: "wait", duration: s.duration };
      return { type: "exit_if", definition: s.definition };
    }));
    drawTrigger();
    drawSteps();
  }

  (async () => {
    const [segs, fields, tpls] = await Promise.all([api("GET", "/api/segments?limit=1000"), api("GET", "/api/custom-fields"), api("GET", "/api/templates")]);
    if (segs.ok) lists.segments = segs.data.data || [];
    if (fields.ok) lists.dateFields = (fields.data.data || []).filter((f) => f.type === "date");
    if (tpls.ok) lists.templates = tpls.data.data || tpls.data || [];
    if (id) await load();
    else { drawTrigger(); drawSteps(); }
  })();
})();
