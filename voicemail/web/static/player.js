// The transcript follows the audio: the word being spoken is highlighted, and a click on a word
// plays from there. By keyboard the words are one tab stop (a roving tabindex): arrows move word
// by word, Enter plays from the word, Space plays from it or pauses, Shift+arrows seek 5 s.
(function () {
  const player = document.getElementById("player");
  const transcript = document.getElementById("transcript");
  const words = Array.from(document.querySelectorAll("#transcript .word"));
  if (!player || words.length === 0) return;
  const SEEK = 5;
  const times = words.map((w) => [parseFloat(w.dataset.start), parseFloat(w.dataset.end)]);
  let current = -1;
  let stop = 0; // the word that takes the transcript's one tab stop

  function at(t) {
    let index = -1;
    for (let i = 0; i < times.length; i++) {
      if (times[i][0] <= t) index = i; else break;
    }
    return index;
  }
  function rove(index, focus) {
    words[stop].tabIndex = -1;
    stop = Math.max(0, Math.min(words.length - 1, index));
    words[stop].tabIndex = 0;
    if (focus) words[stop].focus();
  }
  function follow() {
    const index = at(player.currentTime);
    if (index !== current) {
      if (current >= 0) words[current].classList.remove("now");
      if (index >= 0) words[index].classList.add("now");
      current = index;
      // Tabbing back in lands on the word being spoken; focus itself never jumps.
      if (index >= 0 && !transcript.contains(document.activeElement)) rove(index, false);
    }
  }
  function playFrom(i) {
    player.currentTime = times[i][0];
    player.play();
  }

  words.forEach((word, i) => {
    word.setAttribute("role", "button");
    word.tabIndex = i === 0 ? 0 : -1;
    word.addEventListener("click", () => {
      rove(i, false);
      playFrom(i);
    });
  });
  transcript.addEventListener("keydown", (event) => {
    const i = words.indexOf(event.target);
    if (i < 0 || event.altKey || event.ctrlKey || event.metaKey) return;
    const forward = event.key === "ArrowRight" || event.key === "ArrowDown";
    const back = event.key === "ArrowLeft" || event.key === "ArrowUp";
    if ((forward || back) && event.shiftKey) {
      const length = Number.isFinite(player.duration) ? player.duration : times[times.length - 1][1];
      player.currentTime = Math.max(0, Math.min(length, player.currentTime + (forward ? SEEK : -SEEK)));
      rove(Math.max(0, at(player.currentTime)), true);
    } else if (forward || back) {
      rove(i + (forward ? 1 : -1), true);
    } else if (event.key === "Home" || event.key === "End") {
      rove(event.key === "Home" ? 0 : words.length - 1, true);
    } else if (event.key === "Enter") {
      playFrom(i);
    } else if (event.key === " ") {
      if (player.paused) playFrom(i); else player.pause();
    } else {
      return;
    }
    event.preventDefault(); // no scrolling, no click on a button the key would reach
  });
  player.addEventListener("timeupdate", follow);
  player.addEventListener("seeked", follow);
})();
