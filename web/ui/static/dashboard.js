// The dashboard's "Sending now" bars follow their campaigns without a
// reload: every few seconds each one asks for its campaign's stats.
"use strict";

(() => {
  const rows = [...document.querySelectorAll(".sending-list li[data-campaign]")];
  if (!rows.length) return;
  async function refresh() {
    let pending = 0;
    for (const li of rows) {
      const res = await Herald.api("GET", "/api/campaigns/" + li.dataset.campaign + "/stats");
      if (!res.ok) continue;
      const st = res.data;
      const total = Math.max(Number(li.dataset.total) || 0, st.total);
      const left = st.queued + st.in_flight + st.deferred;
      const pct = total > 0 ? Math.floor((st.total - left) / total * 100) : 0;
      li.querySelector(".progress").setAttribute("aria-valuenow", pct);
      li.querySelector(".progress > span").style.width = pct + "%";
      li.querySelector(".pct").textContent = pct + "%";
      for (const k of ["sent", "queued", "failed", "deferred"]) li.querySelector("." + k).textContent = st[k];
      if (left > 0) pending++;
    }
    if (pending) setTimeout(refresh, 3000);
  }
  setTimeout(refresh, 3000);
})();
