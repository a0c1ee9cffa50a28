// Line charts on a canvas: a few series over steps, linear or log scale, with axes and a
// legend. Small on purpose (no charting library to vendor, load or keep up to date).
"use strict";

(function () {
  function niceStep(span, target) {
    var raw = span / Math.max(1, target);
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var unit = raw / mag;
    var nice = unit < 1.5 ? 1 : unit < 3 ? 2 : unit < 7 ? 5 : 10;
    return nice * mag;
  }

  function fmt(v) {
    if (v === 0) return "0";
    var a = Math.abs(v);
    if (a >= 1e4 || a < 1e-3) return v.toExponential(0).replace("e+", "e");
    if (a >= 100) return v.toFixed(0);
    return String(Number(v.toPrecision(3)));
  }

  // chart = new LineChart(canvas, {log: bool, yLabel: str, yMin: number, yMax: number})
  // chart.draw([{name, color, points: [[x, y], ...], dash: bool}], {xMax: number})
  function LineChart(canvas, options) {
    this.canvas = canvas;
    this.options = options || {};
    this.cssWidth = canvas.width;
    this.cssHeight = canvas.height;
    this.fit();
  }

  LineChart.prototype.fit = function () {
    var ratio = window.devicePixelRatio || 1;
    var width = this.canvas.clientWidth || this.cssWidth;
    this.cssWidth = width;
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(this.cssHeight * ratio);
    this.ctx = this.canvas.getContext("2d");
    this.ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  };

  LineChart.prototype.range = function (series) {
    var log = !!this.options.log, lo = Infinity, hi = -Infinity;
    series.forEach(function (s) {
      s.points.forEach(function (p) {
        var y = p[1];
        if (y === null || !isFinite(y) || (log && y <= 0)) return;
        if (y < lo) lo = y;
        if (y > hi) hi = y;
      });
    });
    if (this.options.yMin !== undefined) lo = Math.min(lo, this.options.yMin);
    if (this.options.yMax !== undefined) hi = Math.max(hi, this.options.yMax);
    if (!isFinite(lo)) { lo = log ? 0.1 : 0; hi = 1; }
    if (log) {
      lo = Math.pow(10, Math.floor(Math.log10(lo)));
      hi = Math.pow(10, Math.ceil(Math.log10(hi) + 1e-9));
      if (hi <= lo) hi = lo * 10;
    } else if (hi - lo < 1e-12) {
      hi = lo === 0 ? 1 : lo + Math.abs(lo) * 0.5;
      if (this.options.yMin === undefined) lo -= hi - lo;
    } else if (this.options.yMax === undefined) {
      hi += (hi - lo) * 0.08;  // headroom: a line at the top stays off the frame
    }
    return [lo, hi];
  };

  LineChart.prototype.draw = function (series, view) {
    var ctx = this.ctx, W = this.cssWidth, H = this.cssHeight, log = !!this.options.log;
    var left = 46, right = 16, top = 18, bottom = 20;
    var pw = W - left - right, ph = H - top - bottom;
    ctx.clearRect(0, 0, W, H);
    ctx.font = "11px system-ui, sans-serif";
    var xMax = Math.max(1, (view && view.xMax) || 1);
    var yr = this.range(series), lo = yr[0], hi = yr[1];
    var ty = log ? function (y) { return (Math.log10(y) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)); }
                 : function (y) { return (y - lo) / (hi - lo); };
    var X = function (x) { return left + pw * x / xMax; };
    var Y = function (y) { return top + ph * (1 - ty(y)); };
    // grid and axes
    ctx.strokeStyle = "#e3e6ea"; ctx.fillStyle = "#5b6470"; ctx.lineWidth = 1;
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    var ticks = [];
    if (log) {
      var every = Math.max(1, Math.ceil((Math.log10(hi) - Math.log10(lo)) / 4));
      for (var e = Math.log10(lo); e <= Math.log10(hi) + 1e-9; e += every) ticks.push(Math.pow(10, e));
    } else {
      var st = niceStep(hi - lo, Math.max(2, Math.min(5, Math.floor(ph / 28))));
      for (var t = Math.ceil(lo / st) * st; t <= hi + st * 1e-6; t += st) ticks.push(t);
    }
    ticks.forEach(function (t) {
      var y = Y(t);
      ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + pw, y); ctx.stroke();
      ctx.fillText(fmt(t), left - 4, y);
    });
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    var xs = Math.max(1, niceStep(xMax, 5));  // steps are whole numbers
    for (var x = 0; x <= xMax + 1e-9; x += xs) ctx.fillText(fmt(x), X(x), top + ph + 4);
    ctx.strokeStyle = "#9aa3ad";
    ctx.strokeRect(left, top, pw, ph);
    // series, clipped to the plot
    ctx.save();
    ctx.beginPath(); ctx.rect(left, top, pw, ph); ctx.clip();
    series.forEach(function (s) {
      ctx.strokeStyle = s.color; ctx.lineWidth = 1.6;
      ctx.setLineDash(s.dash ? [5, 3] : []);
      ctx.beginPath();
      var pen = false, last = null;
      s.points.forEach(function (p) {
        var y = p[1];
        if (y === null || !isFinite(y) || (log && y <= 0)) { pen = false; return; }
        var cx = X(p[0]), cy = Y(Math.min(Math.max(y, lo), hi));
        if (pen) ctx.lineTo(cx, cy); else ctx.moveTo(cx, cy);
        pen = true;
        last = [cx, cy];
      });
      ctx.stroke();
      if (last) {  // the latest value, also when it is the only one
        ctx.setLineDash([]);
        ctx.fillStyle = s.color;
        ctx.beginPath(); ctx.arc(last[0], last[1], 2.6, 0, 2 * Math.PI); ctx.fill();
      }
    });
    ctx.restore();
    ctx.setLineDash([]);
    // legend, above the plot
    var lx = left;
    ctx.textAlign = "left"; ctx.textBaseline = "top";
    series.forEach(function (s) {
      if (!s.name) return;
      ctx.fillStyle = s.color; ctx.fillRect(lx, 6, 10, 3);
      ctx.fillStyle = "#303840"; ctx.fillText(s.name, lx + 13, 2);
      lx += 20 + ctx.measureText(s.name).width;
    });
  };

  window.LineChart = LineChart;
})();
