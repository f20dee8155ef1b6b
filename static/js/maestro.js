// Close the tenant switcher when clicking elsewhere.
document.addEventListener("click", (event) => {
  document.querySelectorAll("details.switcher[open]").forEach((el) => {
    if (!el.contains(event.target)) el.removeAttribute("open");
  });
});
