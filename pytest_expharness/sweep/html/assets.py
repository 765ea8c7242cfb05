"""The inline CSS and JavaScript of report.html (no network, no framework).

The script builds each run's section from the page's JSON block (runsdata.py),
sorts tables by a clicked header, and highlights runs: every element
standing for runs names them in `data-run` (one run) or `data-runs` (a JSON
list). Clicking one (a table row, a legend entry, a curve, a band) selects its
runs, or lets them go when all were selected; every element of a selected run
gets the class `hl`, and the body gets `has-hl` so that the other curves fade.
Hovering a legend entry or a curve marks that run's elements `hover`.
"""

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em}
h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6}table.sortable th{cursor:pointer;user-select:none}
table.sortable th[data-dir=asc]::after{content:" \\25B2"}
table.sortable th[data-dir=desc]::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.best td{background:#fff6d5;font-weight:600}tr.gate-failed td{background:#ffebe9}
.status-completed{color:#1a7f37}.status-failed,.status-crashed{color:#cf222e}
.status-skipped,.status-interrupted,.status-running{color:#9a6700}.status-reused{color:#0969da}
dl.head{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}dl.head dt{color:#666}
dl.head dd{margin:0}code{background:#f6f8fa;padding:1px 4px;border-radius:3px}
.plots{display:flex;flex-wrap:wrap;gap:12px}.plots img{max-width:100%;border:1px solid #eee}
.run{border:1px solid #e5e7eb;border-radius:6px;padding:.4em 1em;margin:1em 0}
.recommend{background:#e7f5ec;border-left:4px solid #1a7f37;padding:.5em 1em}
.links a{margin-right:.8em}
.wide{overflow-x:auto;max-width:100%}
table tr[data-run],table tr[data-runs]{cursor:pointer}
table tr.hl td{background:#dbeafe}table tr.hover td{background:#eef4ff}
.curves{display:grid;grid-template-columns:minmax(0,1fr) 300px;gap:12px;align-items:start}
.charts{display:flex;flex-direction:column;gap:12px;min-width:0}
figure.chart{margin:0}
svg.chart{width:100%;max-width:880px;height:auto;border:1px solid #eee;display:block}
svg.chart g.curve{cursor:pointer}
svg.chart g.curve:hover,svg.chart g.curve.hover,svg.chart g.curve.hl{stroke-width:2.6px}
svg.chart:has(g.curve:hover) g.curve:not(:hover):not(.hl){opacity:.3}
.has-hl svg.chart g.curve:not(.hl):not(.hover),.has-hl svg.chart g.band:not(.hl){opacity:.12}
svg.chart g.bands{display:none}.curves.bands svg.chart g.bands{display:inline}
.curves.bands svg.chart g.curve.banded{display:none}svg.chart g.band{cursor:pointer}
.legend{position:sticky;top:8px;max-height:min(calc(100vh - 16px),640px);display:flex;
flex-direction:column;border:1px solid #e5e7eb;border-radius:6px;font-size:12px;background:#fff}
.legend-tools{padding:6px 8px;border-bottom:1px solid #e5e7eb;display:flex;flex-wrap:wrap;
gap:4px 8px;align-items:center}
.legend-tools input[type=search]{flex:1;min-width:8em}
.legend-list{list-style:none;margin:0;padding:4px 0;overflow-y:auto;min-height:0}
.legend-list li{padding:1px 8px;cursor:pointer;white-space:nowrap;overflow:hidden;
text-overflow:ellipsis}
.legend-list li.legend-group{font-weight:600;margin-top:3px}
.legend-list li.grouped{padding-left:24px}
.legend-list li:hover,.legend-list li.hover{background:#f3f4f6}
.legend-list li.hl{background:#dbeafe;font-weight:600}.legend-list li[hidden]{display:none}
.legend-list .n{color:#666;font-weight:400}
.swatch{display:inline-block;width:14px;height:4px;vertical-align:middle;margin-right:6px}
ul.notes{margin:.2em 0;padding-left:1.4em}ul.notes time{color:#666}
figure.analysis{margin:0}figure.analysis img{max-width:100%;border:1px solid #eee}
details.analysis pre{background:#f6f8fa;padding:.5em;overflow-x:auto;max-height:30em}
pre.error{background:#fff0f0;padding:.5em;overflow-x:auto}
@media (max-width:900px){.curves{grid-template-columns:1fr}.legend{position:static}}
"""
SCRIPT = """
(function () {  // the section of each run, from the JSON block runsdata.py writes
  var data = document.getElementById('run-data'), box = document.getElementById('runs');
  if (!data || !box) return;
  var block = JSON.parse(data.textContent);
  var codes = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#x27;'};
  function esc(text) {
    return String(text === null || text === undefined ? '' : text).replace(/[&<>"']/g,
      function (c) { return codes[c]; });
  }
  function cell(value) {
    return Array.isArray(value) ? '<td class="num">' + esc(value[0]) + '</td>' :
      '<td>' + esc(value) + '</td>';
  }
  function table(heads, rows) {
    return "<div class='wide'><table><thead><tr>" + heads.map(function (h) {
      return '<th>' + h + '</th>';
    }).join('') + '</tr></thead><tbody>' + rows.map(function (row) {
      return '<tr>' + row.map(cell).join('') + '</tr>';
    }).join('') + '</tbody></table></div>';
  }
  function link(base, file) {
    var name = Array.isArray(file) ? file[0] : file, to = Array.isArray(file) ? file[1] : file;
    return '<a href="' + base + '/' + esc(to) + '">' + esc(name) + '</a>';
  }
  var html = block.runs.map(function (r) {
    var out = ["<section class='run' id='" + esc(r[0]) + "'><h3>" + esc(r[1]) +
      " <span class='status-" + esc(r[3]) + "'>" + esc(r[3]) + '</span></h3>',
      '<p>session ' + esc(r[4]) + ', duration ' + esc(r[5]) + ' s' +
      (r[6] ? ", label <b class='label'>" + esc(r[6]) + '</b>' : '') + '</p>'];
    if (r[7].length) out.push("<ul class='notes'>" + r[7].map(function (n) {
      return '<li>' + (n[0] ? '<time>' + esc(n[0]) + '</time> ' : '') +
        (n[1] ? '<b>' + esc(n[1]) + '</b>: ' : '') + esc(n[2]) + '</li>';
    }).join('') + '</ul>');
    out.push(table(['parameter', 'value'], r[8]));
    if (r[9].length) out.push(table(['series', 'final', 'min', 'max', 'count'], r[9]));
    if (r[10].length) out.push(table(['component', 'status', 'reason', 'hint'], r[10]));
    var files = block.always.concat(r[11]).map(function (f) { return link(r[2], f); });
    out.push("<p class='links'>" + files.join(' ') + '</p></section>');
    return out.join('');
  });
  box.innerHTML = html.join('');
  var hash = decodeURIComponent(location.hash.slice(1));
  var target = hash && document.getElementById(hash);
  if (target) target.scrollIntoView();
})();
document.querySelectorAll('table.sortable').forEach(function (table) {
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, index) {
    th.addEventListener('click', function () {
      var asc = th.dataset.dir !== 'asc';
      Array.prototype.forEach.call(heads, function (h) { delete h.dataset.dir; });
      th.dataset.dir = asc ? 'asc' : 'desc';
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function value(row) {
        var cell = row.cells[index];
        var text = cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent.trim();
        if (text === '') return null;
        var number = Number(text);
        return isNaN(number) ? text : number;
      }
      rows.sort(function (a, b) {
        var x = value(a), y = value(b);
        if (x === null) return y === null ? 0 : 1;
        if (y === null) return -1;
        if (typeof x !== typeof y) return typeof x === 'number' ? -1 : 1;
        return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
(function () {
  var selected = {};
  function runs(el) {
    if (el.dataset.run !== undefined) return [el.dataset.run];
    try { return JSON.parse(el.dataset.runs || '[]'); } catch (e) { return []; }
  }
  function marked() { return document.querySelectorAll('[data-run],[data-runs]'); }
  function any(keys, set) { return keys.some(function (k) { return set[k]; }); }
  function paint() {
    var some = Object.keys(selected).length > 0;
    document.body.classList.toggle('has-hl', some);
    Array.prototype.forEach.call(marked(), function (el) {
      var on = any(runs(el), selected);
      el.classList.toggle('hl', on);
      if (on && el.tagName.toLowerCase() === 'g') el.parentNode.appendChild(el);  // on top
    });
  }
  function toggle(el) {
    var keys = runs(el);
    var all = keys.every(function (k) { return selected[k]; });
    keys.forEach(function (k) { if (all) delete selected[k]; else selected[k] = true; });
    paint();
    if (!all && !el.closest('.legend')) reveal(keys[0]);
  }
  function reveal(key) {  // scroll the legend (and only the legend) to a run's entry
    Array.prototype.forEach.call(document.querySelectorAll('.legend-list'), function (list) {
      var li = Array.prototype.find.call(list.querySelectorAll('li.legend-run'), function (e) {
        return e.dataset.run === key;
      });
      if (!li) return;
      var box = list.getBoundingClientRect(), at = li.getBoundingClientRect();
      var lo = Math.max(box.top, 0), hi = Math.min(box.bottom, window.innerHeight);
      if (hi - lo < 2 * at.height) { lo = box.top; hi = box.top + list.clientHeight / 2; }
      if (at.top < lo || at.bottom > hi) list.scrollTop += at.top - (lo + hi) / 2;
    });
  }
  function hover(el, on) {
    var keys = {};
    runs(el).forEach(function (k) { keys[k] = true; });
    Array.prototype.forEach.call(marked(), function (other) {
      other.classList.toggle('hover', on && any(runs(other), keys));
    });
  }
  var pickable = 'tr[data-run],tr[data-runs],.legend [data-run],.legend [data-runs],' +
    'g.curve,g.band';
  document.addEventListener('click', function (event) {
    if (event.target.closest('a,input,button,label,th,summary')) return;
    var el = event.target.closest(pickable);
    if (el) toggle(el);
  });
  var hovered = null;
  document.addEventListener('mouseover', function (event) {
    var el = event.target.closest('.legend [data-run],.legend [data-runs],g.curve');
    if (el === hovered) return;
    if (hovered) hover(hovered, false);
    hovered = el;
    if (el) hover(el, true);
  });
  Array.prototype.forEach.call(document.querySelectorAll('.curves'), function (box) {
    var clear = box.querySelector('.legend-clear');
    if (clear) clear.addEventListener('click', function () { selected = {}; paint(); });
    var bands = box.querySelector('.show-bands');
    if (bands) bands.addEventListener('change', function () {
      box.classList.toggle('bands', bands.checked);
    });
    var filter = box.querySelector('.legend-filter');
    if (filter) filter.addEventListener('input', function () {
      var text = filter.value.toLowerCase();
      var items = box.querySelectorAll('.legend-list li');
      var group = null, groupShown = false;
      Array.prototype.forEach.call(items, function (li) {
        var hit = !text || li.textContent.toLowerCase().indexOf(text) >= 0;
        if (li.classList.contains('legend-group')) {
          group = li; groupShown = hit; li.hidden = !hit;
        } else {
          var show = hit || groupShown;
          li.hidden = !show;
          if (show && group) group.hidden = false;
        }
      });
    });
  });
})();
"""
