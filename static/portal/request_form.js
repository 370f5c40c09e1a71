// The filing form: the chosen policy's controls, the routing preview (htmx), character counters, the tier
// caps beside the amount and the days, and the error summary. No inline script: a CSP is coming.
(function () {
  const form = document.getElementById("request-form");
  if (!form) return;
  const policy = form.querySelector("select[name=policy]");
  const controlsField = document.getElementById("controls-field");

  // ---- Only the chosen policy's controls.
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

  // ---- The routing preview asks again only when a field routing reads changes (htmx: "routing-changed").
  const ROUTING_FIELDS = [
    "customer_ref",
    "policy",
    "sentiment",
    "amount",
    "business_days",
    "supplier_exception",
    "waived_controls",
  ];
  function routingChanged(event) {
    if (event.target && ROUTING_FIELDS.indexOf(event.target.name) !== -1 && window.htmx) {
      window.htmx.trigger(form, "routing-changed");
    }
  }
  form.addEventListener("input", routingChanged);
  form.addEventListener("change", routingChanged);

  // A swap whose HTML is the same as the one shown changes nothing: skip it. Screen readers hear only the
  // outcome sentence, in one status region, and only when it changed.
  const target = document.getElementById("routing-preview");
  const announcement = document.getElementById("preview-announcement");
  let lastHtml = null;
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.target !== target) return;
    const html = event.detail.serverResponse;
    if (html === lastHtml) {
      event.detail.shouldSwap = false;
    }
    lastHtml = html;
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target !== target || !announcement) return;
    const sentence = target.querySelector("[data-announce]");
    const text = sentence ? sentence.textContent.replace(/\s+/g, " ").trim() : "";
    if (text && text !== announcement.textContent) announcement.textContent = text;
  });

  // ---- Character counters on the long fields (the browser cuts pasted text at the limit without a word).
  form.querySelectorAll("textarea[maxlength]").forEach(function (area) {
    const limit = parseInt(area.getAttribute("maxlength"), 10);
    if (!limit) return;
    const counter = document.createElement("div");
    counter.className = "form-text char-counter";
    counter.id = area.id + "-counter";
    area.insertAdjacentElement("afterend", counter);
    const described = area.getAttribute("aria-describedby");
    area.setAttribute("aria-describedby", (described ? described + " " : "") + counter.id);
    function update() {
      const used = area.value.length;
      if (used >= limit) {
        counter.textContent = "Limit reached: " + limit + " characters. Anything past it was not kept.";
        counter.classList.add("char-counter-full");
      } else {
        counter.textContent = used + " of " + limit + " characters";
        counter.classList.remove("char-counter-full");
      }
    }
    area.addEventListener("input", update);
    update();
  });

  // ---- The tier caps beside the amount and the days, as the rep types.
  const capsData = document.getElementById("tier-caps");
  const caps = capsData ? JSON.parse(capsData.textContent) : {};
  function capLine(input, kind) {
    if (!input) return null;
    const line = document.createElement("div");
    line.className = "form-text tier-caps";
    line.id = input.id + "-caps";
    const parent = input.closest(".mb-3") || input.parentElement;
    parent.appendChild(line);
    const described = input.getAttribute("aria-describedby");
    input.setAttribute("aria-describedby", (described ? described + " " : "") + line.id);
    return { input: input, line: line, kind: kind };
  }
  const lines = [
    capLine(form.querySelector("input[name=amount]"), "amount"),
    capLine(form.querySelector("input[name=business_days]"), "days"),
  ].filter(Boolean);
  function showCaps() {
    const tiers = (policy && caps[policy.value]) || [];
    lines.forEach(function (entry) {
      if (!tiers.length) {
        entry.line.textContent = "";
        return;
      }
      const value = parseFloat(entry.input.value);
      const parts = tiers.map(function (tier) {
        const cap = entry.kind === "amount" ? tier.cap : tier.days + " days";
        return tier.label + " up to " + cap;
      });
      let fit = "";
      if (!isNaN(value) && value >= 0) {
        const first = tiers.find(function (tier) {
          return entry.kind === "amount" ? value <= parseFloat(tier.capValue) : value <= tier.days;
        });
        fit = first ? " Within the cap of " + first.label + "." : " Above every tier's cap.";
      }
      entry.line.textContent = "Tier caps: " + parts.join(" · ") + "." + fit;
    });
  }
  lines.forEach(function (entry) {
    entry.input.addEventListener("input", showCaps);
  });
  if (policy) policy.addEventListener("change", showCaps);
  showCaps();

  // ---- A failed submit: the error summary takes the focus (it is also a role="alert").
  const summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
    // A link in the summary puts the cursor in its field, not only the page at it.
    summary.addEventListener("click", function (event) {
      const link = event.target.closest("a[href^='#']");
      const field = link && document.getElementById(link.getAttribute("href").slice(1));
      if (field) {
        event.preventDefault();
        field.focus();
        field.scrollIntoView({ block: "center" });
      }
    });
  }
})();
