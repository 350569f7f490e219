// The dashboard's "Sending now" bars follow their campaigns without a
// reload: every few seconds each one asks for its campaign's progress,
// the same small answer the campaign page's bar polls.
"use strict";

(() => {
  const rows = [...document.querySelectorAll(".sending-list li[data-campaign]")];
  if (!rows.length) return;
  // Grouped as the page prints them (2,000), not 2000.
  const count = new Intl.NumberFormat("en-US");
  async function refresh() {
    let pending = 0;
    for (const li of rows) {
      const res = await Herald.api("GET", "/campaigns/" + li.dataset.campaign + "/progress");
      if (!res.ok) continue;
      const p = res.data;
      li.querySelector(".progress").setAttribute("aria-valuenow", p.percent);
      li.querySelector(".progress > span").style.width = p.percent + "%";
      li.querySelector(".pct").textContent = p.percent + "%";
      for (const k of ["sent", "queued", "failed", "deferred"]) li.querySelector("." + k).textContent = count.format(p[k]);
      if (p.queued + p.deferred > 0) pending++;
    }
    if (pending) setTimeout(refresh, 3000);
  }
  setTimeout(refresh, 3000);
})();

// On a phone the 30-day charts are wider than the screen and scroll
// sideways; keep them at their right end, where today and the last days
// are, also after the screen turns or the window narrows.
(() => {
  const charts = document.querySelectorAll(".dash-chart .chart-scroll");
  const toLatest = () => { for (const s of charts) s.scrollLeft = s.scrollWidth; };
  toLatest();
  addEventListener("resize", toLatest);
})();
