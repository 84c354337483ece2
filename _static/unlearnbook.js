// unlearnbook: a click on a chapter figure toggles between fitted and its own size; under a
// figure wider than its box, a line says that it scrolls sideways.
document.addEventListener("DOMContentLoaded", () => {
  for (const box of document.querySelectorAll(".ub-figure")) {
    const image = box.querySelector("img");
    const note = document.createElement("div");
    note.className = "ub-hint";
    box.after(note);
    const hint = () => {
      note.textContent = box.scrollWidth > box.clientWidth + 1
        ? "Scroll sideways for the whole figure; click it to fit." : "";
    };
    image.addEventListener("click", () => { box.classList.toggle("ub-toggled"); hint(); });
    if (image.complete) hint(); else image.addEventListener("load", hint);
    window.addEventListener("resize", hint);
  }
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
