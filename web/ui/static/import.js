// The contact import page: the head of the chosen file goes to the preview
// API to map its columns; then the whole file is sent to the streaming
// import API, whose progress lines move the bar, and the result lists the
// rows that failed, downloadable as CSV to fix and import again.
"use strict";

(() => {
  const root = document.getElementById("import");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const { el } = Herald;
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
  const maxErrors = Number(root.dataset.maxErrors) || 1000;
  const fmt = new Intl.NumberFormat();
  let file = null;
  let preview = null;
  let ended = false; // the current import has finished or stopped

  function show(id, on) { $(id).hidden = !on; }
  function fail(id, message) {
    const p = $(id);
    p.textContent = message || "";
    p.hidden = !message;
  }

  // Step 1: read the head of the file and map its columns.
  async function chooseFile() {
    file = $("import-file").files[0] || null;
    fail("file-error", "");
    show("step-map", false);
    if (!file) return;
    if (file.size === 0) {
      fail("file-error", "This file is empty.");
      return;
    }
    let resp;
    try {
      resp = await fetch("/api/contacts/import/preview", {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf(), "Content-Type": "text/csv", "Accept": "application/json" },
        body: file.slice(0, 256 * 1024),
      });
    } catch (err) {
      fail("file-error", "Herald could not be reached. Check your connection and try again.");
      return;
    }
    const data = await resp.json().catch(() => null);
    if (!resp.ok || !data) {
      const msg = (data && data.error && data.error.message) || "Herald answered " + resp.status + ".";
      const where = data && data.error && data.error.path ? " (" + data.error.path + ")" : "";
      fail("file-error", "This file cannot be imported" + where + ": " + msg);
      return;
    }
    preview = data;
    renderMapping();
  }
  $("import-file").addEventListener("change", chooseFile);
  // A file chosen before this script ran (or kept by the browser when
  // going back to the page) is read too.
  if ($("import-file").files.length) chooseFile();

  function renderMapping() {
    $("file-name").textContent = file.name;
    const tmpl = $("field-options");
    const known = new Set([...tmpl.content.querySelectorAll("option")].map((o) => o.value));
    const body = $("mapping-rows");
    body.replaceChildren();
    preview.header.forEach((name, i) => {
      const select = el("select", { "aria-label": "Field for column " + (i + 1) + " (" + (name || "unnamed") + ")", dataset: { column: i } });
      select.append(tmpl.content.cloneNode(true));
      const suggested = preview.columns[i] || "";
      if (suggested && !known.has(suggested)) {
        // A header that names no field yet becomes a new attribute.
        select.append(el("optgroup", { label: "New attribute" },
          el("option", { value: suggested }, suggested.replace(/^attr\./, "") + " (text)")));
      }
      select.value = suggested;
      select.addEventListener("change", checkMapping);
      const samples = preview.sample.map((row) => row[i] || "").filter((v) => v.trim() !== "").slice(0, 3);
      body.append(el("tr", {},
        el("td", { dir: "auto" }, name ? el("b", {}, name) : el("span", { class: "muted" }, "(no name)"), el("div", { class: "muted" }, "column " + (i + 1))),
        el("td", { class: "samples", dir: "auto" }, samples.length ? samples.map((v) => el("span", {}, v)) : el("span", {}, "empty")),
        el("td", {}, select)));
    });
    show("step-map", true);
    checkMapping();
    $("step-map").scrollIntoView({ block: "nearest" });
  }

  // checkMapping marks a field chosen twice and a missing email column.
  function checkMapping() {
    const selects = [...$("mapping-rows").querySelectorAll("select")];
    const count = {};
    for (const s of selects) if (s.value) count[s.value] = (count[s.value] || 0) + 1;
    let message = "";
    for (const s of selects) {
      const twice = s.value && count[s.value] > 1;
      s.setAttribute("aria-invalid", twice ? "true" : "false");
      if (twice && !message) message = "Two columns import into " + s.selectedOptions[0].textContent + ": choose one, and set the other to Ignore.";
    }
    if (!message && !count.email) message = "Choose the column that holds the email address: contacts are matched by it.";
    fail("map-error", message);
    $("start-import").disabled = message !== "";
    return message === "";
  }

  $("choose-other").addEventListener("click", () => {
    $("import-file").value = "";
    file = null;
    show("step-map", false);
    $("import-file").focus();
  });

  // Step 3: send the whole file and follow the import's progress lines.
  $("start-import").addEventListener("click", () => {
    if (!file || !checkMapping()) return;
    const columns = [...$("mapping-rows").querySelectorAll("select")].map((s) => s.value);
    const existing = root.querySelector('input[name="existing"]:checked').value;
    const url = "/api/contacts/import?progress=1&existing=" + encodeURIComponent(existing) + "&columns=" + encodeURIComponent(columns.join(","));
    show("step-file", false);
    show("step-map", false);
    for (const id of ["run-error", "run-incomplete", "run-stats", "failed-rows", "run-done"]) show(id, false);
    show("keep-open", true);
    show("step-run", true);
    $("run-title").textContent = "3. Importing…";
    $("progress-text").textContent = "Starting…";
    ended = false;
    setBar(0);

    const xhr = new XMLHttpRequest();
    let seen = 0;
    let uploaded = 0;
    let last = null;
    const readLines = () => {
      const text = xhr.responseText;
      let nl;
      while ((nl = text.indexOf("\n", seen)) >= 0) {
        const line = text.slice(seen, nl);
        seen = nl + 1;
        if (line.trim() === "") continue;
        let msg;
        try { msg = JSON.parse(line); } catch (e) { continue; }
        if (msg.progress) {
          last = msg.progress;
          const pct = Math.min(99, 100 * msg.progress.bytes / file.size);
          setBar(pct);
          $("progress-text").textContent = Math.floor(pct) + "% · " + fmt.format(msg.progress.rows) + " rows read: " + summary(msg.progress);
        } else if (msg.result) {
          finish(msg.result);
        } else if (msg.error) {
          stopped(msg.error, last === null);
        }
      }
    };
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRF-Token", csrf());
    xhr.setRequestHeader("Content-Type", "text/csv");
    xhr.upload.addEventListener("progress", (e) => {
      uploaded = e.loaded;
      if (!last) $("progress-text").textContent = "Uploading… " + Math.floor(100 * uploaded / file.size) + "%";
    });
    xhr.addEventListener("progress", readLines);
    xhr.addEventListener("load", () => {
      if (xhr.status !== 200) {
        let err = null;
        try { err = JSON.parse(xhr.responseText).error; } catch (e) { /* not JSON */ }
        stopped(err || { message: xhr.status === 401 ? "Your session ended. Log in again and import the file again." : "Herald answered " + xhr.status + "." }, xhr.status === 400);
        return;
      }
      readLines();
      if (!ended) stopped({ message: "The import's answer ended early. Contacts read so far are stored: check the contact list before importing the file again." });
    });
    xhr.addEventListener("error", () => stopped({ message: "The connection to Herald was lost during the import. Contacts read so far are stored: check the contact list before importing the file again." }));
    xhr.send(file);
  });

  function setBar(pct) {
    const bar = $("import-progress");
    bar.firstElementChild.style.width = pct.toFixed(1) + "%";
    bar.setAttribute("aria-valuenow", String(Math.round(pct)));
  }

  function summary(p) {
    return [fmt.format(p.created) + " created", fmt.format(p.updated) + " updated", p.skipped ? fmt.format(p.skipped) + " left as they were" : null, fmt.format(p.failed) + " failed"].filter(Boolean).join(", ");
  }

  // stopped shows why an import ended early. When Herald refused the file
  // or the mapping before storing anything, the mapping comes back as it
  // was chosen, with the reason, to be corrected.
  function stopped(err, refused) {
    if (ended) return;
    ended = true;
    const where = err.path ? " (" + err.path + ")" : "";
    if (refused) {
      show("step-run", false);
      show("step-file", true);
      show("step-map", true);
      fail("map-error", "Herald refused this import" + where + ": " + err.message);
      return;
    }
    show("keep-open", false);
    $("run-title").textContent = "3. Import stopped";
    fail("run-error", "The import did not finish" + where + ": " + err.message);
    show("run-done", true);
  }

  function finish(res) {
    if (ended) return;
    ended = true;
    show("keep-open", false);
    setBar(100);
    $("run-title").textContent = "3. Import finished";
    $("progress-text").textContent = fmt.format(res.rows) + " rows read: " + summary(res) + ".";
    $("n-created").textContent = fmt.format(res.created);
    $("n-updated").textContent = fmt.format(res.updated);
    $("n-skipped").textContent = fmt.format(res.skipped);
    $("n-failed").textContent = fmt.format(res.failed);
    $("n-skipped").parentElement.hidden = res.skipped === 0;
    show("run-stats", true);
    if (res.incomplete) fail("run-incomplete", "The file was not read to its end: " + res.incomplete + ".");
    if (res.failed > 0) showFailed(res);
    show("run-done", true);
  }

  function showFailed(res) {
    const rows = res.errors || [];
    const listed = rows.length < res.failed
      ? "The first " + fmt.format(rows.length) + " of " + fmt.format(res.failed) + " failed rows are listed (Herald keeps " + fmt.format(maxErrors) + "). "
      : "";
    $("failed-note").textContent = listed + "The download keeps the file's own columns after the line and the reason: fix the rows, and set line and reason to Ignore when you import it again.";
    $("failed-body").replaceChildren(...rows.map((e) => el("tr", {},
      el("td", { class: "num" }, String(e.line)),
      el("td", { class: "mono" }, e.column || "—"),
      el("td", { dir: "auto" }, e.message),
      el("td", { class: "row-cells", dir: "auto" }, (e.record || []).join(", ") || "—"))));
    $("download-failed").onclick = () => download(res);
    show("failed-rows", true);
  }

  // download saves the failed rows as CSV: line and reason, then the
  // file's own columns, so the rows can be fixed and imported again.
  function download(res) {
    const cell = (v) => /[",\r\n]/.test(v) || /^\s|\s$/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v;
    const lines = [["line", "reason", ...res.header].map(cell).join(",")];
    for (const e of res.errors) {
      const reason = (e.column ? e.column + ": " : "") + e.message;
      lines.push([String(e.line), reason, ...(e.record || [])].map(cell).join(","));
    }
    const blob = new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
    const a = el("a", { href: URL.createObjectURL(blob), download: file.name.replace(/\.[^.]*$/, "") + "-failed-rows.csv" });
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }
})();
