// The analysis period: typing a date chooses "Custom dates"; picking a preset clears the dates.
(function () {
  const period = document.getElementById("id_period");
  const start = document.getElementById("id_start");
  const end = document.getElementById("id_end");
  if (!period || !start || !end) return;
  [start, end].forEach(function (input) {
    input.addEventListener("change", function () {
      if (input.value) period.value = "custom";
    });
  });
  period.addEventListener("change", function () {
    if (period.value !== "custom") {
      start.value = "";
      end.value = "";
    }
  });
})();
