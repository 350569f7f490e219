// Herald's shared page helpers: the JSON API with the session's CSRF
// token, confirmation dialogs for destructive forms, and times shown in the
// reader's own time zone. Pages work without it where they can; the
// segment builder and the import page need it.
"use strict";

const Herald = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  // api calls the JSON API and never throws for HTTP errors: it resolves
  // to {ok, status, data, error} where error is the API's {message, path}.
  async function api(method, url, body, opts = {}) {
    const headers = { "X-CSRF-Token": csrf(), "Accept": "application/json" };
    let payload;
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(url, { method, headers, body: payload, credentials: "same-origin", signal: opts.signal });
    } catch (e) {
      if (e.name === "AbortError") throw e;
      return { ok: false, status: 0, data: null, error: { message: "Herald could not be reached. Check your connection and try again." } };
    }
    let data = null;
    const text = await resp.text();
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (resp.status === 401) {
      return { ok: false, status: 401, data, error: { message: "Your session ended. Log in again (your changes on this page are kept until you leave it)." } };
    }
    const error = resp.ok ? null : (data && data.error) || { message: "Herald answered " + resp.status + "." };
    return { ok: resp.ok, status: resp.status, data, error };
  }

  function debounce(fn, ms) {
    let t;
    return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
  }

  // el builds an element: el("a", {href: "/x", class: "y"}, "text", child).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(e.dataset, v);
      else if (v === true) e.setAttribute(k, "");
      else e.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // confirmDialog shows a modal with message and resolves to true on OK.
  function confirmDialog(message, okLabel) {
    const d = document.getElementById("confirm-dialog");
    if (!d || typeof d.showModal !== "function") return Promise.resolve(window.confirm(message));
    d.querySelector(".confirm-message").textContent = message;
    const ok = d.querySelector(".confirm-ok");
    ok.textContent = okLabel || "OK";
    ok.className = "confirm-ok" + (okLabel && /delete|remove|unsubscribe/i.test(okLabel) ? " danger" : "");
    d.returnValue = "";
    return new Promise((resolve) => {
      d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
      d.showModal();
    });
  }

  const fmtDateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const fmtDate = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

  function localTimes(root) {
    for (const t of root.querySelectorAll("time[data-local]")) {
      const d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) continue;
      t.title = t.getAttribute("datetime");
      t.textContent = t.dataset.local === "date" ? fmtDate.format(d) : fmtDateTime.format(d);
    }
  }

  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm || form.dataset.confirmed) return;
    ev.preventDefault();
    const submitter = ev.submitter;
    if (await confirmDialog(form.dataset.confirm, form.dataset.confirmOk)) {
      form.dataset.confirmed = "1";
      form.requestSubmit(submitter || undefined);
      delete form.dataset.confirmed;
    }
  });

  document.addEventListener("DOMContentLoaded", () => localTimes(document));

  return { api, debounce, el, confirmDialog, localTimes, fmtDateTime, fmtDate };
})();
