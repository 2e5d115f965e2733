// After a conversation the board shows the wrap-up form: it reloads once the call to wrap up
// changes, unless the agent is typing in a form.
(function () {
  const shown = (document.getElementById("wrapup") || {}).dataset || {};
  async function check() {
    try {
      const reply = await fetch("/board/wrapup.json", { headers: { Accept: "application/json" } });
      if (!reply.ok) return;
      const data = await reply.json();
      const typing = document.activeElement && document.activeElement.form;
      if ((data.call || "") !== (shown.call || "") && !typing) window.location.reload();
    } catch (error) {
      // A dropped connection is retried on the next tick.
    }
  }
  setInterval(check, window.BOARD_REFRESH_MS || 5000);
})();
