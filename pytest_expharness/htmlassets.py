"""The inline CSS and JavaScript of report.html (no network, no framework)."""

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
tr.best td{background:#fff6d5;font-weight:600}
.status-completed{color:#1a7f37}.status-failed,.status-crashed{color:#cf222e}
.status-skipped,.status-interrupted,.status-running{color:#9a6700}.status-reused{color:#0969da}
dl.head{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}dl.head dt{color:#666}
dl.head dd{margin:0}code{background:#f6f8fa;padding:1px 4px;border-radius:3px}
.plots{display:flex;flex-wrap:wrap;gap:12px}.plots img{max-width:100%;border:1px solid #eee}
.run{border:1px solid #e5e7eb;border-radius:6px;padding:.4em 1em;margin:1em 0}
.recommend{background:#e7f5ec;border-left:4px solid #1a7f37;padding:.5em 1em}
.links a{margin-right:.8em}
.wide{overflow-x:auto;max-width:100%}
"""
SCRIPT = """
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
"""
