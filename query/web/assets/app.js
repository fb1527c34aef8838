// khist serve: the pages work without script; this adds the live view. Every state is in the
// URL: the "live" checkbox sets live=1, and a live page fetches itself again every 5 seconds
// and swaps its content.
(function () {
  'use strict';
  var box = document.getElementById('live');
  if (!box) return;
  var url = new URL(location.href);
  box.checked = url.searchParams.get('live') === '1';
  box.addEventListener('change', function () {
    var u = new URL(location.href);
    if (box.checked) { u.searchParams.set('live', '1'); } else { u.searchParams.delete('live'); }
    history.replaceState(null, '', u);
    schedule();
  });
  var timer = null;
  function schedule() {
    clearTimeout(timer);
    if (box.checked) timer = setTimeout(refresh, 5000);
  }
  function refresh() {
    var main = document.getElementById('main');
    if (main && main.hidden) { location.reload(); return; } // a page drawn by its own script
    fetch(location.href, { credentials: 'same-origin' }).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.text();
    }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, 'text/html');
      var fresh = doc.getElementById('main');
      var cur = document.getElementById('main');
      if (fresh && cur) cur.replaceWith(fresh);
      document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    }).catch(function (e) {
      document.getElementById('updated').textContent = 'update failed: ' + e.message;
    }).then(schedule);
  }
  schedule();
})();
