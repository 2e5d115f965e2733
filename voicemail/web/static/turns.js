// A conversation's turns follow its player: the turn being spoken is highlighted, and a click
// (or Enter) on a turn plays from there. The bar above shows who spoke when, and the pauses.
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
    turns.forEach((turn, i) => {
      function play() {
        player.currentTime = starts[i];
        player.play();
      }
      turn.addEventListener("click", play);
      turn.addEventListener("keydown", (event) => { if (event.key === "Enter") play(); });
    });
  });
})();
