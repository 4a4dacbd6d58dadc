// everydonor: the little behaviour that is not htmx. No inline script anywhere (CSP).
document.addEventListener("click", function (ev) {
  const el = ev.target.closest("[data-confirm]");
  if (el && !window.confirm(el.getAttribute("data-confirm"))) { ev.preventDefault(); }
});
// Keep what was typed: warn before leaving a form with unsaved changes.
document.addEventListener("input", function (ev) {
  const form = ev.target.closest("form[data-keep]");
  if (form) { form.dataset.dirty = "1"; }
});
document.addEventListener("submit", function (ev) {
  const form = ev.target.closest("form[data-keep]");
  if (form) { delete form.dataset.dirty; }
});
window.addEventListener("beforeunload", function (ev) {
  if (document.querySelector("form[data-keep][data-dirty]")) { ev.preventDefault(); ev.returnValue = ""; }
});
