// Show only the chosen policy's controls, and ask for a preview once the page loads
// (a form restored by the browser, or re-shown with errors, already has values).
(function () {
  const form = document.getElementById("request-form");
  if (!form) return;
  const policy = form.querySelector("select[name=policy]");
  const controlsField = document.getElementById("controls-field");

  function showControls() {
    if (!controlsField) return;
    let shown = 0;
    controlsField.querySelectorAll("input[data-policy]").forEach(function (box) {
      const wrapper = box.closest(".form-check") || box.parentElement;
      const match = policy && box.dataset.policy === policy.value;
      wrapper.hidden = !match;
      if (!match) box.checked = false;
      if (match) shown += 1;
    });
    controlsField.hidden = shown === 0;
  }

  if (policy) policy.addEventListener("change", showControls);
  showControls();
  if (window.htmx && policy && policy.value) {
    htmx.trigger(form, "change");
  }
})();
