// The campaign page: the send confirmation that states the audience, the
// schedule typed in the reader's own time zone, and the delivery progress
// refreshed without a reload while the campaign sends.
"use strict";

(() => {
  const ids = (s) => (s || "").split(",").filter(Boolean).map(Number);
  const count = new Intl.NumberFormat("en-US");

  function sendPanel(form) {
    const zone = document.getElementById("send-zone");
    try {
      const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (tz && zone) zone.textContent = "in your time zone (" + tz + ")";
    } catch (e) { /* keep the generic words */ }
    const local = form.elements.local_at;
    const localAt = document.getElementById("local-at");
    const localFields = localAt ? localAt.querySelectorAll("input, select") : [];
    const when = () => form.querySelector('input[name="when"]:checked')?.value || "now";
    const sync = () => {
      local.disabled = when() !== "schedule";
      for (const f of localFields) f.disabled = when() !== "local";
      if (localAt) localAt.classList.toggle("off", when() !== "local");
    };
    form.addEventListener("change", sync);
    local.disabled = false;
    const pad = (n) => String(n).padStart(2, "0");
    const localValue = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
    if (!local.value && form.dataset.scheduled) {
      // A scheduled campaign offers its time, in the reader's zone.
      const d = new Date(form.dataset.scheduled);
      if (!isNaN(d)) {
        local.value = localValue(d);
        form.querySelector('input[name="when"][value="schedule"]').checked = true;
      }
    }
    if (!local.value) {
      // An hour from now, on the hour, in the reader's zone.
      const d = new Date(Date.now() + 3600e3);
      d.setMinutes(0, 0, 0);
      local.value = localValue(d);
    }
    sync();

    let confirmed = false;
    form.addEventListener("submit", async (ev) => {
      if (confirmed) return;
      ev.preventDefault();
      const button = form.querySelector("#send-button");
      const note = document.getElementById("send-note");
      let at = null;
      form.elements.scheduled_at.value = "";
      if (when() === "local" && (!form.elements.local_time.value || !form.elements.local_date.value)) {
        note.textContent = "Choose the hour and the day to send at."; note.className = "alert"; return;
      }
      if (when() === "schedule") {
        // datetime-local is read in the browser's zone: new Date() of it
        // is that moment, sent to Herald in UTC.
        const d = local.value ? new Date(local.value) : null;
        if (!d || isNaN(d)) { note.textContent = "Choose the date and time to send it at."; note.className = "alert"; return; }
        if (d <= new Date()) { note.textContent = "That time has passed; choose a later one, or send it now."; note.className = "alert"; return; }
        at = d;
        form.elements.scheduled_at.value = d.toISOString().replace(/\.\d{3}Z$/, "Z");
      }
      button.disabled = true;
      // A follow-up's audience is the original's non-openers, not segments.
      const followUp = form.dataset.resendOf;
      const r = await Herald.api("POST", "/api/campaigns/audience", followUp
        ? { resend_of: Number(followUp), exclude_segment_ids: ids(form.dataset.exclude) }
        : { segment_ids: ids(form.dataset.segments), exclude_segment_ids: ids(form.dataset.exclude) });
      button.disabled = false;
      if (!r.ok) { note.textContent = r.error.message; note.className = "alert"; return; }
      const n = r.data.count;
      if (n === 0) {
        note.textContent = followUp
          ? "No one is in this follow-up's audience now: everyone the original reached has opened it, unsubscribed or bounced."
          : "No one is in this campaign's audience now: its segments hold no subscribed contact. Edit the campaign to choose other segments.";
        note.className = "alert";
        return;
      }
      const who = count.format(n) + (n === 1 ? " contact" : " contacts");
      // An A/B test sends to its share first and the rest only when a
      // winner is picked: the count is not who gets it at once.
      const ab = form.dataset, hours = Number(ab.abHours);
      const abNote = ab.abPercent
        ? ` It is an A/B test: ${ab.abPercent}% of them get one of the ${ab.abVariants} variants first, and the rest get the winner ${hours === 1 ? "an hour" : hours + " hours"} later, or when you pick it.`
        : "";
      let msg = at
        ? `Schedule “${form.dataset.name}” for ${Herald.fmtDateTime.format(at)}? It would go to ${who} now; ${followUp ? "those who have not opened the original are" : "the segments are"} counted again when it starts.${abNote}`
        : `Send “${form.dataset.name}” now to ${who}?${abNote} This cannot be undone once messages go out.`;
      if (when() === "local") {
        const e = form.elements;
        const passed = e.missed.value === "now" ? "get it at once" : "get it the next day at that hour";
        msg = `Send “${form.dataset.name}” to ${who} at ${e.local_time.value} on ${e.local_date.value} in each contact's own time zone? Those whose ${e.local_time.value} has already passed ${passed}.${abNote}`;
      }
      if (await Herald.confirmDialog(msg, at ? "Schedule" : "Send to " + who)) {
        confirmed = true;
        form.requestSubmit();
      }
    });
  }

  function delivery(card) {
    const url = card.dataset.progressUrl;
    let status = card.dataset.status;
    if (status !== "sending" && status !== "paused" && status !== "scheduled") return;
    const bar = card.querySelector(".progress");
    const set = (k, v) => { for (const e of card.querySelectorAll(`[data-p="${k}"]`)) e.textContent = v; };
    let failures = 0;
    async function poll() {
      const r = await Herald.api("GET", url);
      // No data: the session ended and the answer is the login page.
      if (!r.ok || !r.data || typeof r.data.percent !== "number") {
        failures++;
        setTimeout(poll, Math.min(30000, 1500 * 2 ** failures));
        return;
      }
      failures = 0;
      const p = r.data;
      bar.setAttribute("aria-valuenow", p.percent);
      bar.firstElementChild.style.width = p.percent + "%";
      set("percent", p.percent + "%");
      for (const k of ["done", "total", "queued", "sent", "failed", "deferred", "waiting", "held", "unknown"]) set(k, count.format(p[k]));
      set("rate", p.rate);
      const preparing = document.getElementById("preparing");
      if (preparing && p.total > 0) preparing.hidden = true;
      set("eta", p.eta);
      card.querySelector('[data-p="eta-wrap"]').hidden = !p.eta;
      // Nothing queued is nothing sending: the rest waits for an A/B
      // winner or a local hour, and a rate would say otherwise.
      card.querySelector(".rate").hidden = p.status !== "sending" || !p.queued;
      // A page drawn before the test share went out has no pick buttons;
      // once the test is under way it has them and the variants' figures
      // to show (once per page, whatever the answer). Held recipients
      // alone do not say so: the launch writes everyone held before it
      // picks the share.
      const abKey = "herald-ab-shown:" + url;
      if (p.ab_testing && !document.querySelector("#ab-test .ab-pick") && !sessionStorage.getItem(abKey)) {
        sessionStorage.setItem(abKey, "1");
        location.reload();
        return;
      }
      if (p.status !== status) {
        // Sent, paused elsewhere, cancelled: the page's buttons and
        // report change with it.
        status = p.status;
        location.reload();
        return;
      }
      setTimeout(poll, status === "sending" ? 1000 : 5000);
    }
    setTimeout(poll, 1000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("send-form");
    if (form) sendPanel(form);
    const card = document.getElementById("delivery");
    if (card) delivery(card);
  });
})();
