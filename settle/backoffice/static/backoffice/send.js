// The sending pages, enhanced; they work without this file.
(function () {
  "use strict";

  // A link to copy: <input readonly data-copy="Copy" data-copied="Copied">. Without JavaScript
  // the link is selected and copied by hand; with it, a Copy button sits beside it.
  document.querySelectorAll("input[data-copy]").forEach(function (field) {
    var label = field.getAttribute("data-copy");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-secondary";
    button.textContent = label;
    field.insertAdjacentElement("afterend", button);
    var done = function () {
      button.textContent = field.getAttribute("data-copied") || label;
      window.setTimeout(function () { button.textContent = label; }, 2000);
    };
    button.addEventListener("click", function () {
      field.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () {
          if (document.execCommand("copy")) done();
        });
      } else if (document.execCommand("copy")) {
        done();
      }
    });
  });

  // Picking a saved reply fills the message at once; without JavaScript, its Use button does.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
