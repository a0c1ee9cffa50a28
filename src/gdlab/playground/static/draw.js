// Drawing: the data over a network's decision heat map (or regression curve) on a canvas, and
// the charts of one run or, in compare mode, of both runs overlaid.
"use strict";

(function () {
  var Gdlab = window.Gdlab = window.Gdlab || {};
  var NEG = [245, 147, 34], POS = [8, 119, 189], WHITE = [255, 255, 255];
  var LAYER_COLORS = ["#7b3294", "#c2a5cf", "#1b7837", "#5aae61", "#e08214", "#b35806", "#2166ac"];
  // the runs' colours on the charts: A blue, B purple (the classes' orange and blue stay
  // with the points)
  var SIDE_COLORS = {a: ["#0877bd", "#e8710a"], b: ["#9c27b0", "#c48ad1"]};

  function tint(p) {
    var target = p < 0.5 ? NEG : POS, t = Math.abs(p - 0.5) * 2 * 0.55;
    return WHITE.map(function (w, i) { return Math.round(w + (target[i] - w) * t); });
  }

  function sizeCanvas(canvas) {
    var ratio = window.devicePixelRatio || 1, size = canvas.clientWidth || 480;
    if (canvas.width !== Math.round(size * ratio)) {
      canvas.width = Math.round(size * ratio);
      canvas.height = Math.round(size * ratio);
    }
    var ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return [ctx, size];
  }

  // The grid as rows x columns and a function (row, column) -> probability of class 1, from
  // either wire form: "values" (rows of numbers) or "values_u8" (base64, one byte per cell).
  function gridOf(b) {
    if (b.values) {
      return {rows: b.values.length, cols: b.values[0].length, at: function (r, c) { return b.values[r][c]; }};
    }
    var raw = atob(b.values_u8), cols = b.shape[1];
    return {rows: b.shape[0], cols: cols, at: function (r, c) { return raw.charCodeAt(r * cols + c) / 255; }};
  }

  function drawHeat(ctx, b, S) {
    var grid = gridOf(b), off = document.createElement("canvas");
    off.width = grid.cols; off.height = grid.rows;
    var octx = off.getContext("2d"), img = octx.createImageData(grid.cols, grid.rows);
    for (var r = 0; r < grid.rows; r++) {
      for (var c = 0; c < grid.cols; c++) {
        var rgb = tint(grid.at(r, c)), k = 4 * (r * grid.cols + c);
        img.data[k] = rgb[0]; img.data[k + 1] = rgb[1]; img.data[k + 2] = rgb[2]; img.data[k + 3] = 255;
      }
    }
    octx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(off, 0, 0, S, S);
  }

  // The points of `data` over the prediction `b` on `canvas` (smaller points on a small view).
  function boundary(canvas, data, b, showVal) {
    var got = sizeCanvas(canvas), ctx = got[0], S = got[1];
    var e = data.extent, radius = S < 300 ? 2.4 : 3.4;
    var X = function (x) { return (x - e[0]) / (e[1] - e[0]) * S; };
    var Y = function (y) { return (1 - (y - e[2]) / (e[3] - e[2])) * S; };
    var classify = data.task === "classification";
    ctx.fillStyle = "#fbfbfc";
    ctx.fillRect(0, 0, S, S);
    if (classify && b && (b.values || b.values_u8)) drawHeat(ctx, b, S);
    ctx.strokeStyle = "rgba(0,0,0,0.18)"; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(X(0), 0); ctx.lineTo(X(0), S); ctx.moveTo(0, Y(0)); ctx.lineTo(S, Y(0)); ctx.stroke();
    var points = function (Xs, ys, outlined) {
      for (var i = 0; i < Xs.length; i++) {
        var px = X(Xs[i][0]), py = Y(classify ? Xs[i][1] : ys[i]);
        var c = classify ? (ys[i] === 1 ? POS : NEG) : POS;
        ctx.beginPath(); ctx.arc(px, py, radius, 0, 2 * Math.PI);
        ctx.fillStyle = "rgb(" + c.join(",") + ")"; ctx.fill();
        ctx.strokeStyle = outlined ? "#1d2329" : "#ffffff"; ctx.lineWidth = outlined ? 1.3 : 1;
        ctx.stroke();
      }
    };
    points(data.X, data.y, false);
    if (showVal) points(data.X_val, data.y_val, true);
    if (!classify && b && b.x) {
      ctx.strokeStyle = "#1d2329"; ctx.lineWidth = 2.2; ctx.beginPath();
      b.x.forEach(function (x, i) { if (i) ctx.lineTo(X(x), Y(b.y[i])); else ctx.moveTo(X(x), Y(b.y[i])); });
      ctx.stroke();
    }
  }

  function series(history, key, decimate) {
    var out = [], h = history;
    for (var i = 0; i < h.length; i += decimate) {
      var v = h[i][key];
      out.push([h[i].step, v === undefined ? null : v]);
    }
    if (h.length && (h.length - 1) % decimate) out.push([h[h.length - 1].step, h[h.length - 1][key]]);
    return out;
  }

  function gradSeries(side, k, compare) {
    var h = side.history, last = h[h.length - 1];
    var layers = last && last.grad_norms ? last.grad_norms.length : 0, out = [];
    for (var i = 0; i < layers; i++) {
      var name = i === layers - 1 ? (compare ? "out" : "output") : (compare ? "L" : "layer ") + (i + 1);
      out.push({
        name: side.name === "b" ? "" : name, color: LAYER_COLORS[i % LAYER_COLORS.length],
        dash: side.name === "b",
        points: h.filter(function (e, j) { return j % k === 0 || j === h.length - 1; }).map(function (e) {
          return [e.step, e.grad_norms ? e.grad_norms[i] : null];
        })
      });
    }
    if (compare && side.name === "b" && layers) out.push({name: "dashed: B", color: "#5b6470", points: []});
    return out;
  }

  // Every chart, from the runs' histories: one run, or A and B overlaid in compare mode.
  function charts(c, sides, compare, logLoss) {
    var steps = 10, longest = 1;
    sides.forEach(function (s) {
      var last = s.history[s.history.length - 1];
      if (last) steps = Math.max(steps, last.step);
      longest = Math.max(longest, s.history.length);
    });
    var view = {xMax: steps}, k = Math.max(1, Math.ceil(longest / 1500));
    var label = function (s, what) {
      return compare ? s.name.toUpperCase() + " " + (what === "training" ? "train" : "val") : what;
    };
    var loss = [], metric = [], grads = [], lrs = [];
    sides.forEach(function (s) {
      var col = SIDE_COLORS[s.name], val = compare ? col[0] : col[1];
      if (!compare) loss.push({name: "batch", color: "#c3c8ce", points: series(s.history, "batch_loss", k)});
      loss.push({name: label(s, "training"), color: col[0], points: series(s.history, "loss", k)});
      loss.push({name: label(s, "validation"), color: val, points: series(s.history, "val_loss", k), dash: true});
      metric.push({name: label(s, "training"), color: col[0], points: series(s.history, "accuracy", k)});
      metric.push({name: label(s, "validation"), color: val, points: series(s.history, "val_accuracy", k), dash: true});
      grads = grads.concat(gradSeries(s, k, compare));
      lrs.push({name: compare ? s.name.toUpperCase() : "", color: col[0], points: series(s.history, "lr", k),
                dash: s.name === "b"});
    });
    c.loss.options.log = logLoss;
    c.loss.draw(loss, view);
    c.metric.draw(metric, view);
    c.grad.draw(grads, view);
    c.lr.draw(lrs, view);
  }

  Gdlab.draw = {boundary: boundary, charts: charts, SIDE_COLORS: SIDE_COLORS};
})();
