// /me: the time-zone list narrows as the agent types in the search box (without scripts the
// box's Find button asks the server for the same list). The first match is chosen when the
// chosen zone is filtered out, so typing "berlin" then Save is enough.
(function () {
  const search = document.getElementById("zone-search");
  const select = document.getElementById("timezone");
  const none = document.getElementById("zone-none");
  if (!search || !select) return;
  const mine = select.value;

  function filter() {
    const words = search.value.trim().toLocaleLowerCase();
    let first = null;
    const matching = new Set();
    for (const group of select.querySelectorAll("optgroup")) {
      let shown = 0;
      for (const option of group.querySelectorAll("option")) {
        const text = (option.textContent + " " + option.value).toLocaleLowerCase();
        const match = !words || text.includes(words);
        option.hidden = !match && option.value !== mine; // one's own zone is never lost
        if (match) {
          first = first || option;
          matching.add(option);
        }
        if (!option.hidden) shown += 1;
      }
      group.hidden = shown === 0;
    }
    if (none) none.hidden = first !== null;
    const chosen = select.selectedOptions[0];
    if (first && !matching.has(chosen)) select.value = first.value;
    if (!first) select.value = mine;
  }

  search.addEventListener("input", filter);
  search.form.addEventListener("submit", (event) => {
    event.preventDefault(); // already narrowed here
    filter();
    select.focus();
  });
  filter();
})();
