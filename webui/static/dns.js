// The DNS page's copy buttons: each copies the text of the element its
// data-copy names. The buttons are hidden until this script shows them,
// so a browser without scripts shows no button that does nothing. On a
// page served over plain HTTP the clipboard API is not there: the text is
// then selected and copied the older way.
(function () {
  "use strict";
  function copied(button, ok) {
    var was = button.textContent;
    button.textContent = ok ? "Copied" : "Select and copy by hand";
    window.setTimeout(function () { button.textContent = was; }, 2000);
  }
  function fallback(el, button) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    copied(button, ok);
  }
  var buttons = document.querySelectorAll("button[data-copy]");
  Array.prototype.forEach.call(buttons, function (button) {
    var el = document.getElementById(button.getAttribute("data-copy"));
    if (!el) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = el.textContent;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { copied(button, true); },
          function () { fallback(el, button); });
      } else {
        fallback(el, button);
      }
    });
  });
})();
