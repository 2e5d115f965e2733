// Tables on a phone: each row reflows into a card (style.css), and each cell says which column it
// is from its header. Rows that scripts draw later (the board, the live view) are labelled too.
(function () {
  function label(table) {
    const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    if (!heads.length) return;
    for (const row of table.tBodies[0] ? table.tBodies[0].rows : []) {
      let column = 0;
      for (const cell of row.cells) {
        const name = heads[column] || "";
        if (cell.colSpan === 1 && name && cell.dataset.label !== name) cell.dataset.label = name;
        column += cell.colSpan;
      }
    }
  }
  function labelAll() {
    for (const table of document.querySelectorAll("table.inbox")) label(table);
  }
  document.addEventListener("DOMContentLoaded", () => {
    labelAll();
    for (const table of document.querySelectorAll("table.inbox")) {
      new MutationObserver(() => label(table)).observe(table, { childList: true, subtree: true });
    }
  });
})();
