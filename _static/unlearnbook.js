// unlearnbook: a click on a chapter figure toggles between fitted and its own size; under a
// figure or table wider than its box, a line says that it scrolls sideways; a table's caption
// sits above its scrolling box, so that it never scrolls out of sight.
function scrollHint(box, what) {
  const note = document.createElement("div");
  note.className = "ub-hint";
  box.after(note);
  const update = () => {
    const wide = box.scrollWidth > box.clientWidth + 1;
    note.textContent = wide ? `Scroll sideways for the whole ${what}.` : "";
    return wide;
  };
  window.addEventListener("resize", update);
  return update;
}

document.addEventListener("DOMContentLoaded", () => {
  for (const box of document.querySelectorAll(".ub-figure")) {
    const image = box.querySelector("img");
    const hint = scrollHint(box, "figure; click it to fit");
    image.addEventListener("click", () => { box.classList.toggle("ub-toggled"); hint(); });
    if (image.complete) hint(); else image.addEventListener("load", hint);
  }
  // each table scrolls in a box of its own (the theme's, for a page's own tables), its caption
  // above the box, a line below it when it is wider (checked again when a folded table opens
  // and when the window resizes)
  const hints = [];
  for (const table of document.querySelectorAll(".bd-article table")) {
    let box = table.parentElement;
    if (!box.classList.contains("pst-scrollable-table-container")) {
      box = document.createElement("div");
      box.className = "ub-scroll";
      table.before(box);
      box.append(table);
    }
    const caption = table.querySelector(":scope > caption");
    if (caption) {
      const above = document.createElement("div");
      above.className = "ub-caption";
      above.append(...caption.childNodes);
      caption.remove();
      box.before(above);
    }
    hints.push(scrollHint(box, "table"));
  }
  document.addEventListener("toggle", () => hints.forEach(update => update()), true);
  hints.forEach(update => update());
});

// sphinx-book-theme hides the right-hand sidebar while a full-width cell is in view and fails
// (a TypeError on every such page) when there is none: this book has none (_config.yml), so
// it gets an empty, hidden one to hide.
document.addEventListener("DOMContentLoaded", () => {
  if (document.querySelector("div.bd-sidebar-secondary")) return;
  const standIn = document.createElement("div");
  standIn.className = "bd-sidebar-secondary";
  standIn.hidden = true;
  document.body.appendChild(standIn);
});
