// The transcript follows the audio: the word being spoken is highlighted, and a click on a word
// plays from there.
(function () {
  const player = document.getElementById("player");
  const words = Array.from(document.querySelectorAll("#transcript .word"));
  if (!player || words.length === 0) return;
  const times = words.map((w) => [parseFloat(w.dataset.start), parseFloat(w.dataset.end)]);
  let current = -1;
  function follow() {
    const t = player.currentTime;
    let index = -1;
    for (let i = 0; i < times.length; i++) {
      if (times[i][0] <= t) index = i; else break;
    }
    if (index !== current) {
      if (current >= 0) words[current].classList.remove("now");
      if (index >= 0) words[index].classList.add("now");
      current = index;
    }
  }
  player.addEventListener("timeupdate", follow);
  player.addEventListener("seeked", follow);
  words.forEach((word, i) => {
    word.addEventListener("click", () => {
      player.currentTime = times[i][0];
      player.play();
    });
  });
})();
