// A conversation's turns follow its player: the turn being spoken is highlighted, and a click
// (or Enter) on a turn plays from there. The bar above shows who spoke when, and the pauses.
// By keyboard each conversation's turns are one tab stop (a roving tabindex): arrows move turn
// by turn, Space plays from the turn or pauses, Shift+arrows seek 5 s.
(function () {
  document.querySelectorAll(".conversation-bar").forEach(function (bar) {
    const length = parseFloat(bar.dataset.length);
    bar.querySelectorAll(".seg").forEach(function (seg) {
      const start = parseFloat(seg.dataset.start), end = parseFloat(seg.dataset.end);
      seg.style.left = (100 * start / length) + "%";
      seg.style.width = Math.max(0.3, 100 * (end - start) / length) + "%";
    });
  });
  document.querySelectorAll(".conversation").forEach(function (section) {
    const player = section.querySelector(".conversation-player");
    const turns = Array.from(section.querySelectorAll(".turn"));
    if (!player || turns.length === 0) return;
    const starts = turns.map((t) => parseFloat(t.dataset.start));
    let current = -1;
    function follow() {
      const t = player.currentTime;
      let index = -1;
      for (let i = 0; i < starts.length; i++) {
        if (starts[i] <= t + 0.05) index = i; else break;
      }
      if (index !== current) {
        if (current >= 0) turns[current].classList.remove("now");
        if (index >= 0) turns[index].classList.add("now");
        current = index;
      }
    }
    player.addEventListener("timeupdate", follow);
    player.addEventListener("seeked", follow);
    let stop = 0;
    function rove(index, focus) {
      turns[stop].tabIndex = -1;
      stop = Math.max(0, Math.min(turns.length - 1, index));
      turns[stop].tabIndex = 0;
      if (focus) turns[stop].focus();
    }
    function play(i) {
      player.currentTime = starts[i];
      player.play();
    }
    // A link to a turn (the inbox search's) makes that turn the tab stop.
    const target = turns.findIndex((turn) => "#" + turn.id === location.hash);
    turns.forEach((turn, i) => {
      turn.tabIndex = -1;
      turn.addEventListener("click", () => {
        rove(i, false);
        play(i);
      });
    });
    rove(Math.max(0, target), false);
    player.addEventListener("timeupdate", () => {
      if (current >= 0 && !section.contains(document.activeElement)) rove(current, false);
    });
    section.querySelector(".turns").addEventListener("keydown", (event) => {
      const i = turns.indexOf(event.target);
      if (i < 0 || event.altKey || event.ctrlKey || event.metaKey) return;
      const forward = event.key === "ArrowDown" || event.key === "ArrowRight";
      const back = event.key === "ArrowUp" || event.key === "ArrowLeft";
      if ((forward || back) && event.shiftKey) {
        const end = Number.isFinite(player.duration) ? player.duration : starts[starts.length - 1];
        player.currentTime = Math.max(0, Math.min(end, player.currentTime + (forward ? 5 : -5)));
      } else if (forward || back) {
        rove(i + (forward ? 1 : -1), true);
      } else if (event.key === "Home" || event.key === "End") {
        rove(event.key === "Home" ? 0 : turns.length - 1, true);
      } else if (event.key === "Enter") {
        play(i);
      } else if (event.key === " ") {
        if (player.paused) play(i); else player.pause();
      } else {
        return;
      }
      event.preventDefault();
    });
  });
})();
