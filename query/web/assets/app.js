// khist serve: the pages work without script; this adds the live view. Every state is in the
// URL: the "live" checkbox sets live=1, and a live page listens to /api/v1/events (Server-Sent
// Events announcing the views' position) and, when the views advance, fetches itself again
// and swaps its content. The timeline, drawn by its own script, fetches only the changes it
// lacks (/timeline/data?after=SEQ) and adds them, keeping its zoom, filter and selection. The
// browser reconnects by itself after an error; an announcement after a reconnection refreshes
// the page if the views moved meanwhile, and so does the first one if they moved since the
// page was made (its main element's data-position).
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
      var jump = seq - seen;
      seen = seq;
      var main = document.getElementById('main');
      // A rebuild or a large import: what changed is better read whole.
      if (jump > 50000 && main && main.hidden) { location.reload(); return; }
      refresh();
    });
    source.addEventListener('error', function () {
      say(source.readyState === EventSource.CLOSED ? 'live updates stopped: reload the page' : 'live: reconnecting\u2026');
    });
  }
  // The changes a live timeline lacks: those of its window after the newest one it holds (the
  // log is folded in order, so nothing before that one can still come).
  function timelineNews(tl) {
    var last = tl.last(), u = new URL(location.href);
    u.pathname = '/timeline/data';
    u.hash = '';
    u.searchParams.delete('live');
    if (last.since) u.searchParams.set('since', new Date(last.since).toISOString());
    if (last.seq) u.searchParams.set('after', String(last.seq));
    return fetch(u.toString(), { credentials: 'same-origin' }).then(function (r) {
      if (!r.ok) return r.json().then(function (j) { throw new Error(j.error || r.status); }, function () { throw new Error(r.status); });
      return r.json();
    }).then(function (d) {
      var n = tl.merge(d);
      say('updated ' + new Date().toLocaleTimeString() + (n ? ', ' + n + (n === 1 ? ' change' : ' changes') + ' added' : ''));
    });
  }
  function refresh() {
    if (busy) { again = true; return; }
    var main = document.getElementById('main');
    var work;
    if (main && main.hidden) { // a page drawn by its own script
      if (!window.khistTimeline) { location.reload(); return; }
      var target = seen;
      work = timelineNews(window.khistTimeline).then(function () { main.setAttribute('data-position', String(target)); });
    } else {
      work = fetch(location.href, { credentials: 'same-origin' }).then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.text();
      }).then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var fresh = doc.getElementById('main');
        var cur = document.getElementById('main');
        if (fresh && cur) cur.replaceWith(fresh);
        say('updated ' + new Date().toLocaleTimeString());
      });
    }
    busy = true;
    work.catch(function (e) {
      say('update failed: ' + e.message);
    }).then(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }
  listen();
})();
