// After a conversation the board shows the wrap-up form: when the call to wrap up changes, the
// form is fetched from the board and put in its place (the page is not reloaded), unless the
// agent is typing in a form.
(function () {
  const slot = document.getElementById("wrapup-slot");
  if (!slot) return;
  function shown() {
    const form = document.getElementById("wrapup");
    return form ? form.dataset.call : "";
  }
  function typing() {
    return Boolean(document.activeElement && document.activeElement.form);
  }
  let checking = false;
  async function check() {
    // One check at a time: a slow one finishing late must not replace a form filled meanwhile.
    if (checking) return;
    checking = true;
    try {
      const reply = await fetch("/board/wrapup.json", { headers: { Accept: "application/json" } });
      if (!reply.ok) return;
      const data = await reply.json();
      if ((data.call || "") === shown() || typing()) return;
      const page = await fetch("/board", { headers: { Accept: "text/html" } });
      if (!page.ok) return;
      const fresh = new DOMParser().parseFromString(await page.text(), "text/html");
      const replacement = fresh.getElementById("wrapup-slot");
      const form = fresh.getElementById("wrapup");
      // Looked at again now: the agent may have started typing while the board came.
      if (!replacement || typing() || (form ? form.dataset.call : "") === shown()) return;
      slot.replaceChildren(...replacement.childNodes);
    } catch (error) {
      // A dropped connection is retried on the next tick.
    } finally {
      checking = false;
    }
  }
  setInterval(check, window.BOARD_REFRESH_MS || 5000);
})();
