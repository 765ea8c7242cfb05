"""The page of a running session: its runs and curves, brought up to date by fetch(), no reload.

The script asks /api/live/<session> every POLL_MS with each run's `since`
(the offset its last reply gave), appends the new points, thins a curve past
KEEP points (every other point of its older part), redraws the SVG charts
(one per series, one line per run) and stops when the reply says the session is over.
Each chart's `data-points` holds how many points it draws (the browser test reads it).
"""

from __future__ import annotations

from ..sweep.html.parts import esc
from .pages import page

POLL_MS = 2000
KEEP = 4000

SCRIPT = """
(function () {
  var stamp = document.body.dataset.session, since = {}, runs = {}, timer = null;
  var colors = ['#1f77b4','#d62728','#2ca02c','#ff7f0e','#9467bd','#8c564b','#e377c2','#17becf'];
  var charts = document.getElementById('charts'), table = document.getElementById('live-runs');
  var state = document.getElementById('live-state');
  function h(t) {
    return String(t).replace(/[&<>"']/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; });
  }
  function thin(s) {
    if (s[0].length <= KEEP) return;
    var cut = Math.floor(s[0].length * 3 / 4), st = [], va = [];
    for (var i = 0; i < cut; i += 2) { st.push(s[0][i]); va.push(s[1][i]); }
    s[0] = st.concat(s[0].slice(cut)); s[1] = va.concat(s[1].slice(cut));
  }
  function chart(name) {
    var id = 'chart-' + name, fig = document.getElementById(id);
    if (!fig) {
      fig = document.createElement('figure'); fig.className = 'chart'; fig.id = id;
      fig.innerHTML = '<figcaption></figcaption><svg class="chart live" viewBox="0 0 640 260" ' +
        'xmlns="http://www.w3.org/2000/svg" data-points="0"></svg>';
      fig.firstChild.textContent = name; charts.appendChild(fig);
    }
    return fig.querySelector('svg');
  }
  function draw() {
    var names = {};
    Object.keys(runs).forEach(function (k) {
      Object.keys(runs[k].series).forEach(function (n) { names[n] = true; });
    });
    Object.keys(names).sort().forEach(function (name) {
      var svg = chart(name), lo = Infinity, hi = -Infinity, s0 = Infinity, s1 = -Infinity, n = 0;
      var keys = Object.keys(runs).sort();
      keys.forEach(function (k) {
        var s = runs[k].series[name]; if (!s) return;
        for (var i = 0; i < s[0].length; i++) {
          var v = s[1][i]; if (v === null) continue;
          lo = Math.min(lo, v); hi = Math.max(hi, v);
          s0 = Math.min(s0, s[0][i]); s1 = Math.max(s1, s[0][i]); n++;
        }
      });
      if (hi === lo) { hi += 1; lo -= 1; } if (s1 === s0) { s1 += 1; }
      var out = '<rect x="50" y="10" width="580" height="220" fill="none" stroke="#ddd"/>' +
        '<text x="46" y="18" text-anchor="end" font-size="11">' + hi.toPrecision(4) + '</text>' +
        '<text x="46" y="230" text-anchor="end" font-size="11">' + lo.toPrecision(4) + '</text>' +
        '<text x="50" y="248" font-size="11">' + s0 + '</text>' +
        '<text x="630" y="248" text-anchor="end" font-size="11">step ' + s1 + '</text>';
      keys.forEach(function (k, index) {
        var s = runs[k].series[name]; if (!s) return;
        var pts = [];
        for (var i = 0; i < s[0].length; i++) {
          if (s[1][i] === null) continue;
          pts.push((50 + 580 * (s[0][i] - s0) / (s1 - s0)).toFixed(1) + ',' +
                   (230 - 220 * (s[1][i] - lo) / (hi - lo)).toFixed(1));
        }
        out += '<g class="curve" data-run="' + h(k) + '">' +
          '<polyline fill="none" stroke-width="1.5" stroke="' + colors[index % colors.length] +
          '" points="' + pts.join(' ') + '"/></g>';
      });
      svg.innerHTML = out; svg.setAttribute('data-points', n);
    });
    var rows = Object.keys(runs).sort().map(function (k, index) {
      var r = runs[k];
      return '<tr data-run="' + h(k) + '"><td><span class="swatch" style="background:' +
        colors[index % colors.length] + '"></span>' + h(k) + '</td><td class="status-' +
        h(r.status) + '">' + h(r.status) + '</td><td class="num">' +
        (r.step === null ? '' : r.step) + '</td></tr>';
    });
    table.tBodies[0].innerHTML = rows.join('');
  }
  function poll() {
    var query = Object.keys(since).map(function (k) {
      return 'since=' + encodeURIComponent(k + ':' + since[k]);
    }).join('&');
    fetch('/api/live/' + encodeURIComponent(stamp) + '?' + query).then(function (reply) {
      if (!reply.ok) throw new Error('HTTP ' + reply.status);
      return reply.json();
    }).then(function (live) {
      live.runs.forEach(function (r) {
        var held = runs[r.key];
        if (!held || r.reset) { held = runs[r.key] = {series: {}}; }
        held.status = r.status; if (r.step !== null && r.step !== undefined) held.step = r.step;
        if (held.step === undefined) held.step = null;
        Object.keys(r.series).forEach(function (n) {
          var s = held.series[n] || (held.series[n] = [[], []]);
          s[0] = s[0].concat(r.series[n][0]); s[1] = s[1].concat(r.series[n][1]); thin(s);
        });
        since[r.key] = r.offset;
      });
      draw();
      if (live.over) {
        state.textContent = 'The session is over: the page no longer updates. ';
        state.dataset.over = 'true';
        var a = document.createElement('a'); a.href = '/session/' + stamp + '/';
        a.textContent = 'its report'; state.appendChild(a);
      } else {
        state.textContent = 'Live: updated ' + new Date().toLocaleTimeString();
        timer = setTimeout(poll, POLL_MS);
      }
    }).catch(function (error) {
      state.textContent = 'Cannot reach the server (' + error.message + '); trying again.';
      timer = setTimeout(poll, POLL_MS * 2);
    });
  }
  poll();
})();
"""


def live(stamp: str) -> bytes:
    """The live page of a session (its runs and curves come from the script)."""
    script = SCRIPT.replace("POLL_MS", str(POLL_MS)).replace("KEEP", str(KEEP))
    body = (
        f"<p id='live-state'>Loading…</p>"
        "<table id='live-runs'><thead><tr><th>run</th><th>status</th><th>step</th></tr></thead>"
        "<tbody></tbody></table><div class='charts' id='charts'></div>"
        f"<script>{script}</script>"
    )
    html = page(f"Session {stamp} (running)", body).decode("utf-8")
    return html.replace("<body>", f"<body data-session='{esc(stamp)}'>", 1).encode("utf-8")
