// The gdlab playground page: settings -> a run on the server (paused at step 0), its live
// stream (Server-Sent Events) -> the decision boundary and the charts. Everything it shows
// comes from the JSON API that the README documents; nothing is computed here but colours.
"use strict";

(function () {
  var NEG = [245, 147, 34], POS = [8, 119, 189], WHITE = [255, 255, 255];
  var LAYER_COLORS = ["#7b3294", "#c2a5cf", "#1b7837", "#5aae61", "#e08214", "#b35806", "#2166ac"];
  var LRS = [0.00001, 0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 100];
  var BATCHES = ["full", 1, 2, 4, 8, 16, 32, 64, 128];
  var ALPHAS = [0, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1];
  var STEP_LIMITS = [100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];
  var FINISHED = {done: true, diverged: true, stopped: true};

  var $ = function (id) { return document.getElementById(id); };
  var state = {
    options: null, dataset: null, widths: [], activations: [], run: null, summary: null,
    config: null, history: [], data: null, boundary: null, source: null, generation: 0,
    drawPending: false, resetTimer: null
  };
  var charts = {};

  // ---- the API ------------------------------------------------------------------------------
  function api(method, path, body) {
    var init = {method: method, headers: {}};
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (response) {
      return response.json().then(function (json) {
        if (!response.ok) {
          var err = new Error(json.error || ("HTTP " + response.status));
          err.field = json.field;
          throw err;
        }
        return json;
      });
    });
  }

  // ---- the settings form ----------------------------------------------------------------------
  function fillSelect(select, values, label) {
    select.innerHTML = "";
    values.forEach(function (v) { addOption(select, v, label); });
  }

  function addOption(select, value, label) {
    var option = document.createElement("option");
    option.value = String(value);
    option.textContent = label ? label(value) : String(value);
    select.appendChild(option);
    return option;
  }

  function selectValue(select, value, label) {
    var text = String(value);
    var found = Array.prototype.some.call(select.options, function (o) { return o.value === text; });
    if (!found) addOption(select, value, label);
    select.value = text;
  }

  function buildForm(options) {
    var names = Object.keys(options.datasets);
    var box = $("datasets");
    names.forEach(function (name) {
      var b = document.createElement("button");
      b.type = "button"; b.textContent = name; b.dataset.name = name;
      b.setAttribute("role", "radio");
      b.title = options.datasets[name].description + " (" + options.datasets[name].task + ")";
      b.addEventListener("click", function () { setDataset(name); scheduleReset(0); });
      box.appendChild(b);
    });
    fillSelect($("activation-all"), options.activations);
    fillSelect($("optimizer"), Object.keys(options.optimizers));
    fillSelect($("lr"), LRS);
    fillSelect($("batch_size"), BATCHES, function (v) {
      return v === "full" ? "full (batch GD)" : v === 1 ? "1 (stochastic)" : String(v);
    });
    fillSelect($("alpha"), ALPHAS, function (v) { return v === 0 ? "none" : String(v); });
    fillSelect($("max_steps"), STEP_LIMITS, function (v) { return v.toLocaleString("en-US"); });
    var lim = options.limits;
    $("n_samples").max = lim.n_samples[1];
    $("seed").max = lim.seed;
  }

  function setDataset(name) {
    state.dataset = name;
    Array.prototype.forEach.call($("datasets").children, function (b) {
      b.classList.toggle("selected", b.dataset.name === name);
      b.setAttribute("aria-checked", b.dataset.name === name ? "true" : "false");
    });
  }

  function renderLayers() {
    var list = $("layers"), acts = state.options.activations;
    list.innerHTML = "";
    state.widths.forEach(function (w, i) {
      var li = document.createElement("li");
      var label = document.createElement("span");
      label.textContent = "layer " + (i + 1);
      var width = document.createElement("input");
      width.type = "number"; width.min = 1; width.max = state.options.limits.width; width.value = w;
      width.title = "units in hidden layer " + (i + 1);
      width.addEventListener("change", function () {
        state.widths[i] = parseInt(width.value, 10);
        scheduleReset();
      });
      var act = document.createElement("select");
      fillSelect(act, acts);
      selectValue(act, state.activations[i]);
      act.title = "activation of hidden layer " + (i + 1);
      act.addEventListener("change", function () { state.activations[i] = act.value; scheduleReset(); });
      li.appendChild(label); li.appendChild(width); li.appendChild(act);
      list.appendChild(li);
    });
    var n = state.widths.length;
    $("layer-count").textContent = n + " hidden layer" + (n === 1 ? "" : "s");
    $("add-layer").disabled = n >= state.options.limits.layers;
    $("remove-layer").disabled = n === 0;
    var same = state.activations.every(function (a) { return a === state.activations[0]; });
    if (n && same) $("activation-all").value = state.activations[0];
  }

  function showHypers(optimizer, fill) {
    var takes = state.options.optimizers[optimizer] || {};
    document.querySelectorAll("[data-hyper]").forEach(function (label) {
      label.hidden = !(label.dataset.hyper in takes);
    });
    if (!fill) return;
    if ("momentum" in takes) $("momentum").value = takes.momentum;
    if ("betas" in takes) { $("beta1").value = takes.betas[0]; $("beta2").value = takes.betas[1]; }
    if ("weight_decay" in takes) $("weight_decay").value = takes.weight_decay;
  }

  function numberOrNull(el) {
    var text = el.value.trim();
    return text === "" ? null : Number(text);
  }

  function readForm() {
    var takes = state.options.optimizers[$("optimizer").value] || {};
    var acts = state.activations;
    var same = acts.every(function (a) { return a === acts[0]; });
    var batch = $("batch_size").value;
    var config = {
      dataset: state.dataset, n_samples: Number($("n_samples").value),
      noise: Number($("noise").value), val_size: Number($("val_size").value),
      seed: parseInt($("seed").value, 10),
      layers: state.widths.slice(), activation: same ? (acts[0] || $("activation-all").value) : acts.slice(),
      batchnorm: $("batchnorm").checked, dropout: Number($("dropout").value),
      optimizer: $("optimizer").value, lr: Number($("lr").value),
      batch_size: batch === "full" ? "full" : parseInt(batch, 10),
      alpha: Number($("alpha").value), clip_norm: numberOrNull($("clip_norm")),
      schedule: $("schedule").value.trim() || null, max_steps: parseInt($("max_steps").value, 10)
    };
    if ("momentum" in takes) config.momentum = numberOrNull($("momentum"));
    if ("betas" in takes) config.betas = [numberOrNull($("beta1")), numberOrNull($("beta2"))];
    if ("weight_decay" in takes) config.weight_decay = numberOrNull($("weight_decay"));
    return config;
  }

  // Show a complete configuration (as the server returns it) in the form.
  function setForm(c) {
    setDataset(c.dataset);
    $("n_samples").value = c.n_samples; $("noise").value = c.noise; $("val_size").value = c.val_size;
    $("seed").value = c.seed;
    state.widths = c.layers.slice();
    state.activations = typeof c.activation === "string"
      ? c.layers.map(function () { return c.activation; }) : c.activation.slice();
    if (typeof c.activation === "string") $("activation-all").value = c.activation;
    renderLayers();
    $("batchnorm").checked = c.batchnorm; $("dropout").value = c.dropout;
    $("optimizer").value = c.optimizer;
    showHypers(c.optimizer, true);
    if (c.momentum !== null) $("momentum").value = c.momentum;
    if (c.betas !== null) { $("beta1").value = c.betas[0]; $("beta2").value = c.betas[1]; }
    if (c.weight_decay !== null) $("weight_decay").value = c.weight_decay;
    selectValue($("lr"), c.lr);
    selectValue($("batch_size"), c.batch_size);
    selectValue($("alpha"), c.alpha, function (v) { return v === 0 ? "none" : String(v); });
    $("clip_norm").value = c.clip_norm === null ? "" : c.clip_norm;
    $("schedule").value = c.schedule || "";
    selectValue($("max_steps"), c.max_steps, function (v) { return v.toLocaleString("en-US"); });
    showOutputs();
  }

  function showOutputs() {
    ["n_samples", "noise", "val_size", "dropout"].forEach(function (id) {
      $(id + "_out").textContent = $(id).value;
    });
  }

  function wireForm() {
    var form = $("settings");
    form.addEventListener("input", function (ev) {
      showOutputs();
      if (ev.target.type === "range") return;  // reset when the slider is let go
    });
    form.addEventListener("change", function (ev) {
      if (ev.target.id === "optimizer") showHypers(ev.target.value, true);
      if (ev.target.id === "activation-all") {
        state.activations = state.widths.map(function () { return ev.target.value; });
        renderLayers();
      }
      if (ev.target.closest("#layers")) return;  // the layer rows schedule their own reset
      scheduleReset();
    });
    form.addEventListener("submit", function (ev) { ev.preventDefault(); });
    $("add-layer").addEventListener("click", function () {
      var n = state.widths.length;
      state.widths.push(n ? state.widths[n - 1] : 4);
      state.activations.push(n ? state.activations[n - 1] : $("activation-all").value);
      renderLayers(); scheduleReset(0);
    });
    $("remove-layer").addEventListener("click", function () {
      state.widths.pop(); state.activations.pop();
      renderLayers(); scheduleReset(0);
    });
  }

  // ---- runs ------------------------------------------------------------------------------------
  function scheduleReset(delay) {
    clearTimeout(state.resetTimer);
    state.resetTimer = setTimeout(function () { newRun(false); }, delay === undefined ? 250 : delay);
  }

  function stopRun() {
    if (state.source) { state.source.close(); state.source = null; }
    var s = state.summary;
    if (state.run && s && !FINISHED[s.status]) {
      api("POST", "/api/runs/" + state.run + "/stop").catch(function () {});
    }
  }

  // A fresh run of the form's settings, parked at step 0: its data and untrained boundary.
  function newRun(autoplay) {
    var config = readForm();
    var generation = ++state.generation;
    stopRun();
    setStatus("loading");
    return api("POST", "/api/runs?paused=1", config).then(function (run) {
      if (generation !== state.generation) {
        api("POST", "/api/runs/" + run.id + "/stop").catch(function () {});
        return null;
      }
      state.run = run.id; state.summary = run; state.config = run.config; state.history = [];
      markInvalid(null); showMessage(null);
      applyPace();
      return Promise.all([api("GET", "/api/runs/" + run.id + "/data"),
                          api("GET", "/api/runs/" + run.id + "/boundary")]).then(function (got) {
        if (generation !== state.generation) return;
        state.data = got[0]; state.boundary = got[1];
        connect(run.id);
        showSummary(); drawAll();
        document.body.dataset.ready = "1";
        // for whatever follows the settings (a link that carries them, a code panel)
        document.dispatchEvent(new CustomEvent("gdlab:run", {detail: {id: run.id, config: run.config}}));
        if (autoplay) play();
      });
    }).catch(function (err) {
      if (generation !== state.generation) return;
      state.run = null;
      setStatus("invalid");
      showMessage(err.message, "error");
      markInvalid(err.field);
    });
  }

  function connect(id) {
    var source = new EventSource("/api/runs/" + id + "/events?fps=20");
    source.addEventListener("update", function (ev) {
      if (state.run === id) onFrame(JSON.parse(ev.data));
    });
    source.addEventListener("end", function () { source.close(); });
    state.source = source;
  }

  function onFrame(frame) {
    state.summary = frame;
    state.history.length = Math.min(state.history.length, frame.history_start);
    Array.prototype.push.apply(state.history, frame.history);
    if (frame.boundary) state.boundary = frame.boundary;
    showSummary();
    scheduleDraw();
  }

  function control(action) {
    if (!state.run) return Promise.resolve(null);
    return api("POST", "/api/runs/" + state.run + "/" + action).then(function (summary) {
      if (summary.id === state.run) { state.summary = Object.assign({}, state.summary, summary); showSummary(); }
      return summary;
    }).catch(function (err) { showMessage(err.message, "error"); });
  }

  function play() {
    var s = state.summary && state.summary.status;
    if (!state.run || FINISHED[s]) return newRun(true);
    if (s === "running") return control("pause");
    return control("resume");
  }

  function step() {
    var s = state.summary && state.summary.status;
    if (!state.run || FINISHED[s]) return Promise.resolve(null);
    var first = s === "running" ? control("pause") : Promise.resolve(null);
    return first.then(function () { return control("step"); });
  }

  function applyPace() {
    if (!state.run) return;
    var v = $("pace").value;
    api("POST", "/api/runs/" + state.run + "/pace", {steps_per_second: v === "" ? null : Number(v)})
      .catch(function (err) { showMessage(err.message, "error"); });
  }

  // ---- read-outs ---------------------------------------------------------------------------------
  function setStatus(status) {
    var el = $("status");
    el.textContent = status; el.dataset.status = status;
    var running = status === "running";
    $("play").innerHTML = running ? "&#10074;&#10074; Pause" : "&#9654; Play";
    $("step").disabled = !!FINISHED[status] || status === "invalid";
  }

  function fmtNumber(v) {
    if (v === null || v === undefined) return "\u2013";
    var a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : String(Number(v.toPrecision(4)));
  }

  function showSummary() {
    var s = state.summary;
    if (!s) return;
    setStatus(s.status);
    $("stepcount").textContent = s.step.toLocaleString("en-US") + " / " + s.max_steps.toLocaleString("en-US");
    var last = state.history[state.history.length - 1];
    $("epochcount").textContent = last ? fmtNumber(Math.floor(last.epoch * 10) / 10) : "0";
    $("speed").textContent = s.status === "running" ? Math.round(s.steps_per_second).toLocaleString("en-US") + " steps/s" : "\u2013";
    $("lrnow").textContent = fmtNumber(s.lr);
    if (s.status === "diverged" && s.diverged) {
      showMessage("Diverged at step " + s.diverged.step + " with learning rate " + fmtNumber(s.diverged.lr) +
                  ": " + s.diverged.message + ".", "diverged");
    } else if (s.error) {
      showMessage("The run stopped on an error: " + s.error, "error");
    } else if (s.status === "stopped" && s.stopped_because === "idle") {
      showMessage("This run was stopped after a long idle time; press Play for a fresh one.", "info");
    }
  }

  function showMessage(text, kind) {
    var el = $("message");
    el.hidden = !text;
    el.textContent = text || "";
    el.dataset.kind = kind || "";
  }

  function markInvalid(field) {
    document.querySelectorAll(".invalid").forEach(function (el) { el.classList.remove("invalid"); });
    if (!field) return;
    document.querySelectorAll("[name='" + field + "']").forEach(function (el) { el.classList.add("invalid"); });
  }

  // ---- drawing -------------------------------------------------------------------------------------
  function scheduleDraw() {
    if (state.drawPending) return;
    state.drawPending = true;
    requestAnimationFrame(function () { state.drawPending = false; drawAll(); });
  }

  function drawAll() {
    drawBoundary();
    drawCharts();
  }

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

  function drawBoundary() {
    var data = state.data, b = state.boundary;
    if (!data) return;
    var got = sizeCanvas($("boundary")), ctx = got[0], S = got[1];
    var e = data.extent;
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
        ctx.beginPath(); ctx.arc(px, py, 3.4, 0, 2 * Math.PI);
        ctx.fillStyle = "rgb(" + c.join(",") + ")"; ctx.fill();
        ctx.strokeStyle = outlined ? "#1d2329" : "#ffffff"; ctx.lineWidth = outlined ? 1.3 : 1;
        ctx.stroke();
      }
    };
    points(data.X, data.y, false);
    if ($("show-val").checked) points(data.X_val, data.y_val, true);
    if (!classify && b && b.x) {
      ctx.strokeStyle = "#1d2329"; ctx.lineWidth = 2.2; ctx.beginPath();
      b.x.forEach(function (x, i) { if (i) ctx.lineTo(X(x), Y(b.y[i])); else ctx.moveTo(X(x), Y(b.y[i])); });
      ctx.stroke();
    }
    var at = b ? " at step " + b.step.toLocaleString("en-US") : "";
    $("view-title").textContent = classify ? "Decision boundary" + at : "Regression curve" + at;
    $("legend").textContent = classify
      ? "Orange: class 0, blue: class 1; the background is the network's probability of class 1. " +
        "Dark outlines: validation points."
      : "Points: the data (dark outlines: validation); line: the network's prediction.";
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

  function series(key, decimate) {
    var out = [], h = state.history;
    for (var i = 0; i < h.length; i += decimate) {
      var v = h[i][key];
      out.push([h[i].step, v === undefined ? null : v]);
    }
    if (h.length && (h.length - 1) % decimate) out.push([h[h.length - 1].step, h[h.length - 1][key]]);
    return out;
  }

  function drawCharts() {
    var h = state.history, last = h[h.length - 1];
    var view = {xMax: last ? Math.max(last.step, 10) : 10};
    var k = Math.max(1, Math.ceil(h.length / 1500));
    charts.loss.options.log = $("log-loss").checked;
    charts.loss.draw([
      {name: "batch", color: "#c3c8ce", points: series("batch_loss", k)},
      {name: "training", color: "#0877bd", points: series("loss", k)},
      {name: "validation", color: "#e8710a", points: series("val_loss", k), dash: true}
    ], view);
    var classify = !state.data || state.data.task === "classification";
    $("metric-title").hidden = !classify;
    $("metric-chart").hidden = !classify;
    if (classify) {
      charts.metric.draw([
        {name: "training", color: "#0877bd", points: series("accuracy", k)},
        {name: "validation", color: "#e8710a", points: series("val_accuracy", k), dash: true}
      ], view);
    }
    var layers = last && last.grad_norms ? last.grad_norms.length : 0, grads = [];
    for (var i = 0; i < layers; i++) {
      grads.push({
        name: i === layers - 1 ? "output" : "layer " + (i + 1), color: LAYER_COLORS[i % LAYER_COLORS.length],
        points: h.filter(function (e, j) { return j % k === 0 || j === h.length - 1; }).map(function (e) {
          return [e.step, e.grad_norms ? e.grad_norms[i] : null];
        })
      });
    }
    charts.grad.draw(grads, view);
    charts.lr.draw([{name: "", color: "#5b6470", points: series("lr", k)}], view);
  }

  // ---- start ---------------------------------------------------------------------------------------
  function wireControls() {
    $("play").addEventListener("click", play);
    $("step").addEventListener("click", step);
    $("reset").addEventListener("click", function () { newRun(false); });
    $("pace").addEventListener("change", applyPace);
    $("show-val").addEventListener("change", scheduleDraw);
    $("log-loss").addEventListener("change", scheduleDraw);
    document.addEventListener("keydown", function (ev) {
      if (ev.target.closest && ev.target.closest("input, select, textarea")) return;
      if (ev.key === " ") { ev.preventDefault(); play(); }
      else if (ev.key === "s") step();
      else if (ev.key === "r") newRun(false);
    });
    window.addEventListener("pagehide", function () {
      if (state.run && state.summary && !FINISHED[state.summary.status]) {
        fetch("/api/runs/" + state.run + "/stop", {method: "POST", keepalive: true});
      }
    });
    window.addEventListener("resize", function () {
      Object.keys(charts).forEach(function (k) { charts[k].fit(); });
      scheduleDraw();
    });
  }

  function init() {
    charts.loss = new window.LineChart($("loss-chart"), {log: true});
    charts.metric = new window.LineChart($("metric-chart"), {yMin: 0, yMax: 1});
    charts.grad = new window.LineChart($("grad-chart"), {log: true});
    charts.lr = new window.LineChart($("lr-chart"), {yMin: 0});
    wireControls();
    return api("GET", "/api/options").then(function (options) {
      state.options = options;
      buildForm(options);
      var d = options.defaults;
      setForm(Object.assign({}, d, {activation: d.activation}));
      wireForm();
      return newRun(false);
    }).catch(function (err) { showMessage("Cannot reach the playground server: " + err.message, "error"); });
  }

  // For notebooks, tests and links: read or set the settings, and drive the run.
  window.gdlabPlayground = {
    state: state,
    config: readForm,
    setConfig: function (config) {
      var full = Object.assign({}, state.options.defaults, config);
      setForm(full);
      return newRun(false);
    },
    play: play, step: step, reset: function () { return newRun(false); },
    pause: function () { return control("pause"); }
  };

  init();
})();
