// everydonor: the live HLA check marks its input (aria-invalid) from the fragment it swapped in.
// Loaded by the patient/person forms only; no inline script anywhere (CSP).
document.addEventListener("htmx:afterSwap", function (ev) {
  const box = ev.detail && ev.detail.target;
  if (!box || !box.dataset || !box.dataset.checkFor) { return; }
  const input = document.getElementById(box.dataset.checkFor);
  const answer = box.querySelector("[data-valid]");
  if (!input) { return; }
  if (answer && answer.dataset.valid === "false") {
    input.setAttribute("aria-invalid", "true");
  } else {
    input.removeAttribute("aria-invalid");
  }
});
