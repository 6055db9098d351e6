// The fleet view's only script: filters the server-rendered grid and swaps in the fragments
// the server pushes over server-sent events. It renders nothing itself.
"use strict";

(function () {
  const body = document.body;
  const live = document.getElementById("live");

  function rows() {
    return document.querySelectorAll("#grid tbody tr");
  }

  function parseSelector(text) {
    return text
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.length > 0)
      .map((s) => {
        const i = s.indexOf("=");
        return i < 0 ? { key: s, value: null } : { key: s.slice(0, i).trim(), value: s.slice(i + 1).trim() };
      });
  }

  function matches(tr, search, selector, state) {
    if (state && !(" " + tr.dataset.states + " ").includes(" " + state + " ")) return false;
    const labels = tr.dataset.labels ? tr.dataset.labels.split(" ") : [];
    for (const term of selector) {
      const ok = labels.some((l) => {
        const i = l.indexOf("=");
        const k = l.slice(0, i);
        return k === term.key && (term.value === null || l.slice(i + 1) === term.value);
      });
      if (!ok) return false;
    }
    if (search) {
      const hay = (tr.dataset.host + " " + tr.dataset.labels).toLowerCase();
      if (!hay.includes(search)) return false;
    }
    return true;
  }

  function applyFilters() {
    const search = document.getElementById("search");
    if (!search) return;
    const text = search.value.trim().toLowerCase();
    const selector = parseSelector(document.getElementById("labels").value);
    const state = document.getElementById("state").value;
    let shown = 0;
    let total = 0;
    for (const tr of rows()) {
      const ok = matches(tr, text, selector, state);
      tr.hidden = !ok;
      total += 1;
      if (ok) shown += 1;
    }
    document.getElementById("shown").textContent = shown + " of " + total + " hosts shown";
    body.dataset.filtered = String(Date.now());
  }

  function bindFilters() {
    for (const id of ["search", "labels", "state"]) {
      const el = document.getElementById(id);
      if (el) el.addEventListener("input", applyFilters);
    }
    const form = document.getElementById("filters");
    if (form) form.addEventListener("submit", (e) => e.preventDefault());
    for (const li of document.querySelectorAll("#counts .count[data-state]")) {
      li.addEventListener("click", () => {
        const select = document.getElementById("state");
        select.value = select.value === li.dataset.state ? "" : li.dataset.state;
        applyFilters();
      });
    }
    applyFilters();
  }

  function replaceFrom(html, selector) {
    const doc = new DOMParser().parseFromString(html, "text/html");
    return doc.querySelector(selector) || doc.body;
  }

  async function fetchFragment(url) {
    const response = await fetch(url + (url.includes("?") ? "&" : "?") + "fragment=1", {
      cache: "no-store",
    });
    if (!response.ok) throw new Error(response.status + " " + response.statusText);
    return response.text();
  }

  async function redrawGrid() {
    const html = await fetchFragment("/");
    const keep = {};
    for (const id of ["search", "labels", "state"]) {
      const el = document.getElementById(id);
      if (el) keep[id] = el.value;
    }
    const wrap = document.getElementById("grid-wrap");
    wrap.replaceWith(replaceFrom(html, "#grid-wrap"));
    for (const [id, value] of Object.entries(keep)) document.getElementById(id).value = value;
    bindFilters();
  }

  function swapRows(data) {
    const tbody = document.querySelector("#grid tbody");
    for (const [host, html] of Object.entries(data.rows)) {
      const old = document.getElementById("host-" + host);
      if (!html) {
        if (old) old.remove();
        continue;
      }
      const tmp = document.createElement("tbody");
      tmp.innerHTML = html;
      const fresh = tmp.firstElementChild;
      if (old) old.replaceWith(fresh);
      else tbody.appendChild(fresh);
    }
    const counts = document.getElementById("counts");
    const next = replaceFrom(data.counts, "#counts");
    counts.replaceWith(next);
    bindFilters();
  }

  async function redrawDetail() {
    const main = document.getElementById("main");
    main.innerHTML = await fetchFragment(location.pathname);
  }

  function concerns(data) {
    const subject = body.dataset.subject;
    if (body.dataset.page === "host") return data.hosts.includes(subject);
    if (body.dataset.page === "configuration") {
      return data.configurations.includes(subject) || data.hosts.length > 0;
    }
    return false;
  }

  function connect() {
    const source = new EventSource("/events");
    source.addEventListener("open", () => {
      live.textContent = "live";
      live.className = "live on";
    });
    source.addEventListener("error", () => {
      live.textContent = "reconnecting";
      live.className = "live off";
    });
    source.addEventListener("grid", () => {
      if (body.dataset.page === "grid") redrawGrid().catch(console.error);
    });
    source.addEventListener("rows", (e) => {
      if (body.dataset.page === "grid") swapRows(JSON.parse(e.data));
    });
    source.addEventListener("changed", (e) => {
      if (concerns(JSON.parse(e.data))) redrawDetail().catch(console.error);
    });
  }

  bindFilters();
  // A refusal (401, 403) has nothing to keep live: reload once signed in or granted.
  if (body.dataset.page !== "refused") connect();
})();
