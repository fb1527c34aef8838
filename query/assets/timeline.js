// khist timeline: swimlanes on a time axis, one row per object, grouped by workload.
// Self-contained: no network access, no libraries. Data comes from the #khist-data block.
// The view (time range, filter, hidden classes, the selected change) is kept in the URL's
// fragment, so that a reload or a pasted link shows the same thing. A page served live adds the
// changes made since it was drawn through window.khistTimeline.merge (see khist serve's app.js).
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

  // The full window: the requested one, widened to every entry, with a margin so that markers
  // at the edges are drawn whole.
  var full, seqs = {}, lastSeq = 0;
  function measure() {
    var t0 = data.since, t1 = data.until;
    data.lanes.forEach(function (l) {
      l.entries.forEach(function (e) {
        if (!t0 || e.t < t0) t0 = e.t;
        if (!t1 || e.t > t1) t1 = e.t;
        seqs[e.seq] = true;
        if (e.seq > lastSeq) lastSeq = e.seq;
      });
    });
    if (!t0) { t0 = Date.now(); t1 = t0 + 60000; }
    if (t1 - t0 < MIN_SPAN) { t1 = t0 + MIN_SPAN; }
    var margin = (t1 - t0) * 0.02;
    full = { t0: t0 - margin, t1: t1 + margin };
  }
  measure();
  var view = { t0: full.t0, t1: full.t1 };

  // Per lane: the object's lives within the window (a name can be deleted and re-created) and
  // the order its markers are drawn in (notable ones last, on top of routine ones at the same
  // time).
  function prepare(l) {
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
  }
  data.lanes.forEach(prepare);

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

  // Tick steps up to a year (a long window would otherwise draw a tick every week, labels over
  // one another).
  var STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
    2592000, 7776000, 31536000, 157680000]
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
        if (selected && selected.lane === r.index && selected.seq === e.seq) m.classList.add('selected');
        el('title', {}, m).textContent = fmtClock(e.t, true) + ' ' + e.cls + ': ' + e.summary;
      });
    }
    document.getElementById('range').textContent = fmtDate(view.t0) + ' ' + fmtClock(view.t0) + ' \u2013 ' +
      (fmtDate(view.t1) === fmtDate(view.t0) ? '' : fmtDate(view.t1) + ' ') + fmtClock(view.t1) + ' ' + data.tz;
    save();
  }

  // The state in the URL's fragment: #t0=MS&t1=MS&q=FILTER&hide=CLASS,CLASS&seq=SEQ. Written a
  // moment after the last change (a drag changes it at every move).
  var saving = null;
  function save() {
    if (saving) clearTimeout(saving);
    saving = setTimeout(function () {
      saving = null;
      var h = new URLSearchParams();
      if (view.t0 !== full.t0 || view.t1 !== full.t1) { h.set('t0', Math.round(view.t0)); h.set('t1', Math.round(view.t1)); }
      if (filter) h.set('q', filter);
      var hide = CLASSES.filter(function (c) { return hidden[c]; });
      if (hide.length) h.set('hide', hide.join(','));
      if (selected) h.set('seq', selected.seq);
      var frag = h.toString();
      if (frag !== location.hash.replace(/^#/, '')) {
        try { history.replaceState(history.state, '', frag ? '#' + frag : location.pathname + location.search); } catch (e) { /* a page without history (about:blank) */ }
      }
    }, 200);
  }
  function restore() {
    var h = new URLSearchParams(location.hash.replace(/^#/, ''));
    var a = +h.get('t0'), b = +h.get('t1');
    if (h.get('t0') && h.get('t1') && isFinite(a) && isFinite(b) && b - a >= MIN_SPAN) { view.t0 = a; view.t1 = b; }
    filter = (h.get('q') || '').toLowerCase();
    document.getElementById('filter').value = filter;
    (h.get('hide') || '').split(',').forEach(function (c) { if (CLASSES.indexOf(c) >= 0) hidden[c] = true; });
    var seq = +h.get('seq');
    if (seq) return find(seq);
    return null;
  }
  // find returns the lane and entry indexes of the change of sequence seq, or null.
  function find(seq) {
    for (var li = 0; li < data.lanes.length; li++) {
      var es = data.lanes[li].entries;
      for (var ei = 0; ei < es.length; ei++) if (es[ei].seq === seq) return { lane: li, entry: ei };
    }
    return null;
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
    selected = { lane: li, seq: e.seq };
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
        if (selected && selected.seq === e.seq) { var at = find(e.seq); if (at) show(at.lane, at.entry); }
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
  var legend = document.getElementById('legend');
  function legendBuild() {
    var present = {};
    data.lanes.forEach(function (l) { l.entries.forEach(function (e) { present[e.cls] = (present[e.cls] || 0) + 1; }); });
    legend.textContent = '';
    CLASSES.forEach(function (c) {
      if (!present[c]) return;
      var lab = document.createElement('label');
      var cb = document.createElement('input');
      cb.type = 'checkbox'; cb.checked = !hidden[c]; cb.setAttribute('data-class', c);
      cb.addEventListener('change', function () { hidden[c] = !cb.checked; render(); });
      lab.appendChild(cb);
      var sw = document.createElement('span');
      sw.className = 'sw';
      sw.style.background = 'var(--' + c + ')';
      lab.appendChild(sw);
      lab.appendChild(document.createTextNode(c + ' (' + present[c] + ')'));
      legend.appendChild(lab);
    });
  }

  // merge adds the changes of d (the data of the same timeline, of later changes) that the page
  // lacks: new lanes go after the lane that precedes them in d's group, new groups last. A view
  // that showed the end of the window keeps showing it.
  function merge(d) {
    var groups = {}, lanes = {}, added = 0;
    data.groups.forEach(function (g) {
      groups[g.label] = g;
      g.lanes.forEach(function (li) { lanes[g.label + '\n' + data.lanes[li].ref] = li; });
    });
    d.groups.forEach(function (dg) {
      var g = groups[dg.label];
      if (!g) { g = { label: dg.label, lanes: [] }; groups[dg.label] = g; data.groups.push(g); }
      var anchor = -1;
      dg.lanes.forEach(function (di) {
        var dl = d.lanes[di], key = dg.label + '\n' + dl.ref, li = lanes[key];
        if (li === undefined) {
          li = data.lanes.length;
          data.lanes.push({ kind: dl.kind, name: dl.name, label: dl.label, ref: dl.ref, depth: dl.depth, entries: [] });
          lanes[key] = li;
          g.lanes.splice(anchor + 1, 0, li);
        }
        anchor = g.lanes.indexOf(li);
        var l = data.lanes[li], n = 0;
        (dl.entries || []).forEach(function (e) {
          if (seqs[e.seq]) return;
          seqs[e.seq] = true;
          l.entries.push(e);
          n++;
        });
        if (n) l.entries.sort(function (a, b) { return a.t - b.t || a.seq - b.seq; });
        added += n;
      });
    });
    if (d.until > data.until) data.until = d.until;
    var was = full, atEnd = view.t1 >= was.t1 - 1, whole = view.t0 <= was.t0 + 1 && atEnd;
    measure();
    if (whole) { view.t0 = full.t0; view.t1 = full.t1; }
    else if (atEnd) { var span = view.t1 - view.t0; view.t1 = full.t1; view.t0 = full.t1 - span; }
    data.lanes.forEach(prepare);
    legendBuild();
    render();
    return added;
  }
  window.khistTimeline = {
    // The sequence of the newest change the page holds, its window's start (ms) and how many
    // changes it holds.
    last: function () { return { seq: lastSeq, since: data.since, changes: Object.keys(seqs).length }; },
    merge: merge
  };

  var chosen = restore();
  legendBuild();
  render();
  if (chosen) show(chosen.lane, chosen.entry);
  document.body.setAttribute('data-ready', 'true');
})();
