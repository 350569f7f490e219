// The coupon upload says at once when a chosen file is too large, rather
// than after sending it.
"use strict";

(() => {
  const form = document.querySelector("form.coupon-form");
  if (!form) return;
  const input = form.querySelector("input[type=file]");
  const maxMB = Number(form.dataset.maxMb) || 2;
  input.addEventListener("change", () => {
    const f = input.files[0];
    input.setCustomValidity(f && f.size > maxMB * 1048576 ? `${f.name} is larger than ${maxMB} MB: split it and upload the parts one after another.` : "");
    input.reportValidity();
  });
})();
