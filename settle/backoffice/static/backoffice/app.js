// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Destructive actions ask first: <button data-confirm="Are you sure…?"> inside a POST form.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var form = event.target;
    var message = (button && button.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  // The phone menu toggles in place; without JS the link opens it through :target.
  var toggle = document.querySelector(".nav-toggle");
  if (toggle) {
    toggle.addEventListener("click", function (event) {
      event.preventDefault();
      var sidebar = toggle.closest(".sidebar");
      var open = sidebar.classList.toggle("nav-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  // Open menus close when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });

  // "Select all" checkboxes: <input type=checkbox data-check-all="name">.
  document.querySelectorAll("[data-check-all]").forEach(function (master) {
    master.addEventListener("change", function () {
      var name = master.getAttribute("data-check-all");
      master.form.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (box) {
        box.checked = master.checked;
      });
    });
  });
})();
