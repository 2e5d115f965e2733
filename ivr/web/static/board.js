// The board refreshes itself every few seconds (no reload, no server push needed).
(function () {
  const table = document.getElementById("queues");
  if (!table) return;
  function clock(seconds) {
    return Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
  }
  async function refresh() {
    try {
      const reply = await fetch("/board.json", { headers: { Accept: "application/json" } });
      if (!reply.ok) return;
      const data = await reply.json();
      for (const q of data.queues) {
        const row = table.querySelector(`tr[data-queue="${q.queue}"]`);
        if (!row) continue;
        row.querySelector(".waiting").textContent = q.waiting;
        row.querySelector(".longest").textContent = clock(q.longest_wait);
        row.querySelector(".callbacks").textContent = q.callbacks_waiting;
        row.querySelector(".available").textContent = q.agents_available;
        row.querySelector(".signed").textContent = q.agents_signed_in;
        row.classList.toggle("busy", q.waiting > 0 && q.agents_available === 0);
      }
      for (const a of data.agents || []) {
        const shown = document.querySelector(`#agents tr[data-agent="${CSS.escape(a.name)}"] .presence-now`);
        if (!shown) continue;
        shown.textContent = a.text;
        shown.dataset.presence = a.presence;
        shown.dataset.reason = a.reason;
      }
    } catch (error) {
      // A dropped connection is retried on the next tick.
    }
  }
  setInterval(refresh, window.BOARD_REFRESH_MS || 5000);
})();
