"""The page of a running session: its runs and curves, brought up to date by fetch(), no reload.

The script asks /api/live/<session> every POLL_MS for each run's status and
step (with each run's `since`, the offset its last reply gave, so replies stay
small), then /api/charts/<session> for the curves, drawn on the server by
report.html's own chart code (livecharts.py), and stops when the reply says the
session is over. Each chart's `data-points` holds how many points it draws.
"""

from __future__ import annotations

from ..sweep.html.parts import esc
from .pages import page

POLL_MS = 2000

SCRIPT = """
(function () {
  var stamp = document.body.dataset.session, since = {}, runs = {}, timer = null;
  var charts = document.getElementById('charts'), table = document.getElementById('live-runs');
  var state = document.getElementById('live-state');
  function h(t) {
    return String(t).replace(/[&<>"']/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; });
  }
  function draw(html) {
    charts.innerHTML = html;
    var set = document.getElementById('chart-set');
    var colour = set ? JSON.parse(set.dataset.colours || '{}') : {};
    var rows = Object.keys(runs).sort().map(function (k) {
      var r = runs[k];
      return '<tr data-run="' + h(k) + '"><td><span class="swatch" style="background:' +
        h(colour[k] || '#4c72b0') + '"></span>' + h(k) + '</td><td class="status-' +
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
        var held = runs[r.key] || (runs[r.key] = {step: null});
        held.status = r.status; if (r.step !== null && r.step !== undefined) held.step = r.step;
        since[r.key] = r.offset;
      });
      return fetch('/api/charts/' + encodeURIComponent(stamp)).then(function (reply) {
        if (!reply.ok) throw new Error('HTTP ' + reply.status);
        return reply.text();
      }).then(function (html) { draw(html); return live; });
    }).then(function (live) {
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
    script = SCRIPT.replace("POLL_MS", str(POLL_MS))
    body = (
        f"<p id='live-state'>Loading…</p>"
        "<table id='live-runs'><thead><tr><th>run</th><th>status</th><th>step</th></tr></thead>"
        "<tbody></tbody></table><div id='charts'></div>"
        f"<script>{script}</script>"
    )
    html = page(f"Session {stamp} (running)", body).decode("utf-8")
    return html.replace("<body>", f"<body data-session='{esc(stamp)}'>", 1).encode("utf-8")
