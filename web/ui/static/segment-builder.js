/*
 * HeraldSegmentBuilder: a form editor for Herald segment definitions, used
 * by the segment pages and by any page that edits a definition (an
 * automation's exit rules). It needs app.js (window.Herald) first.
 *
 *   const ed = HeraldSegmentBuilder.mount(container, definition, { onChange, catalog });
 *   ed.get()              the definition now: a plain object in the API's grammar
 *   ed.set(definition)    replace it and redraw
 *   ed.showErrors(error)  show an API error ({message, path}) on the rule or
 *                         group its path names ("all[1].any[0].value");
 *                         returns false when the path names no part of the
 *                         definition (the page shows it elsewhere); null clears
 *   ed.ready              a promise, resolved once the field catalog is loaded
 *
 * definition is any node of the grammar: {"all": [...]}, {"any": [...]},
 * {"not": node} or a rule {"field", "op", "value"}; null starts an empty
 * "all" group. onChange(definition) is called after every edit. The fields,
 * their operators and the kind of value each operator takes come from the
 * catalog the API serves (GET /api/segments/fields, loaded once a page), or
 * from opts.catalog.
 *
 * Round trip is exact: the editor changes only what the user edits, so a
 * definition loaded and saved unchanged stays the same (a group of one
 * rule stays a group, key order and number forms are kept).
 */
"use strict";

window.HeraldSegmentBuilder = (() => {
  const H = Herald;
  const el = H.el;

  let catalogPromise = null;
  function loadCatalog() {
    if (!catalogPromise) {
      catalogPromise = H.api("GET", "/api/segments/fields").then((r) => {
        if (!r.ok) { catalogPromise = null; throw new Error(r.error.message); }
        return r.data;
      });
    }
    return catalogPromise;
  }

  let campaignsPromise = null;
  function loadCampaigns() {
    if (!campaignsPromise) {
      campaignsPromise = H.api("GET", "/api/campaigns?limit=200").then((r) => (r.ok && r.data && r.data.data) || []);
    }
    return campaignsPromise;
  }

  const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
  const join = (path, key) => (path ? path + "." + key : key);
  const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

  const MONTHS = Array.from({ length: 12 }, (_, i) => new Intl.DateTimeFormat(undefined, { month: "long" }).format(new Date(2000, i, 15)));
  let regionNames = null;
  try { regionNames = new Intl.DisplayNames(undefined, { type: "region" }); } catch (e) { regionNames = null; }
  const countryName = (cc) => { try { return (regionNames && regionNames.of(cc)) || cc; } catch (e) { return cc; } };

  // Catalog helpers.
  function indexCatalog(cat) {
    const byName = new Map();
    let eventTemplate = null;
    for (const g of cat.groups) {
      for (const f of g.fields) {
        byName.set(f.name, Object.assign({ group: g.key }, f));
        if (!eventTemplate && f.type === "events") eventTemplate = f;
      }
    }
    return { cat, byName, eventTemplate };
  }

  // fieldOf describes a rule's field: from the catalog, an event type the
  // catalog does not list (any is allowed), or unknown.
  function fieldOf(idx, name) {
    if (idx.byName.has(name)) return idx.byName.get(name);
    if (typeof name === "string" && name.startsWith(idx.cat.event_prefix) && idx.eventTemplate) {
      const type = name.slice(idx.cat.event_prefix.length);
      return Object.assign({}, idx.eventTemplate, { name, label: type, group: "events", custom: true, machines: type.startsWith("email.") });
    }
    return null;
  }

  function defaultValue(kind, field, campaigns) {
    switch (kind) {
      case "text": case "country": return "";
      case "texts": case "countries": return [""];
      case "choice": return field.values[0];
      case "choices": return [field.values[0]];
      case "number": case "money": return 0;
      case "number_range": case "money_range": return [0, 100];
      case "date": return new Date().toISOString().slice(0, 10);
      case "duration": return "30d";
      case "month": return "current";
      case "days": return 7;
      case "percent": return 20;
      case "campaigns": return 5;
      case "campaign": return campaigns && campaigns.length ? campaigns[0].id : 0;
      case "bool": return true;
      case "event_count": return { n: 1, within: "30d" };
    }
    return undefined;
  }

  function opOf(field, op) { return field ? field.ops.find((o) => o.op === op) : null; }

  function mount(container, definition, opts) {
    opts = opts || {};
    let root = definition == null ? { all: [] } : clone(definition);
    let idx = null;
    let campaigns = null;
    const onChange = opts.onChange || (() => {});
    const changed = () => onChange(get());

    function get() { return clone(root); }
    function set(def) { root = def == null ? { all: [] } : clone(def); draw(); changed(); }

    container.classList.add("sb");
    container.replaceChildren(el("p", { class: "muted" }, "Loading the fields…"));

    const ready = (opts.catalog ? Promise.resolve(opts.catalog) : loadCatalog()).then((cat) => {
      idx = indexCatalog(cat);
      ensureDatalists(cat);
      draw();
    }, (err) => {
      container.replaceChildren(el("p", { class: "alert", role: "alert" }, "The fields could not be loaded: " + err.message));
    });

    // draw renders the whole tree; structural edits redraw and give the
    // focus back to the control that had it.
    function draw() {
      if (!idx) return;
      const active = document.activeElement && container.contains(document.activeElement) ? document.activeElement.dataset.k : null;
      const rootSlot = { get: () => root, set: (n) => { root = n; } };
      container.replaceChildren(renderNode(rootSlot, "", null));
      if (!(isObj(root) && (Array.isArray(root.all) || Array.isArray(root.any)) && !("field" in root))) {
        // A definition that is a single rule (or a "not") grows into a
        // group when another condition joins it.
        container.append(el("div", { class: "sb-add" },
          el("button", { type: "button", class: "secondary small sb-add-rule sb-wrap", "data-k": ":wrap", onclick: () => { root = { all: [root, newRule()] }; redraw(); } }, "+ Condition")));
      }
      if (active) {
        const again = container.querySelector(`[data-k="${CSS.escape(active)}"]`);
        if (again) again.focus();
      }
    }
    function redraw() { draw(); changed(); }

    function ensureDatalists(cat) {
      if (document.getElementById("sb-countries")) return;
      document.body.append(el("datalist", { id: "sb-countries" }, cat.countries.map((cc) => el("option", { value: cc, label: countryName(cc) }))));
    }

    // ---- nodes ----

    function renderNode(slot, path, ctx) {
      const n = slot.get();
      if (isObj(n) && Array.isArray(n.all) && !("field" in n)) return renderGroup(slot, path, ctx, "all");
      if (isObj(n) && Array.isArray(n.any) && !("field" in n)) return renderGroup(slot, path, ctx, "any");
      if (isObj(n) && "not" in n && !("field" in n)) return renderNot(slot, path, ctx);
      if (isObj(n) && "field" in n) return renderRule(slot, path, ctx);
      return renderUnknown(slot, path, ctx);
    }

    function toolbar(ctx, path) {
      if (!ctx) return null;
      return el("span", { class: "sb-tools" },
        el("button", { type: "button", class: "secondary small", title: "Move up", "aria-label": "Move up", disabled: !ctx.canUp, "data-k": path + ":up", onclick: ctx.up }, "↑"),
        el("button", { type: "button", class: "secondary small", title: "Move down", "aria-label": "Move down", disabled: !ctx.canDown, "data-k": path + ":down", onclick: ctx.down }, "↓"),
        el("button", { type: "button", class: "danger small sb-remove", title: "Remove", "aria-label": "Remove", "data-k": path + ":rm", onclick: ctx.remove }, "✕"));
    }

    const errorSlot = () => el("p", { class: "field-error sb-error", role: "alert", hidden: true });

    function newRule() {
      const f = idx.cat.groups.find((g) => g.fields.length).fields[0];
      const o = f.ops[0];
      const r = { field: f.name, op: o.op };
      const v = defaultValue(o.value, f, campaigns);
      if (v !== undefined) r.value = v;
      return r;
    }

    function renderGroup(slot, path, ctx, key) {
      const n = slot.get();
      const list = n[key];
      const join_ = el("select", { class: "sb-join", "aria-label": "How the conditions combine", "data-k": path + ":join" },
        el("option", { value: "all", selected: key === "all" }, "All of these are true"),
        el("option", { value: "any", selected: key === "any" }, "Any of these is true"));
      join_.addEventListener("change", () => {
        if (join_.value === key) return;
        slot.set({ [join_.value]: list });
        redraw();
      });
      const items = el("ol", { class: "sb-children" });
      list.forEach((_, i) => {
        const childSlot = { get: () => list[i], set: (c) => { list[i] = c; } };
        const move = (d) => () => { const t = list[i]; list[i] = list[i + d]; list[i + d] = t; redraw(); };
        const childCtx = { canUp: i > 0, canDown: i < list.length - 1, up: move(-1), down: move(1), remove: () => { list.splice(i, 1); redraw(); } };
        items.append(el("li", {}, renderNode(childSlot, join(path, `${key}[${i}]`), childCtx)));
      });
      const add = (make) => () => { list.push(make()); redraw(); };
      return el("div", { class: "sb-group sb-" + key, "data-path": path },
        el("div", { class: "sb-head" }, join_, toolbar(ctx, path)),
        errorSlot(),
        list.length ? items : el("p", { class: "muted sb-empty" }, key === "all" ? "No conditions: every contact matches." : "No conditions: no contact matches."),
        el("div", { class: "sb-add" },
          el("button", { type: "button", class: "secondary small sb-add-rule", "data-k": path + ":add-rule", onclick: add(newRule) }, "+ Condition"),
          el("button", { type: "button", class: "secondary small sb-add-group", "data-k": path + ":add-group", onclick: add(() => ({ [key === "all" ? "any" : "all"]: [newRule()] })) }, "+ Group"),
          el("button", { type: "button", class: "secondary small sb-add-not", "data-k": path + ":add-not", onclick: add(() => ({ not: { any: [newRule()] } })) }, "+ None of")));
    }

    function renderNot(slot, path, ctx) {
      const n = slot.get();
      const childSlot = { get: () => n.not, set: (c) => { n.not = c; } };
      return el("div", { class: "sb-group sb-not", "data-path": path },
        el("div", { class: "sb-head" }, el("span", { class: "sb-not-label" }, "Not: contacts who do not match this"), toolbar(ctx, path)),
        errorSlot(),
        el("div", { class: "sb-not-body" }, renderNode(childSlot, join(path, "not"), null)));
    }

    function renderUnknown(slot, path, ctx) {
      return el("div", { class: "sb-rule sb-unknown", "data-path": path },
        el("div", { class: "sb-row" }, el("code", { class: "mono" }, JSON.stringify(slot.get())), toolbar(ctx, path)),
        el("p", { class: "hint" }, "Not a condition or a group the builder knows: edit it in the JSON view."),
        errorSlot());
    }

    // ---- rules ----

    function renderRule(slot, path, ctx) {
      const n = slot.get();
      const field = fieldOf(idx, n.field);
      const fieldSel = el("select", { class: "sb-field", "aria-label": "Field", "data-k": path + ":field" });
      let chosen = false;
      for (const g of idx.cat.groups) {
        if (!g.fields.length && g.key !== "events") continue;
        const og = el("optgroup", { label: g.label });
        for (const f of g.fields) {
          const sel = f.name === n.field;
          chosen = chosen || sel;
          og.append(el("option", { value: f.name, selected: sel }, f.label));
        }
        if (g.key === "events") og.append(el("option", { value: "event.*", selected: !!(field && field.custom) }, "Other event…"));
        fieldSel.append(og);
      }
      if (field && field.custom) chosen = true;
      if (!chosen) fieldSel.prepend(el("option", { value: String(n.field), selected: true }, "Unknown field: " + n.field));

      fieldSel.addEventListener("change", () => {
        const name = fieldSel.value === "event.*" ? idx.cat.event_prefix : fieldSel.value;
        changeField(n, name);
        redraw();
      });

      const row = el("div", { class: "sb-row" }, fieldSel);
      if (field && field.custom) {
        const name = el("input", { type: "text", class: "sb-event-name", value: n.field.slice(idx.cat.event_prefix.length), placeholder: "event type, such as review.posted",
          "aria-label": "Event type", autocomplete: "off", spellcheck: "false", "data-k": path + ":event" });
        name.addEventListener("input", () => { n.field = idx.cat.event_prefix + name.value.trim(); changed(); });
        row.append(name);
      }
      const opSel = el("select", { class: "sb-op", "aria-label": "Condition", "data-k": path + ":op" });
      const op = opOf(field, n.op);
      if (field) for (const o of field.ops) opSel.append(el("option", { value: o.op, selected: o.op === n.op }, o.label));
      if (!op) opSel.prepend(el("option", { value: String(n.op), selected: true }, String(n.op || "choose")));
      opSel.addEventListener("change", () => {
        const prev = opOf(field, n.op);
        const next = opOf(field, opSel.value);
        n.op = opSel.value;
        if (!prev || !next || prev.value !== next.value) setDefault(n, field, next);
        redraw();
      });
      row.append(opSel);
      const value = el("span", { class: "sb-value" });
      if (op) renderValue(value, n, field, op, path);
      else if ("value" in n) renderRaw(value, n, path);
      row.append(value);
      if (field && field.machines) {
        const cb = el("input", { type: "checkbox", checked: !!n.machines, "data-k": path + ":machines" });
        cb.addEventListener("change", () => { if (cb.checked) n.machines = true; else delete n.machines; changed(); });
        row.append(el("label", { class: "sb-check", title: "Also count opens and clicks by privacy proxies and link scanners" }, cb, " machines too"));
      }
      return el("div", { class: "sb-rule", "data-path": path }, row, toolbar(ctx, path), errorSlot());
    }

    function changeField(n, name) {
      const prevField = fieldOf(idx, n.field);
      const prevOp = opOf(prevField, n.op);
      n.field = name;
      const f = fieldOf(idx, name);
      if (!f) return;
      if (!f.machines) delete n.machines;
      const same = opOf(f, n.op);
      if (same && prevOp && same.value === prevOp.value) return; // keep op and value
      const o = same || f.ops[0];
      n.op = o.op;
      setDefault(n, f, o);
    }

    function setDefault(n, field, op) {
      const v = op ? defaultValue(op.value, field, campaigns) : undefined;
      if (v === undefined) delete n.value; else n.value = v;
    }

    function setValue(n, v) { n.value = v; changed(); }

    function numberInput(get, put, attrs, k) {
      const cur = get();
      const inp = el("input", Object.assign({ type: "number", inputmode: "decimal", value: cur == null ? "" : String(cur), "data-k": k }, attrs));
      inp.addEventListener("input", () => {
        const s = inp.value.trim();
        put(s === "" ? null : Number(s));
      });
      return inp;
    }

    function renderRaw(box, n, path) {
      const inp = el("input", { type: "text", class: "mono", value: JSON.stringify(n.value), "aria-label": "Value as JSON", "data-k": path + ":raw" });
      inp.addEventListener("input", () => { try { n.value = JSON.parse(inp.value); changed(); } catch (e) { /* wait for valid JSON */ } });
      box.append(inp);
    }

    function renderValue(box, n, field, op, path) {
      const k = path + ":v";
      const money = { step: String(Math.pow(10, -idx.cat.currency_decimals)), min: "0" };
      const cur = () => el("span", { class: "sb-unit" }, idx.cat.currency);
      switch (op.value) {
        case "none":
          return;
        case "text": {
          const inp = el("input", { type: "text", value: n.value == null ? "" : String(n.value), "aria-label": "Value", dir: "auto", autocomplete: "off", "data-k": k });
          inp.addEventListener("input", () => setValue(n, inp.value));
          return box.append(inp);
        }
        case "country": {
          const inp = el("input", { type: "text", class: "country", list: "sb-countries", maxlength: "2", value: n.value == null ? "" : String(n.value), "aria-label": "Country code", autocomplete: "off", placeholder: "NL", "data-k": k });
          const name = el("span", { class: "muted sb-country-name" }, n.value ? countryName(String(n.value).toUpperCase()) : "");
          inp.addEventListener("input", () => { setValue(n, inp.value.trim().toUpperCase()); name.textContent = inp.value.length === 2 ? countryName(inp.value.toUpperCase()) : ""; });
          return box.append(inp, name);
        }
        case "choice": {
          const sel = el("select", { "aria-label": "Value", "data-k": k }, field.values.map((v) => el("option", { value: v, selected: v === n.value }, v)));
          if (!field.values.includes(n.value)) sel.prepend(el("option", { value: String(n.value), selected: true }, String(n.value)));
          sel.addEventListener("change", () => setValue(n, sel.value));
          return box.append(sel);
        }
        case "texts": case "countries": case "choices":
          return box.append(listEditor(n, field, op.value, path));
        case "number": case "days": case "percent": case "campaigns": {
          const attrs = { "aria-label": "Value", step: op.value === "number" ? "any" : "1" };
          if (op.value === "days") Object.assign(attrs, { min: "0", max: "366" });
          if (op.value === "percent") Object.assign(attrs, { min: "1", max: "99" });
          if (op.value === "campaigns") Object.assign(attrs, { min: "1", max: "100" });
          box.append(numberInput(() => n.value, (v) => setValue(n, v), attrs, k));
          if (op.value === "days") box.append(el("span", { class: "sb-unit" }, "days"));
          if (op.value === "percent") box.append(el("span", { class: "sb-unit" }, "%"));
          if (op.value === "campaigns") box.append(el("span", { class: "sb-unit" }, "campaigns sent to them"));
          return;
        }
        case "money":
          return box.append(numberInput(() => n.value, (v) => setValue(n, v), Object.assign({ "aria-label": "Amount in " + idx.cat.currency }, money), k), cur());
        case "number_range": case "money_range": {
          if (!Array.isArray(n.value) || n.value.length !== 2) n.value = [null, null];
          const a = op.value === "money_range" ? Object.assign({}, money) : { step: "any" };
          box.append(
            numberInput(() => n.value[0], (v) => { n.value[0] = v; changed(); }, Object.assign({ "aria-label": "From" }, a), k + "0"),
            el("span", { class: "sb-unit" }, "and"),
            numberInput(() => n.value[1], (v) => { n.value[1] = v; changed(); }, Object.assign({ "aria-label": "To" }, a), k + "1"));
          if (op.value === "money_range") box.append(cur());
          return;
        }
        case "date": {
          const plain = n.value == null || n.value === "" || /^\d{4}-\d{2}-\d{2}$/.test(String(n.value));
          const inp = el("input", { type: plain ? "date" : "text", value: n.value == null ? "" : String(n.value), "aria-label": "Date", "data-k": k });
          inp.addEventListener("input", () => setValue(n, inp.value));
          return box.append(inp);
        }
        case "duration":
          return box.append(durationEditor(() => n.value, (v) => setValue(n, v), k));
        case "month": {
          const sel = el("select", { "aria-label": "Month", "data-k": k },
            el("option", { value: "current", selected: n.value === "current" }, "this month (at each refresh)"),
            el("option", { value: "next", selected: n.value === "next" }, "next month (at each refresh)"),
            MONTHS.map((m, i) => el("option", { value: String(i + 1), selected: n.value === i + 1 }, m)));
          if (!["current", "next"].includes(n.value) && !(Number.isInteger(n.value) && n.value >= 1 && n.value <= 12)) {
            sel.prepend(el("option", { value: "", selected: true }, String(n.value)));
          }
          sel.addEventListener("change", () => setValue(n, /^\d+$/.test(sel.value) ? Number(sel.value) : sel.value));
          return box.append(sel);
        }
        case "campaign":
          return box.append(campaignPicker(() => n.value, (v) => setValue(n, v), k));
        case "bool": {
          const sel = el("select", { "aria-label": "Value", "data-k": k },
            el("option", { value: "true", selected: n.value === true }, "yes"),
            el("option", { value: "false", selected: n.value === false }, "no"));
          sel.addEventListener("change", () => setValue(n, sel.value === "true"));
          return box.append(sel);
        }
        case "event_count":
          return box.append(eventCountEditor(n, path));
      }
      renderRaw(box, n, path);
    }

    // listEditor edits a list of values, one input per value, so that a
    // value may contain commas.
    function listEditor(n, field, kind, path) {
      if (!Array.isArray(n.value)) n.value = n.value == null ? [] : [n.value];
      const list = n.value;
      const wrap = el("span", { class: "sb-list" });
      list.forEach((v, i) => {
        const k = `${path}:v${i}`;
        let inp;
        if (kind === "choices") {
          inp = el("select", { "aria-label": "Value " + (i + 1), "data-k": k }, field.values.map((x) => el("option", { value: x, selected: x === v }, x)));
          inp.addEventListener("change", () => { list[i] = inp.value; changed(); });
        } else {
          const attrs = { type: "text", value: v == null ? "" : String(v), "aria-label": "Value " + (i + 1), autocomplete: "off", "data-k": k, dir: "auto" };
          if (kind === "countries") Object.assign(attrs, { list: "sb-countries", maxlength: "2", class: "country", placeholder: "NL" });
          inp = el("input", attrs);
          inp.addEventListener("input", () => { list[i] = kind === "countries" ? inp.value.trim().toUpperCase() : inp.value; changed(); });
        }
        const rm = el("button", { type: "button", class: "link sb-list-rm", title: "Remove this value", "aria-label": "Remove value " + (i + 1), disabled: list.length < 2, "data-k": k + "rm",
          onclick: () => { list.splice(i, 1); redraw(); } }, "✕");
        wrap.append(el("span", { class: "sb-item" }, inp, rm));
      });
      wrap.append(el("button", { type: "button", class: "secondary small sb-list-add", "data-k": path + ":vadd",
        onclick: () => { list.push(kind === "choices" ? field.values[0] : ""); redraw(); } }, "+ value"));
      return wrap;
    }

    // durationEditor edits "90d" as a number and a unit; a text it cannot
    // read stays as typed, for the API to explain.
    function durationEditor(get, put, k) {
      const cur = get();
      const m = /^(\d+)\s*([hdwy])$/i.exec(String(cur == null ? "" : cur).trim());
      if (!m) {
        const raw = el("input", { type: "text", value: cur == null ? "" : String(cur), "aria-label": "Duration, such as 90d", "data-k": k });
        raw.addEventListener("input", () => put(raw.value));
        return raw;
      }
      const num = el("input", { type: "number", min: "1", step: "1", value: m[1], "aria-label": "How many", class: "sb-dur-n", "data-k": k + "n" });
      const unit = el("select", { "aria-label": "Unit", class: "sb-dur-unit", "data-k": k + "u" },
        [["d", "days"], ["w", "weeks"], ["h", "hours"], ["y", "years"]].map(([u, label]) => el("option", { value: u, selected: m[2].toLowerCase() === u }, label)));
      const write = () => put(num.value.trim() + unit.value);
      num.addEventListener("input", write);
      unit.addEventListener("change", write);
      return el("span", { class: "sb-duration" }, num, unit);
    }

    function campaignPicker(get, put, k) {
      const sel = el("select", { "aria-label": "Campaign", "data-k": k });
      const fill = (list) => {
        const v = get();
        sel.replaceChildren();
        if (!list.some((c) => c.id === v)) sel.append(el("option", { value: String(v || ""), selected: true }, v ? "Campaign #" + v : "Choose a campaign"));
        for (const c of list) sel.append(el("option", { value: String(c.id), selected: c.id === v }, `${c.name} (${c.status})`));
      };
      fill(campaigns || []);
      if (!campaigns) loadCampaigns().then((list) => { campaigns = list; fill(list); });
      sel.addEventListener("change", () => put(Number(sel.value) || 0));
      return sel;
    }

    // eventCountEditor edits {"n", "within" | "since_campaign", "where"}.
    function eventCountEditor(n, path) {
      if (!isObj(n.value)) n.value = { n: 1 };
      const v = n.value;
      const k = path + ":v";
      const count = numberInput(() => v.n, (x) => { v.n = x; changed(); }, { min: "0", step: "1", "aria-label": "How many times", class: "sb-count" }, k + "n");
      const when = el("select", { "aria-label": "When", class: "sb-when", "data-k": k + "when" },
        el("option", { value: "ever", selected: !("within" in v) && !("since_campaign" in v) }, "ever"),
        el("option", { value: "within", selected: "within" in v }, "in the last"),
        el("option", { value: "since", selected: "since_campaign" in v }, "since the campaign"));
      when.addEventListener("change", () => {
        delete v.within; delete v.since_campaign;
        if (when.value === "within") v.within = "30d";
        if (when.value === "since") v.since_campaign = campaigns && campaigns.length ? campaigns[0].id : 0;
        redraw();
      });
      const parts = [count, el("span", { class: "sb-unit" }, "times"), when];
      if ("within" in v) parts.push(durationEditor(() => v.within, (x) => { v.within = x; changed(); }, k + "within"));
      if ("since_campaign" in v) parts.push(campaignPicker(() => v.since_campaign, (x) => { v.since_campaign = x; changed(); }, k + "since"));
      const props = el("div", { class: "sb-where" });
      const names = isObj(v.where) ? Object.keys(v.where) : [];
      // Rows are kept here so that a row being typed keeps its place
      // even while its name is empty or repeats another.
      const rows = names.map((name) => ({ name, value: v.where[name] }));
      const writeWhere = () => {
        if (!rows.length) { delete v.where; changed(); return; }
        const w = {};
        for (const r of rows) w[r.name] = r.value;
        v.where = w;
        changed();
      };
      rows.forEach((r, i) => {
        const name = el("input", { type: "text", value: r.name, placeholder: "property", "aria-label": "Property name", class: "sb-prop-name mono", autocomplete: "off", spellcheck: "false", "data-k": `${k}p${i}n` });
        const type = typeof r.value === "number" ? "number" : typeof r.value === "boolean" ? "bool" : "text";
        const typeSel = el("select", { "aria-label": "Property type", class: "sb-prop-type", "data-k": `${k}p${i}t` },
          el("option", { value: "text", selected: type === "text" }, "text"),
          el("option", { value: "number", selected: type === "number" }, "number"),
          el("option", { value: "bool", selected: type === "bool" }, "yes/no"));
        let val;
        if (type === "bool") {
          val = el("select", { "aria-label": "Property value", class: "sb-prop-value", "data-k": `${k}p${i}v` },
            el("option", { value: "true", selected: r.value === true }, "yes"), el("option", { value: "false", selected: r.value === false }, "no"));
          val.addEventListener("change", () => { r.value = val.value === "true"; writeWhere(); });
        } else {
          val = el("input", { type: type === "number" ? "number" : "text", step: "any", value: r.value == null ? "" : String(r.value), placeholder: "value", "aria-label": "Property value", class: "sb-prop-value", dir: "auto", autocomplete: "off", "data-k": `${k}p${i}v` });
          val.addEventListener("input", () => { r.value = type === "number" ? (val.value.trim() === "" ? null : Number(val.value)) : val.value; writeWhere(); });
        }
        name.addEventListener("input", () => { r.name = name.value.trim(); writeWhere(); });
        typeSel.addEventListener("change", () => {
          r.value = typeSel.value === "bool" ? true : typeSel.value === "number" ? (Number(r.value) || 0) : (r.value == null ? "" : String(r.value));
          writeWhere(); draw();
        });
        const rm = el("button", { type: "button", class: "link", "aria-label": "Remove this property filter", "data-k": `${k}p${i}rm`, onclick: () => { rows.splice(i, 1); writeWhere(); draw(); } }, "✕");
        props.append(el("div", { class: "sb-prop" }, el("span", { class: "muted" }, "where"), name, el("span", { class: "muted" }, "="), val, typeSel, rm));
      });
      props.append(el("button", { type: "button", class: "secondary small sb-prop-add", "data-k": k + "padd",
        onclick: () => { rows.push({ name: "", value: "" }); writeWhere(); draw(); } }, "+ property filter"));
      return el("span", { class: "sb-events" }, el("span", { class: "sb-events-main" }, parts), props);
    }

    // ---- errors ----

    function showErrors(error) {
      for (const e of container.querySelectorAll(".sb-error")) { e.hidden = true; e.textContent = ""; }
      for (const e of container.querySelectorAll("[aria-invalid]")) e.removeAttribute("aria-invalid");
      for (const e of container.querySelectorAll(".sb-has-error")) e.classList.remove("sb-has-error");
      if (!error) return true;
      let path = error.path == null ? "" : String(error.path);
      if (path === "definition") path = "";
      else if (path.startsWith("definition.")) path = path.slice("definition.".length);
      let best = null;
      for (const node of container.querySelectorAll("[data-path]")) {
        const p = node.dataset.path;
        if (p === path || p === "" || path.startsWith(p + ".") || path.startsWith(p + "[")) {
          if (!best || p.length > best.dataset.path.length) best = node;
        }
      }
      if (!best || (best.dataset.path === "" && path !== "" && !/^(all|any|not|field|op|value|machines)\b/.test(path))) return false;
      const rest = path.slice(best.dataset.path.length).replace(/^\./, "");
      const slot = best.querySelector(":scope > .sb-error");
      if (slot) {
        slot.textContent = error.message;
        slot.hidden = false;
      }
      best.classList.add("sb-has-error");
      const part = rest.split(/[.[]/)[0];
      const mark = (sel) => { for (const e of best.querySelectorAll(sel)) e.setAttribute("aria-invalid", "true"); };
      if (part === "field") mark(":scope > .sb-row > .sb-field, :scope > .sb-row > .sb-event-name");
      else if (part === "op") mark(":scope > .sb-row > .sb-op");
      else if (part === "machines") mark(":scope > .sb-row > .sb-check input");
      else if (part === "value") {
        const sub = rest.slice("value".length);
        let m;
        if ((m = /^\[(\d+)\]/.exec(sub))) {
          const inputs = best.querySelectorAll(":scope > .sb-row > .sb-value input, :scope > .sb-row > .sb-value select");
          if (inputs[Number(m[1])]) inputs[Number(m[1])].setAttribute("aria-invalid", "true"); else mark(":scope > .sb-row > .sb-value input, :scope > .sb-row > .sb-value select");
        } else if (sub === ".n") mark(".sb-count");
        else if (sub.startsWith(".within")) mark(".sb-duration input, .sb-duration select");
        else if (sub.startsWith(".since_campaign")) mark(".sb-events-main select:not(.sb-when)");
        else if (sub.startsWith(".where")) mark(".sb-prop input");
        else mark(":scope > .sb-row > .sb-value input, :scope > .sb-row > .sb-value select");
      }
      return true;
    }

    return { get, set, showErrors, ready };
  }

  return { mount, loadCatalog };
})();
