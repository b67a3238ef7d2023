// Progressive enhancements for the report pages (no framework; CSP 'self' only).
(function () {
  "use strict";

  // Period picker: a preset hides the custom dates; editing a date switches to "custom".
  var preset = document.querySelector("[data-period-preset]");
  var dates = document.querySelector("[data-custom-dates]");
  if (preset && dates) {
    var inputs = dates.querySelectorAll("input");
    var sync = function () {
      var custom = preset.value === "custom";
      dates.classList.toggle("is-hidden", !custom);
      inputs.forEach(function (i) { i.disabled = !custom; });
    };
    preset.addEventListener("change", sync);
    inputs.forEach(function (i) {
      i.addEventListener("change", function () { preset.value = "custom"; });
    });
    sync();
  }

  // Close an open filter dropdown when clicking elsewhere or pressing Escape.
  document.addEventListener("click", function (e) {
    document.querySelectorAll("details.multi[open]").forEach(function (d) {
      if (!d.contains(e.target)) { d.removeAttribute("open"); }
    });
  });
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") { return; }
    document.querySelectorAll("details.multi[open]").forEach(function (d) {
      d.removeAttribute("open");
      d.querySelector("summary").focus();
    });
  });

  // Import page: show only the mappings that have a profile for the chosen kind.
  var kind = document.querySelector("[data-import-kind]");
  var mapping = document.querySelector("[data-import-mapping]");
  if (kind && mapping) {
    var filter = function () {
      var k = kind.value;
      var firstVisible = null;
      Array.prototype.forEach.call(mapping.options, function (o) {
        var ok = (o.getAttribute("data-kinds") || "").split(" ").indexOf(k) >= 0;
        o.hidden = !ok;
        o.disabled = !ok;
        if (ok && firstVisible === null) { firstVisible = o; }
      });
      if (mapping.selectedOptions.length === 0 || mapping.selectedOptions[0].disabled) {
        if (firstVisible) { firstVisible.selected = true; }
      }
    };
    kind.addEventListener("change", filter);
    filter();
  }

  // Mapping editor: changing a column's field or the date order previews again (a dry run).
  var editor = document.querySelector("[data-mapping-editor]");
  if (editor) {
    var previewButton = editor.querySelector("[data-preview-button]");
    editor.querySelectorAll("[data-autopreview]").forEach(function (el) {
      el.addEventListener("change", function () {
        if (editor.requestSubmit) { editor.requestSubmit(previewButton); } else { previewButton.click(); }
      });
    });
  }

  // Auto-submit small list filters (checkboxes) on the account list.
  document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
})();
