// The status page follows the box: the server sends the page's content
// again (rendered and escaped by html/template) whenever the status
// changes, over Server-Sent Events (/events). Without JavaScript the page
// reloads itself every 10 seconds instead (the noscript refresh).
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource) {
    return;
  }
  var events = new EventSource("/events");
  events.addEventListener("status", function (e) {
    live.innerHTML = e.data;
  });
})();
