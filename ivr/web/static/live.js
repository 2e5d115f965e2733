// The supervisors' live page redraws its two tables from /live.json about once a second.
(function () {
  const root = document.getElementById("live");
  if (!root) return;
  const choices = JSON.parse(root.dataset.choices);
  const csrf = root.dataset.csrf;
  function clock(seconds) {
    if (seconds === null || seconds === undefined) return "";
    return Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
  }
  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    return node;
  }
  function form(action, cls) {
    const node = el("form", null, { method: "post", action: action });
    if (cls) node.className = cls;
    node.append(el("input", null, { type: "hidden", name: "csrf_token", value: csrf }));
    return node;
  }
  function buttons(node, name, pairs, current) {
    for (const [value, text] of pairs) {
      const button = el("button", text, { type: "submit", name: name, value: value });
      if (value === current) button.className = "on";
      node.append(button);
    }
    return node;
  }
  function agentRow(a) {
    const row = el("tr", null, { "data-agent": a.id });
    let presence = a.presence_label;
    if (a.wrapup) presence += " · " + choices.wrapup.replace("{n}", a.wrapup);
    row.append(el("td", a.name), el("td", presence, { class: "presence-now" }),
               el("td", clock(a.for), { class: "since" }));
    const call = el("td", null, { class: "call" });
    if (a.call) {
      const c = a.call;
      call.append(document.createTextNode(
        `${c.state_label} ${clock(c.for)} · ${c.caller} · ${c.queue_label}`));
      for (const on of c.supervisors) call.append(el("span", `${on.name}: ${on.mode_label}`, { class: "kv" }));
      if (c.state === "talking") {
        const url = root.dataset.join.replace("/0/", `/${c.entry}/`);
        call.append(buttons(form(url, "presence"), "mode", choices.modes));
      }
    }
    const set = el("td");
    set.append(buttons(form(root.dataset.set.replace("/0/", `/${a.id}/`), "presence"),
                       "presence", choices.presences, a.presence));
    row.append(call, set);
    return row;
  }
  function waitingRow(w) {
    const row = el("tr", null, { "data-entry": w.entry });
    const who = el("td");
    who.append(el("a", w.caller, { href: root.dataset.call.replace("SID", encodeURIComponent(w.sid)) }));
    if (w.state !== "waiting") who.append(" ", el("span", w.state_label, { class: "kv" }));
    const move = form(root.dataset.move.replace("/0/", `/${w.entry}/`));
    const select = el("select", null, { name: "node" });
    for (const [node, text] of choices.nodes) select.append(el("option", text, { value: node }));
    move.append(select, el("button", choices.move, { type: "submit" }));
    const cell = el("td");
    cell.append(move);
    row.append(who, el("td", w.queue_label), el("td", w.topic_name), el("td", w.language_name),
               el("td", clock(w.waited), { class: "waited" }),
               el("td", w.position, { class: "position" }), cell);
    return row;
  }
  function busy(table) {
    // A supervisor choosing in a form keeps it: the table is redrawn once they are done.
    return table.contains(document.activeElement) && document.activeElement.tagName === "SELECT";
  }
  async function refresh() {
    try {
      const reply = await fetch(root.dataset.url, { headers: { Accept: "application/json" } });
      if (!reply.ok) return;
      const data = await reply.json();
      const agents = document.querySelector("#live-agents tbody");
      const waiting = document.querySelector("#live-waiting tbody");
      if (!busy(agents)) agents.replaceChildren(...data.agents.map(agentRow));
      if (!busy(waiting)) waiting.replaceChildren(...data.waiting.map(waitingRow));
      document.getElementById("live-empty").hidden = data.waiting.length > 0;
    } catch (error) {
      // A dropped connection is retried on the next tick.
    }
  }
  setInterval(refresh, Number(root.dataset.refresh) || 1000);
})();
