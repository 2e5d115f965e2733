// Notices while the board or the inbox is open: a new message, or a caller offered to this
// agent's phone (board.js tells of it), puts "(1) 新留言 · " before the tab's title until the
// agent looks at the page again. With the switch on (kept in this browser only), a short tone
// (WebAudio: no sound file) and a desktop notice too; permission is asked when it is turned on.
(function () {
  const box = document.getElementById("notices");
  if (!box) return;
  const toggle = document.getElementById("notices-switch");
  const status = box.querySelector(".notices-status");
  const KEY = "hotline.notices";
  const title = document.title;
  let unseen = 0;
  let newest = null; // the newest message id seen; null until the first answer
  let offered = null; // the queue entry whose offer was told of
  let audio = null;

  function allowed() {
    return localStorage.getItem(KEY) === "on";
  }
  function tone() {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume();
    const start = audio.currentTime + 0.01;
    [880, 660].forEach((hertz, i) => {
      const oscillator = audio.createOscillator();
      const gain = audio.createGain();
      const at = start + i * 0.18;
      oscillator.frequency.value = hertz;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.16);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start(at);
      oscillator.stop(at + 0.17);
    });
  }
  function notify(words, body, tag) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    const shown = new Notification(words, { body, tag, lang: document.documentElement.lang });
    shown.onclick = () => {
      window.focus();
      shown.close();
    };
  }
  function notice(words, count, body, tag) {
    unseen += count;
    document.title = "(" + unseen + ") " + words + " · " + title;
    if (!allowed()) return;
    try {
      tone();
    } catch (error) {
      // No audio output: the title and the desktop notice still tell.
    }
    notify(words, body, tag);
  }
  // Looked at: the page shown again, focused, or touched by mouse or keyboard.
  function seen() {
    if (!unseen || document.visibilityState !== "visible") return;
    unseen = 0;
    document.title = title;
  }
  document.addEventListener("visibilitychange", seen);
  window.addEventListener("focus", seen);
  for (const kind of ["pointerdown", "pointermove", "keydown"]) {
    document.addEventListener(kind, seen, { passive: true });
  }
  // Browsers start sound only after a gesture on the page: the first one after a reload.
  for (const kind of ["pointerdown", "keydown"]) {
    document.addEventListener(kind, () => {
      if (allowed() && audio === null) audio = new AudioContext();
    }, { once: true });
  }

  async function poll() {
    try {
      const url = box.dataset.latest + (newest === null ? "" : "?after=" + newest);
      const reply = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
      // Signed out meanwhile: the reply is the sign-in page, not JSON.
      if (!reply.ok || !(reply.headers.get("Content-Type") || "").includes("json")) return;
      const data = await reply.json();
      if (newest !== null && data.new > 0) notice(box.dataset.message, data.new, title, "hotline-message");
      newest = data.newest;
    } catch (error) {
      // Offline for a moment: asked again on the next tick.
    }
  }
  document.addEventListener("hotline:pop", (event) => {
    const pop = event.detail;
    if (!pop || pop.state !== "offered") {
      offered = null; // the phone stopped ringing: the same caller offered again is told again
      return;
    }
    if (pop.entry_id === offered) return;
    offered = pop.entry_id;
    notice(box.dataset.offer, 1, [pop.number, pop.topic].filter(Boolean).join(" · "), "hotline-offer");
  });

  toggle.checked = allowed();
  toggle.addEventListener("change", async () => {
    status.textContent = "";
    if (!toggle.checked) {
      localStorage.removeItem(KEY);
      return;
    }
    localStorage.setItem(KEY, "on");
    try {
      tone(); // what it will sound like, and the gesture that lets it sound later
    } catch (error) {
      // No audio output.
    }
    let permission = "Notification" in window ? Notification.permission : "denied";
    if (permission === "default") permission = await Notification.requestPermission();
    if (permission !== "granted") status.textContent = box.dataset.refused;
  });

  poll();
  setInterval(poll, window.NOTICES_REFRESH_MS || 10000);
})();
