// The board follows what this agent must see: it asks every second, and the server answers
// 304 while nothing changed (no reload, no connection held open on the server).
(function () {
  const table = document.getElementById("queues");
  if (!table) return;
  const pop = document.getElementById("pop");
  const presences = document.querySelectorAll("button[name=presence]");
  let etag = null;
  let state = null;
  let skew = 0; // server clock minus browser clock, in ms

  function clock(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    const minutes = Math.floor(seconds / 60);
    const rest = String(seconds % 60).padStart(2, "0");
    return minutes >= 60
      ? Math.floor(minutes / 60) + ":" + String(minutes % 60).padStart(2, "0") + ":" + rest
      : minutes + ":" + rest;
  }
  function since(iso) {
    return iso ? (Date.now() + skew - Date.parse(iso)) / 1000 : 0;
  }
  function field(name) {
    return pop.querySelector(".pop-" + name);
  }
  function list(name, items, build) {
    const ul = field(name);
    ul.replaceChildren();
    for (const item of items) {
      const li = document.createElement("li");
      build(li, item);
      ul.appendChild(li);
    }
    if (!items.length) {
      const li = document.createElement("li");
      li.textContent = pop.dataset.none;
      ul.appendChild(li);
    }
  }
  function link(parent, text, url) {
    const a = document.createElement("a");
    a.href = url;
    a.textContent = text;
    parent.appendChild(a);
  }

  function drawPop(data) {
    if (!data) {
      pop.hidden = true;
      pop.removeAttribute("data-entry");
      return;
    }
    pop.dataset.entry = data.entry_id;
    pop.dataset.state = data.state;
    pop.classList.toggle("bridged", data.state === "bridged");
    pop.classList.toggle("dialing", data.state === "dialing");
    pop.querySelector(".pop-title").textContent = pop.dataset[data.state] || "";
    field("number").textContent = data.number || pop.dataset.none;
    field("language").textContent = data.language;
    field("topic").textContent = data.topic;
    field("path").textContent = data.path || pop.dataset.none;
    field("rating").textContent = data.rating === null ? pop.dataset.none : data.rating + " / 5";
    list("orders", data.orders, (li, o) => (li.textContent = o.number + ": " + o.status));
    list("earlier", data.earlier, (li, c) => {
      link(li, c.when, c.url);
      li.append(" " + c.outcome + (c.rating === null ? "" : " · " + c.rating + " / 5"));
    });
    list("links", data.links, (li, l) => link(li, l.label, l.url));
    pop.querySelector(".pop-call").href = data.call_url;
    pop.hidden = false;
  }

  function tick() {
    if (!state) return;
    for (const q of state.queues) {
      const row = table.querySelector(`tr[data-queue="${q.queue}"]`);
      if (row) row.querySelector(".longest").textContent = clock(since(q.oldest_at));
    }
    document.getElementById("presence-for").textContent = clock(since(state.presence_at));
    const wrapup = document.getElementById("wrapup-timer");
    wrapup.hidden = !state.wrapup_until || since(state.wrapup_until) >= 0;
    if (!wrapup.hidden) {
      document.getElementById("wrapup-left").textContent = clock(-since(state.wrapup_until));
    }
    const p = state.pop;
    if (p) {
      const talking = p.bridged_at !== null;
      field("waited").textContent = clock(talking ? p.waited : since(p.entered_at));
      field("talk").hidden = pop.querySelector(".pop-talk-label").hidden = !talking;
      if (talking) field("talk").textContent = clock(since(p.bridged_at));
    }
  }

  function draw(data) {
    state = data;
    for (const q of data.queues) {
      const row = table.querySelector(`tr[data-queue="${q.queue}"]`);
      if (!row) continue;
      row.querySelector(".waiting").textContent = q.waiting;
      row.querySelector(".callbacks").textContent = q.callbacks_waiting;
      row.querySelector(".available").textContent = q.agents_available;
      row.querySelector(".signed").textContent = q.agents_signed_in;
      row.classList.toggle("busy", q.waiting > 0 && q.agents_available === 0);
    }
    for (const button of presences) button.classList.toggle("on", button.value === data.presence);
    drawPop(data.pop);
    document.dispatchEvent(new CustomEvent("hotline:pop", { detail: data.pop })); // notices.js
  }

  let refreshing = false;
  async function refresh() {
    // One request at a time: a slow reply coming after a newer one would draw the past.
    if (refreshing) return;
    refreshing = true;
    try {
      const headers = { Accept: "application/json" };
      if (etag) headers["If-None-Match"] = etag;
      const reply = await fetch("/board/live.json", { headers, cache: "no-store" });
      const served = parseFloat(reply.headers.get("X-Server-Time"));
      if (!Number.isNaN(served)) skew = served * 1000 - Date.now();
      if (reply.status === 200) {
        etag = reply.headers.get("ETag");
        draw(await reply.json());
      }
    } catch (error) {
      // A dropped connection is retried on the next tick.
    } finally {
      refreshing = false;
    }
    tick();
  }
  // Everyone's presence (the agents table) changes less often: every few seconds is enough.
  async function refreshAgents() {
    try {
      const reply = await fetch("/board.json", { headers: { Accept: "application/json" } });
      if (!reply.ok) return;
      const data = await reply.json();
      for (const a of data.agents || []) {
        const shown = document.querySelector(
          `#agents tr[data-agent="${CSS.escape(a.name)}"] .presence-now`,
        );
        if (!shown) continue;
        shown.textContent = a.text;
        shown.dataset.presence = a.presence;
        shown.dataset.reason = a.reason;
      }
    } catch (error) {
      // A dropped connection is retried on the next tick.
    }
  }
  refresh();
  setInterval(refresh, window.BOARD_REFRESH_MS || 1000);
  if (document.getElementById("agents")) setInterval(refreshAgents, window.AGENTS_REFRESH_MS || (window.BOARD_REFRESH_MS || 1000) * 5);
})();
