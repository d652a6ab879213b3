// seamless report.html: the probes of one run as a uPlot chart.
// Reads the JSON in #data (analyzer/src/html/data.rs), draws ok probes
// (thinned) and every failed probe by kind on a log latency axis, the
// failure windows shaded, the timeline events as toggleable lines; drag to
// zoom, double-click to zoom out, hover for a probe's record. When drawn it
// sets body[data-drawn]; an error sets body[data-errors] (the tests read
// both).
(function () {
  "use strict";
  var errors = [];
  function fail(msg) {
    errors.push(String(msg));
    document.body.dataset.errors = errors.join(" | ");
  }
  window.addEventListener("error", function (e) { fail(e.message); });
  var consoleError = console.error;
  console.error = function () {
    fail(Array.prototype.join.call(arguments, " "));
    consoleError.apply(console, arguments);
  };

  var D = JSON.parse(document.getElementById("data").textContent);
  var KIND_COLOURS = {
    connect_refused: "#d62728", reset: "#ff7f0e", connect_timeout: "#9467bd",
    timeout: "#8c564b", closed_before_status: "#e377c2", bad_status: "#bcbd22",
  };
  var OTHER = ["#17becf", "#7f7f7f", "#2ca02c", "#1f77b4"];
  var MIN_MS = 0.001;

  // One x array for every point, in time order; each point keeps where it
  // came from (series, index) for the hover.
  var nOk = D.ok.t.length, nFail = D.failed.t.length, n = nOk + nFail;
  var xs = new Array(n), src = new Array(n);
  var ys = [new Array(n).fill(null)];
  D.kinds.forEach(function () { ys.push(new Array(n).fill(null)); });
  var i = 0, j = 0;
  for (var k = 0; k < n; k++) {
    var takeOk = j >= nFail || (i < nOk && D.ok.t[i] <= D.failed.t[j]);
    if (takeOk) {
      xs[k] = D.ok.t[i];
      ys[0][k] = Math.max(D.ok.ms[i], MIN_MS);
      src[k] = [-1, i++];
    } else {
      xs[k] = D.failed.t[j];
      ys[1 + D.failed.kind[j]][k] = Math.max(D.failed.ms[j], MIN_MS);
      src[k] = [D.failed.kind[j], j++];
    }
  }

  function dots(colour, size) {
    return { show: true, size: size, stroke: colour, fill: colour };
  }
  var series = [
    { label: "s since probing started" },
    { label: "ok (" + D.ok_total + ", " + nOk + " drawn)", stroke: "#4a90d9",
      paths: function () { return null; }, points: dots("#4a90d9", 3) },
  ];
  D.kinds.forEach(function (kind, x) {
    var c = KIND_COLOURS[kind] || OTHER[x % OTHER.length];
    var count = D.failed.kind.filter(function (v) { return v === x; }).length;
    series.push({ label: kind + " (" + count + ")", stroke: c,
      paths: function () { return null; }, points: dots(c, 6) });
  });

  // Event toggles, one per kind.
  var shown = {};
  var box = document.getElementById("events");
  var kinds = [];
  D.events.forEach(function (e) { if (kinds.indexOf(e.kind) < 0) kinds.push(e.kind); });
  kinds.forEach(function (kind) {
    shown[kind] = true;
    var label = document.createElement("label");
    var cb = document.createElement("input");
    cb.type = "checkbox";
    cb.checked = true;
    cb.onchange = function () { shown[kind] = cb.checked; plot.redraw(false); };
    label.appendChild(cb);
    label.appendChild(document.createTextNode(" " + kind));
    box.appendChild(label);
  });

  function drawBands(u) {
    var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
    ctx.save();
    if (D.rollout) {
      var r0 = u.valToPos(D.rollout[0], "x", true), r1 = u.valToPos(D.rollout[1], "x", true);
      ctx.fillStyle = "rgba(120,120,120,0.08)";
      ctx.fillRect(r0, top, Math.max(r1 - r0, 1), h);
    }
    ctx.fillStyle = "rgba(214,39,40,0.18)";
    D.windows.forEach(function (w) {
      var a = u.valToPos(w[0], "x", true), b = u.valToPos(w[1], "x", true);
      ctx.fillRect(a - 1, top, Math.max(b - a, 0) + 2, h);
    });
    ctx.restore();
  }
  function drawEvents(u) {
    var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
    var px = window.devicePixelRatio || 1;
    ctx.save();
    ctx.strokeStyle = "rgba(60,60,60,0.7)";
    ctx.fillStyle = "#333";
    ctx.font = (11 * px) + "px sans-serif";
    // uPlot leaves its axes' alignment on the context.
    ctx.textAlign = "left";
    ctx.textBaseline = "alphabetic";
    ctx.setLineDash([4 * px, 3 * px]);
    // Labels go in the first of a few rows where they do not overlap the
    // previous label; with no room, the line alone (the label is in the
    // table and the toggles).
    var rowEnd = [];
    var ROWS = 8;
    D.events.forEach(function (e) {
      if (!shown[e.kind]) return;
      var x = u.valToPos(e.t, "x", true);
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + h);
      ctx.stroke();
      var w = ctx.measureText(e.label).width;
      var lx = x + 3 * px;
      if (lx + w > u.bbox.left + u.bbox.width) lx = x - 3 * px - w;
      for (var row = 0; row < ROWS; row++) {
        if (rowEnd[row] === undefined || lx > rowEnd[row] + 4 * px) {
          rowEnd[row] = lx + w;
          ctx.fillText(e.label, lx, top + (12 + 13 * row) * px);
          break;
        }
      }
    });
    ctx.restore();
  }
  function showProbe(u) {
    var idx = u.cursor.idx;
    if (idx == null) return;
    var s = src[idx], rec = s[0] < 0 ? D.ok : D.failed;
    var b = rec.backend[s[1]];
    var wall = D.t0_ns / 1e9 + rec.t[s[1]];
    document.getElementById("probe").textContent =
      "t = +" + rec.t[s[1]].toFixed(6) + " s (" + new Date(wall * 1000).toISOString() + ")" +
      "   outcome: " + (s[0] < 0 ? "ok" : D.kinds[s[0]]) +
      "   latency: " + rec.ms[s[1]].toFixed(3) + " ms" +
      "   backend: " + (b >= 0 ? D.backends[b] : "none");
  }

  var width = Math.max(600, Math.min(1400, window.innerWidth - 40));
  var plot = new uPlot({
    width: width,
    height: 520,
    series: series,
    scales: { x: { time: false }, y: { distr: 3 } },
    axes: [{ label: "seconds since probing started" }, { label: "response time (ms, log)" }],
    cursor: { drag: { x: true, y: false }, points: { show: false } },
    hooks: {
      drawClear: [drawBands],
      draw: [drawEvents],
      setCursor: [showProbe],
      ready: [function () {
        document.body.dataset.drawn = "failed=" + nFail + " ok=" + nOk;
      }],
    },
  }, [xs].concat(ys), document.getElementById("chart"));
})();
