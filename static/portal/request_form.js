// Show only the chosen policy's controls. (The preview itself also asks on load, through the
// form's hx-trigger, so a form re-shown with values has its preview at once.)
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
})();
