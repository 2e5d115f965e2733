// New messages appear without a reload: the list is fetched again every 10 seconds and its rows
// replaced when they changed (filters stay as they are in the address).
(function () {
  const body = document.querySelector("table.inbox:not(.conversations-found) tbody");
  if (!body) return;
  async function refresh() {
    try {
      const reply = await fetch(window.location.href, { headers: { Accept: "text/html" } });
      if (!reply.ok) return;
      const page = new DOMParser().parseFromString(await reply.text(), "text/html");
      const fresh = page.querySelector("table.inbox:not(.conversations-found) tbody");
      if (fresh && fresh.innerHTML !== body.innerHTML) body.innerHTML = fresh.innerHTML;
    } catch (error) {
      // Offline for a moment: try again on the next tick.
    }
  }
  setInterval(refresh, window.INBOX_REFRESH_MS || 10000);
})();
