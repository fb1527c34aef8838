// khist timeline: swimlanes on a time axis, one row per object, grouped by workload.
// Self-contained: no network access, no libraries. Data comes from the #khist-data block.
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('khist-data').textContent);
  var NS = 'http://www.w3.org/2000/svg';
  var LABEL_W = 320, ROW_H = 22, AXIS_H = 26, PAD_R = 16, MIN_SPAN = 200;
  var CLASSES = ['warning', 'spec', 'scale', 'created', 'deleted', 'terminating', 'unready', 'ready', 'event', 'status', 'metadata'];
  var svg = document.getElementById('svg');
  var chart = document.getElementById('chart');
  var detail = document.getElementById('detail');
  var hidden = {};
  var filter = '';
  var selected = null;

  // The full window: the requested one, widened to every entry.
  var t0 = data.since, t1 = data.until;
  data.lanes.forEach(function (l) {
    l.entries.forEach(function (e) {
      if (!t0 || e.t < t0) t0 = e.t;
      if (!t1 || e.t > t1) t1 = e.t;
    });
  });
  if (!t0) { t0 = Date.now(); t1 = t0 + 60000; }
  if (t1 - t0 < MIN_SPAN) { t1 = t0 + MIN_SPAN; }
  // A margin so that markers at the edges are drawn whole.
  var margin = (t1 - t0) * 0.02;
  t0 -= margin; t1 += margin;
  var full = { t0: t0, t1: t1 };
  var view = { t0: t0, t1: t1 };

  // Per lane, computed once: the object's lives within the window (a name can be deleted and
  // re-created) and the order its markers are drawn in (notable ones last, on top of routine
  // ones at the same time).
  data.lanes.forEach(function (l) {
    var es = l.entries, born = null, lives = [], order = [];
    es.forEach(function (e, i) {
      if (e.cls === 'created') { if (born === null) born = e.t; }
      else if (e.cls === 'deleted') { lives.push([born === null ? full.t0 : born, e.t]); born = null; }
      else if (born === null && (lives.length === 0 || i === 0)) { born = full.t0; }
    });
    if (born !== null || lives.length === 0) lives.push([born === null ? full.t0 : born, full.t1]);
    es.forEach(function (e, ei) { if (!e.marked) order.push(ei); });
    es.forEach(function (e, ei) { if (e.marked) order.push(ei); });
    l.lives = lives;
    l.order = order;
  });

  // Rows are virtualised: the chart is as tall as all of them, but only the rows within a
  // screen of the visible part of the page are in the document (a timeline of 20,000 changes
  // would otherwise hold as many elements, and every redraw would lay them all out). A scroll
  // that leaves the drawn band draws again. Small timelines are drawn whole.
  var WHOLE = 400;
  var drawn = null; // {from, to}: the row indexes in the document; null: all of them

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function pad(n, w) { n = String(n); while (n.length < (w || 2)) n = '0' + n; return n; }
  // Times are shown in the zone the timeline was made in (data.tzOffset minutes east of UTC).
  function local(t) { return new Date(t + data.tzOffset * 60000); }
  function fmtClock(t, ms) {
    var d = local(t);
    var s = pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds());
    if (ms) s += '.' + pad(d.getUTCMilliseconds(), 3);
    return s;
  }
  function fmtDate(t) {
    var d = local(t);
    return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate());
  }
  function fmtFull(t) { return fmtDate(t) + ' ' + fmtClock(t, true) + ' ' + data.tz; }

  // Rows: a header per group, then its lanes (hidden classes and the filter apply).
  function rows() {
    var out = [];
    data.groups.forEach(function (g) {
      var lanes = g.lanes.filter(function (i) {
        var l = data.lanes[i];
        return !filter || (l.label + ' ' + l.ref).toLowerCase().indexOf(filter) >= 0 || g.label.toLowerCase().indexOf(filter) >= 0;
      });
      if (!lanes.length) return;
      out.push({ group: g });
      lanes.forEach(function (i, k) { out.push({ lane: data.lanes[i], index: i, alt: k % 2 === 1 }); });
    });
    return out;
  }

  var STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800]
    .map(function (s) { return s * 1000; });
  [10, 20, 50, 100, 200, 500].reverse().forEach(function (ms) { STEPS.unshift(ms); });

  // The band of the n rows that are visible, widened by over screens above and below.
  function band(n, over) {
    var top = chart.getBoundingClientRect().top, vh = window.innerHeight || 800;
    var from = Math.floor((-top - over * vh - AXIS_H) / ROW_H), to = Math.ceil((-top + (1 + over) * vh - AXIS_H) / ROW_H);
    return { from: Math.max(0, Math.min(n, from)), to: Math.min(n, Math.max(0, to)), n: n };
  }

  function render() {
    var rs = rows();
    drawn = rs.length <= WHOLE ? null : band(rs.length, 1);
    var width = Math.max(chart.clientWidth, 600);
    var cw = width - LABEL_W - PAD_R;
    var span = view.t1 - view.t0;
    function x(t) { return LABEL_W + (t - view.t0) / span * cw; }
    var height = AXIS_H + rs.length * ROW_H + 8;
    svg.textContent = '';
    svg.setAttribute('width', width);
    svg.setAttribute('height', height);
    svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
    var defs = el('defs', {}, svg);
    var clip = el('clipPath', { id: 'plot' }, defs);
    el('rect', { x: LABEL_W, y: 0, width: cw + PAD_R, height: height }, clip);

    // Axis.
    var axis = el('g', { 'class': 'axis' }, svg);
    var step = STEPS[STEPS.length - 1];
    for (var i = 0; i < STEPS.length; i++) {
      if (span / STEPS[i] <= cw / 90) { step = STEPS[i]; break; }
    }
    var off = data.tzOffset * 60000;
    var first = Math.ceil((view.t0 + off) / step) * step - off;
    for (var t = first; t <= view.t1; t += step) {
      var tx = x(t);
      el('line', { 'class': 'tick', x1: tx, x2: tx, y1: AXIS_H - 6, y2: height }, axis);
      var label = step >= 86400000 ? fmtDate(t) : (step < 60000 ? fmtClock(t, step < 1000) : fmtClock(t).slice(0, 5));
      var tt = el('text', { x: tx, y: AXIS_H - 10, 'text-anchor': 'middle' }, axis);
      tt.textContent = label;
    }

    // Rows (of the drawn band), built detached and attached in one go.
    var body = el('g', { 'class': 'rows' });
    var from = drawn ? drawn.from : 0, to = drawn ? drawn.to : rs.length;
    for (var n = from; n < to; n++) drawRow(rs[n], n);
    svg.appendChild(body);

    function drawRow(r, n) {
      var y = AXIS_H + n * ROW_H;
      var g = el('g', { 'class': 'row ' + (r.group ? 'group' : 'lane' + (r.alt ? ' alt' : '')), transform: 'translate(0,' + y + ')' }, body);
      el('rect', { 'class': 'bg', x: 0, y: 0, width: width, height: ROW_H }, g);
      if (r.group) {
        var gt = el('text', { 'class': 'label', x: 8, y: ROW_H / 2 }, g);
        gt.textContent = r.group.label;
        return;
      }
      var l = r.lane;
      g.setAttribute('data-lane', r.index);
      var lt = el('text', { 'class': 'label', x: 12 + l.depth * 14, y: ROW_H / 2 }, g);
      var k = el('tspan', { 'class': 'kind' }, lt);
      k.textContent = l.kind + '/';
      var nm = el('tspan', {}, lt);
      nm.textContent = l.name;
      el('title', {}, lt).textContent = l.ref;
      var plot = el('g', { 'clip-path': 'url(#plot)' }, g);
      var es = l.entries;
      l.lives.forEach(function (lv) {
        el('rect', { 'class': 'life', x: x(lv[0]), y: ROW_H / 2 - 3, width: Math.max(1, x(lv[1]) - x(lv[0])), height: 6, rx: 3 }, plot);
      });
      l.order.forEach(function (ei) {
        var e = es[ei];
        if (hidden[e.cls]) return;
        var mx = x(e.t), my = ROW_H / 2, m;
        if (mx < LABEL_W - 8 || mx > width) return;
        var attrs = { 'class': 'marker c-' + e.cls, 'data-lane': r.index, 'data-entry': ei, tabindex: 0, role: 'button' };
        if (e.marked) {
          var s = 7;
          attrs.d = 'M' + mx + ' ' + (my - s) + 'L' + (mx + s) + ' ' + my + 'L' + mx + ' ' + (my + s) + 'L' + (mx - s) + ' ' + my + 'Z';
          m = el('path', attrs, plot);
        } else {
          attrs.cx = mx; attrs.cy = my; attrs.r = 4.5;
          m = el('circle', attrs, plot);
        }
        if (selected && selected.lane === r.index && selected.entry === ei) m.classList.add('selected');
        el('title', {}, m).textContent = fmtClock(e.t, true) + ' ' + e.cls + ': ' + e.summary;
      });
    }
    document.getElementById('range').textContent = fmtDate(view.t0) + ' ' + fmtClock(view.t0) + ' \u2013 ' +
      (fmtDate(view.t1) === fmtDate(view.t0) ? '' : fmtDate(view.t1) + ' ') + fmtClock(view.t1) + ' ' + data.tz;
  }

  function text(parent, tag, s, cls) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    e.textContent = s;
    parent.appendChild(e);
    return e;
  }

  function show(li, ei) {
    var l = data.lanes[li], e = l.entries[ei];
    selected = { lane: li, entry: ei };
    detail.className = '';
    detail.innerHTML = '';
    detail.setAttribute('data-lane', li);
    detail.setAttribute('data-entry', ei);
    var h = text(detail, 'h2', '');
    var b = text(h, 'span', e.cls, 'badge');
    b.style.background = getComputedStyle(document.documentElement).getPropertyValue('--' + e.cls) || '#888';
    h.appendChild(document.createTextNode(l.ref + ' \u2014 ' + e.summary));
    var dl = text(detail, 'dl', '');
    function row(k, v) { if (v) { text(dl, 'dt', k); text(dl, 'dd', v); } }
    row('time', fmtFull(e.t));
    row('event', e.type + (e.event ? ' (Event ' + e.event + ')' : ''));
    row('by', e.actor);
    row('seq', String(e.seq));
    var pre = text(detail, 'pre', '');
    pre.id = 'detail-diff';
    if (!e.diff && data.diffURL && !e.fetched) {
      // Served by khist serve: the diff is fetched on demand.
      e.fetched = true;
      pre.textContent = 'Loading the diff\u2026';
      fetch(data.diffURL + e.seq, { credentials: 'same-origin' }).then(function (r) { return r.json(); }).then(function (j) {
        e.diff = j.diff || '';
        if (j.error) e.summary = e.summary + ' (' + j.error + ')';
      }, function () { e.fetched = false; }).then(function () {
        if (selected && selected.lane === li && selected.entry === ei) show(li, ei);
      });
    } else if (!e.diff) {
      pre.textContent = e.event ? e.summary : 'No diff recorded for this change.';
    } else {
      e.diff.split('\n').forEach(function (line) {
        if (line === '') return;
        var c = '';
        if (line.indexOf('+++') === 0 || line.indexOf('---') === 0) c = 'hdr';
        else if (line.indexOf('@@') === 0) c = 'hunk';
        else if (line[0] === '+') c = 'add';
        else if (line[0] === '-') c = 'del';
        var s = text(pre, 'span', line + (c ? '' : '\n'), c);
        if (!c) s.style.display = 'block';
      });
    }
    render();
  }

  // Zoom around a time by a factor (< 1 zooms in), keeping it under the same pixel.
  function zoom(factor, at) {
    var span = view.t1 - view.t0;
    if (at === undefined) at = view.t0 + span / 2;
    var ns = Math.max(MIN_SPAN, Math.min((full.t1 - full.t0) * 4, span * factor));
    var r = (at - view.t0) / span;
    view.t0 = at - r * ns;
    view.t1 = view.t0 + ns;
    render();
  }
  function timeAt(clientX) {
    var rect = svg.getBoundingClientRect();
    var cw = rect.width - LABEL_W - PAD_R;
    return view.t0 + (clientX - rect.left - LABEL_W) / cw * (view.t1 - view.t0);
  }

  document.getElementById('zoom-in').addEventListener('click', function () { zoom(0.5); });
  document.getElementById('zoom-out').addEventListener('click', function () { zoom(2); });
  document.getElementById('zoom-fit').addEventListener('click', function () { view.t0 = full.t0; view.t1 = full.t1; render(); });
  document.getElementById('filter').addEventListener('input', function (ev) { filter = ev.target.value.toLowerCase(); render(); });
  chart.addEventListener('wheel', function (ev) {
    ev.preventDefault();
    zoom(ev.deltaY < 0 ? 0.8 : 1.25, timeAt(ev.clientX));
  }, { passive: false });
  chart.addEventListener('keydown', function (ev) {
    if (ev.key === '+' || ev.key === '=') zoom(0.5);
    else if (ev.key === '-') zoom(2);
    else if (ev.key === '0') { view.t0 = full.t0; view.t1 = full.t1; render(); }
    else if (ev.key === 'Enter' && ev.target.classList && ev.target.classList.contains('marker')) {
      show(+ev.target.getAttribute('data-lane'), +ev.target.getAttribute('data-entry'));
    }
  });
  var drag = null;
  chart.addEventListener('mousedown', function (ev) {
    if (ev.target.classList && ev.target.classList.contains('marker')) return;
    drag = { x: ev.clientX, t0: view.t0, t1: view.t1, moved: false };
    chart.classList.add('dragging');
  });
  window.addEventListener('mousemove', function (ev) {
    if (!drag) return;
    var rect = svg.getBoundingClientRect();
    var cw = rect.width - LABEL_W - PAD_R;
    var dt = (ev.clientX - drag.x) / cw * (drag.t1 - drag.t0);
    if (Math.abs(ev.clientX - drag.x) > 2) drag.moved = true;
    view.t0 = drag.t0 - dt;
    view.t1 = drag.t1 - dt;
    render();
  });
  window.addEventListener('mouseup', function () { drag = null; chart.classList.remove('dragging'); });
  svg.addEventListener('click', function (ev) {
    var m = ev.target.closest ? ev.target.closest('.marker') : null;
    if (m) show(+m.getAttribute('data-lane'), +m.getAttribute('data-entry'));
  });
  window.addEventListener('resize', render);
  // A scroll that brings rows outside the drawn band into view draws again, once per frame.
  var pending = false;
  window.addEventListener('scroll', function () {
    if (!drawn || pending) return;
    var seen = band(drawn.n, 0);
    if (seen.from < drawn.from || seen.to > drawn.to) {
      pending = true;
      requestAnimationFrame(function () { pending = false; render(); });
    }
  }, { passive: true });

  // Legend: one switch per class present.
  var present = {};
  data.lanes.forEach(function (l) { l.entries.forEach(function (e) { present[e.cls] = (present[e.cls] || 0) + 1; }); });
  var legend = document.getElementById('legend');
  CLASSES.forEach(function (c) {
    if (!present[c]) return;
    var lab = document.createElement('label');
    var cb = document.createElement('input');
    cb.type = 'checkbox'; cb.checked = true; cb.setAttribute('data-class', c);
    cb.addEventListener('change', function () { hidden[c] = !cb.checked; render(); });
    lab.appendChild(cb);
    var sw = document.createElement('span');
    sw.className = 'sw';
    sw.style.background = 'var(--' + c + ')';
    lab.appendChild(sw);
    lab.appendChild(document.createTextNode(c + ' (' + present[c] + ')'));
    legend.appendChild(lab);
  });

  render();
  document.body.setAttribute('data-ready', 'true');
})();
