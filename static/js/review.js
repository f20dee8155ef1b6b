// Keyboard shortcuts of the review queue and the draft page (the "?" box on each page lists them).
(function () {
  const typing = (el) => el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  let selected = -1;

  function rows() { return Array.from(document.querySelectorAll("#queue-table tr.queue-row")); }
  function select(index) {
    const all = rows();
    if (!all.length) return;
    selected = Math.max(0, Math.min(index, all.length - 1));
    all.forEach((row, i) => row.classList.toggle("selected", i === selected));
    all[selected].scrollIntoView({ block: "nearest" });
  }
  function click(id) { const el = document.getElementById(id); if (el && !el.disabled) el.click(); return !!el; }
  function focus(id) { const el = document.getElementById(id); if (el && !el.disabled) el.focus(); return !!el; }

  document.addEventListener("htmx:afterSwap", () => { selected = -1; });
  document.addEventListener("keydown", (event) => {
    if (event.metaKey || event.ctrlKey || event.altKey) return;
    if (event.key === "Escape" && typing(document.activeElement)) { document.activeElement.blur(); return; }
    if (typing(event.target)) return;
    const help = document.getElementById("shortcuts-help");
    const current = rows()[selected];
    // Enter keeps its usual meaning on focused links and buttons; it opens a row only when one is selected.
    if (event.key === "Enter" && (!current || document.activeElement !== document.body)) return;
    const actions = {
      "?": () => { if (help) help.open = !help.open; },
      j: () => select(selected + 1),
      k: () => select(selected - 1),
      Enter: () => { if (current) window.location.href = current.dataset.href; },
      x: () => { const box = current && current.querySelector("input[type=checkbox]"); if (box && !box.disabled) box.checked = !box.checked; },
      n: () => click("review-next"),
      c: () => click("claim"),
      e: () => focus("body"),
      a: () => click("approve"),
      r: () => focus("reason"),
    };
    const action = actions[event.key];
    if (action) { event.preventDefault(); action(); }
  });
})();
