// Close the tenant switcher when clicking elsewhere.
document.addEventListener("click", (event) => {
  document.querySelectorAll("details.switcher[open]").forEach((el) => {
    if (!el.contains(event.target)) el.removeAttribute("open");
  });
});

// Ages that keep counting: <time datetime="..." data-since> shows "40 s", "12 min", "3 h", "5 d"
// (the same units as the server's `age` filter) and is refreshed every second.
(() => {
  const units = [[86400, "d"], [3600, "h"], [60, "min"]];
  const format = (seconds) => {
    for (const [size, unit] of units) if (seconds >= size) return `${Math.floor(seconds / size)} ${unit}`;
    return `${seconds} s`;
  };
  const refresh = () => {
    const now = Date.now();
    document.querySelectorAll("time[data-since]").forEach((el) => {
      const then = Date.parse(el.getAttribute("datetime"));
      if (!Number.isNaN(then)) el.textContent = format(Math.max(0, Math.floor((now - then) / 1000)));
    });
  };
  document.addEventListener("DOMContentLoaded", refresh);
  document.addEventListener("htmx:afterSwap", refresh);
  setInterval(refresh, 1000);
})();

// A form whose answer takes a model call: <form data-busy="Reading the samples"> disables its button
// on submit and says what is happening, with the seconds counting, until the next page arrives.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.busy) return;
  const status = form.querySelector("[data-busy-status]");
  form.querySelectorAll("button").forEach((button) => { button.disabled = true; });
  if (!status) return;
  const started = Date.now();
  const show = () => {
    status.textContent = `${form.dataset.busy}… ${Math.floor((Date.now() - started) / 1000)} s`;
  };
  show();
  status.hidden = false;
  setInterval(show, 1000);
});
