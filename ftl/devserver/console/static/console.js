// The console's live parts and the verb form. Plain JavaScript, no dependencies.
"use strict";

(() => {
  const badge = document.getElementById("live-badge");
  let openStreams = 0;

  function setLive(delta) {
    openStreams += delta;
    if (!badge) return;
    badge.hidden = false;
    badge.textContent = openStreams > 0 ? "live" : "reconnecting…";
    badge.classList.toggle("is-down", openStreams <= 0);
  }

  // A server-sent event stream that keeps the badge honest and reconnects by itself. When the
  // page fell behind, the server dropped events and says so with a "resync" event: `onResync`
  // gets `{skipped, first_id, last_id}` and a `reconnect(url)` to fetch again from where it was.
  function follow(url, onEvent, onResync) {
    let source = null;
    let open = false;
    function connect(target) {
      if (source) source.close();
      source = new EventSource(target);
      source.onopen = () => { if (!open) { open = true; setLive(+1); } };
      source.onerror = () => { if (open) { open = false; setLive(-1); } };
      source.onmessage = (message) => onEvent(JSON.parse(message.data));
      source.addEventListener("resync", (message) => onResync(JSON.parse(message.data), connect));
    }
    connect(url);
    window.addEventListener("pagehide", () => source.close());
  }

  // Tables that receive rendered rows: newest first, at most data-max-rows of them. Rows arriving
  // in a burst are inserted once per frame, so thousands of events never freeze the page.
  function followRows(box) {
    const body = box.querySelector("tbody");
    const empty = box.querySelector(".empty");
    const older = box.querySelector("#older-link");
    const max = Number(box.dataset.maxRows) || 500;
    let pending = [];

    function flush() {
      const batch = pending.slice(-max).sort((a, b) => b.id - a.id);
      pending = [];
      const newest = body.rows.length ? Number(body.rows[0].dataset.id) : 0;
      const fragment = document.createDocumentFragment();
      const seen = new Set();  // a replay after a resync may repeat an event in the same batch
      for (const { id, html } of batch) {
        if (seen.has(id) || (id <= newest && body.querySelector(`tr[data-id="${id}"]`))) continue;
        seen.add(id);
        const template = document.createElement("template");
        template.innerHTML = html.trim();
        const row = template.content.firstElementChild;
        row.classList.add("is-new");
        if (id > newest) {
          fragment.appendChild(row);
        } else {  // late and out of order: find its place
          const next = Array.from(body.rows).find((r) => Number(r.dataset.id) < id) || null;
          body.insertBefore(row, next);
        }
      }
      body.insertBefore(fragment, body.firstChild);
      if (body.rows.length > max) {
        while (body.rows.length > max) body.deleteRow(-1);
        if (older) {
          const url = new URL(older.href);
          url.searchParams.set("before_id", body.rows[body.rows.length - 1].dataset.id);
          older.href = url.toString();
        }
      }
      if (empty && body.rows.length) empty.hidden = true;
    }

    // The newest id this table has (shown or about to be).
    function newestId() {
      const shown = body.rows.length ? Number(body.rows[0].dataset.id) : 0;
      return pending.reduce((newest, event) => Math.max(newest, event.id), shown);
    }

    follow(box.dataset.liveRows, (event) => {
      // A hidden tab gets no frames: keep only what one flush would show.
      if (pending.length >= 2 * max) pending = pending.slice(-max);
      if (pending.push(event) === 1) requestAnimationFrame(flush);
    }, (resync, reconnect) => {
      // Events were dropped: ask again for everything after the newest one we have.
      const url = new URL(box.dataset.liveRows, window.location.href);
      url.searchParams.set("after", String(newestId()));
      reconnect(url.toString());
    });
  }

  // Boxes re-fetched (debounced) whenever a matching event arrives.
  function followRefresh(box) {
    let pending = null;
    async function refresh() {
      pending = null;
      const response = await fetch(box.dataset.refresh, { headers: { Accept: "text/html" } });
      if (!response.ok) return;
      const open = new Set(Array.from(box.querySelectorAll("details[open]"), (d) => d.closest("[data-id]")?.dataset.id));
      box.innerHTML = await response.text();
      for (const details of box.querySelectorAll("details")) {
        if (open.has(details.closest("[data-id]")?.dataset.id)) details.open = true;
      }
    }
    function schedule() {
      if (pending === null) pending = setTimeout(() => refresh().catch(() => {}), 150);
    }
    // The box is fetched whole, so events dropped by the stream come back with the next refresh.
    follow(box.dataset.live, schedule, schedule);
  }

  // The verb form: POST /api/call, then show the answer or the error.
  function callForm(form) {
    const input = form.querySelector("textarea");
    const button = form.querySelector("#call-button");
    const reset = form.querySelector("#call-reset");
    const result = document.getElementById("call-result");
    const status = document.getElementById("call-status");
    const elapsed = document.getElementById("call-elapsed");
    const output = document.getElementById("call-output");
    const trace = document.getElementById("call-trace");

    function show(ok, label, text, requestId, ms) {
      result.hidden = false;
      result.classList.toggle("is-error", !ok);
      status.textContent = label;
      status.className = ok ? "status ok" : "status error";
      output.textContent = text;
      elapsed.textContent = ms === null ? "" : `${ms.toFixed(1)} ms`;
      trace.hidden = !requestId;
      if (requestId) {
        trace.href = `/trace/${encodeURIComponent(requestId)}`;
        trace.textContent = `trace ${requestId} →`;
      }
    }

    reset.addEventListener("click", () => { input.value = reset.dataset.sample; input.focus(); });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      let body;
      try {
        body = input.value.trim() ? JSON.parse(input.value) : {};
      } catch (problem) {
        show(false, "invalid JSON", `The request is not valid JSON: ${problem.message}`, "", null);
        return;
      }
      button.disabled = true;
      const started = performance.now();
      try {
        const response = await fetch("/api/call?errors=inline", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ verb: form.dataset.verb, body }),
        });
        const ms = performance.now() - started;
        const payload = await response.json();
        if (response.ok && !payload.error) {
          show(true, "ok", JSON.stringify(payload.body, null, 2), payload.request_id, ms);
        } else {
          const error = payload.error || { kind: "error", message: response.statusText };
          let text = error.message;
          if (error.suggestions && error.suggestions.length) text += `\n\nDid you mean: ${error.suggestions.join(", ")}?`;
          show(false, `${error.status || response.status} ${error.kind}`, text, payload.request_id, ms);
        }
      } catch (problem) {
        show(false, "unreachable", `The admin API did not answer: ${problem.message}`, "", null);
      } finally {
        button.disabled = false;
      }
    });
  }

  for (const box of document.querySelectorAll("[data-live-rows]")) followRows(box);
  for (const box of document.querySelectorAll("[data-live]")) followRefresh(box);
  const form = document.getElementById("call-form");
  if (form) callForm(form);

  // A click anywhere on an event row opens its request's trace.
  document.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-href]");
    if (!row || event.target.closest("a, button, input, select, textarea")) return;
    if (window.getSelection().toString()) return;  // selecting text is not a click
    window.location.href = row.dataset.href;
  });

  // Filters apply as soon as a select changes.
  const filters = document.getElementById("timeline-filters");
  if (filters) {
    for (const select of filters.querySelectorAll("select")) {
      select.addEventListener("change", () => filters.requestSubmit());
    }
  }
})();
