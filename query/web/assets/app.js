// khist serve: the pages work without script; this adds the live view. Every state is in the
// URL: the "live" checkbox sets live=1, and a live page listens to /api/v1/events (Server-Sent
// Events announcing the views' position) and, when the views advance, fetches itself again
// and swaps its content. The browser reconnects by itself after an error; an announcement
// after a reconnection refreshes the page if the views moved meanwhile, and so does the first
// one if they moved since the page was made (its main element's data-position).
(function () {
  'use strict';
  var box = document.getElementById('live');
  if (!box) return;
  var updated = document.getElementById('updated');
  var url = new URL(location.href);
  box.checked = url.searchParams.get('live') === '1';
  box.addEventListener('change', function () {
    var u = new URL(location.href);
    if (box.checked) { u.searchParams.set('live', '1'); } else { u.searchParams.delete('live'); }
    history.replaceState(null, '', u);
    listen();
  });
  var source = null, seen = null, busy = false, again = false;
  function say(s) { if (updated) updated.textContent = s; }
  function listen() {
    if (source) { source.close(); source = null; }
    var main = document.getElementById('main');
    var at = main && main.getAttribute('data-position');
    seen = at ? +at : null;
    if (!box.checked) { say(''); return; }
    if (!window.EventSource) { say('live updates need EventSource'); return; }
    source = new EventSource('/api/v1/events');
    source.addEventListener('position', function (ev) {
      var seq = JSON.parse(ev.data).seq;
      if (seen === null || seq === seen) { seen = seq; say('live'); return; }
      seen = seq;
      refresh();
    });
    source.addEventListener('error', function () {
      say(source.readyState === EventSource.CLOSED ? 'live updates stopped: reload the page' : 'live: reconnecting\u2026');
    });
  }
  function refresh() {
    if (busy) { again = true; return; }
    var main = document.getElementById('main');
    if (main && main.hidden) { location.reload(); return; } // a page drawn by its own script
    busy = true;
    fetch(location.href, { credentials: 'same-origin' }).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.text();
    }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, 'text/html');
      var fresh = doc.getElementById('main');
      var cur = document.getElementById('main');
      if (fresh && cur) cur.replaceWith(fresh);
      say('updated ' + new Date().toLocaleTimeString());
    }).catch(function (e) {
      say('update failed: ' + e.message);
    }).then(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }
  listen();
})();
