// The settings form: built from GET /api/options, read as a configuration (the JSON object
// the API takes), set from one (as the server returns it, or as a link gives it).
"use strict";

(function () {
  var Gdlab = window.Gdlab = window.Gdlab || {};
  var LRS = [0.00001, 0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 100];
  var BATCHES = ["full", 1, 2, 4, 8, 16, 32, 64, 128];
  var ALPHAS = [0, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1];
  var STEP_LIMITS = [100, 200, 500, 1000, 2000, 3000, 5000, 10000, 20000, 50000, 100000];
  var $ = function (id) { return document.getElementById(id); };
  var form = {options: null, dataset: null, widths: [], activations: [], onChange: null};

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

  var batchLabel = function (v) {
    return v === "full" ? "full (batch GD)" : String(v) === "1" ? "1 (stochastic)" : String(v);
  };
  var alphaLabel = function (v) { return Number(v) === 0 ? "none" : String(v); };
  var stepsLabel = function (v) { return Number(v).toLocaleString("en-US"); };

  function build(options, onChange) {
    form.options = options;
    form.onChange = onChange;
    var box = $("datasets");
    Object.keys(options.datasets).forEach(function (name) {
      var b = document.createElement("button");
      b.type = "button"; b.textContent = name; b.dataset.name = name;
      b.setAttribute("role", "radio");
      b.title = options.datasets[name].description + " (" + options.datasets[name].task + ")";
      b.addEventListener("click", function () { setDataset(name); onChange(0); });
      box.appendChild(b);
    });
    fillSelect($("activation-all"), options.activations);
    fillSelect($("optimizer"), Object.keys(options.optimizers));
    fillSelect($("lr"), LRS);
    fillSelect($("batch_size"), BATCHES, batchLabel);
    fillSelect($("alpha"), ALPHAS, alphaLabel);
    fillSelect($("max_steps"), STEP_LIMITS, stepsLabel);
    $("n_samples").max = options.limits.n_samples[1];
    $("seed").max = options.limits.seed;
    wire();
  }

  function setDataset(name) {
    form.dataset = name;
    Array.prototype.forEach.call($("datasets").children, function (b) {
      b.classList.toggle("selected", b.dataset.name === name);
      b.setAttribute("aria-checked", b.dataset.name === name ? "true" : "false");
    });
  }

  function renderLayers() {
    var list = $("layers"), acts = form.options.activations;
    list.innerHTML = "";
    form.widths.forEach(function (w, i) {
      var li = document.createElement("li");
      var label = document.createElement("span");
      label.textContent = "layer " + (i + 1);
      var width = document.createElement("input");
      width.type = "number"; width.min = 1; width.max = form.options.limits.width; width.value = w;
      width.title = "units in hidden layer " + (i + 1);
      width.addEventListener("change", function () {
        form.widths[i] = parseInt(width.value, 10);
        form.onChange();
      });
      var act = document.createElement("select");
      fillSelect(act, acts);
      selectValue(act, form.activations[i]);
      act.title = "activation of hidden layer " + (i + 1);
      act.addEventListener("change", function () { form.activations[i] = act.value; form.onChange(); });
      li.appendChild(label); li.appendChild(width); li.appendChild(act);
      list.appendChild(li);
    });
    var n = form.widths.length;
    $("layer-count").textContent = n + " hidden layer" + (n === 1 ? "" : "s");
    $("add-layer").disabled = n >= form.options.limits.layers;
    $("remove-layer").disabled = n === 0;
    var same = form.activations.every(function (a) { return a === form.activations[0]; });
    if (n && same) $("activation-all").value = form.activations[0];
  }

  function showHypers(optimizer, fill) {
    var takes = form.options.optimizers[optimizer] || {};
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

  // The configuration the form shows: every setting of the page (record_every is left out).
  function read() {
    var takes = form.options.optimizers[$("optimizer").value] || {};
    var acts = form.activations;
    var same = acts.every(function (a) { return a === acts[0]; });
    var batch = $("batch_size").value;
    var config = {
      dataset: form.dataset, n_samples: Number($("n_samples").value),
      noise: Number($("noise").value), val_size: Number($("val_size").value),
      layers: form.widths.slice(), activation: same ? (acts[0] || $("activation-all").value) : acts.slice(),
      batchnorm: $("batchnorm").checked, dropout: Number($("dropout").value),
      optimizer: $("optimizer").value, lr: Number($("lr").value),
      momentum: null, betas: null, weight_decay: null,
      batch_size: batch === "full" ? "full" : parseInt(batch, 10),
      alpha: Number($("alpha").value), clip_norm: numberOrNull($("clip_norm")),
      schedule: $("schedule").value.trim() || null,
      seed: parseInt($("seed").value, 10), max_steps: parseInt($("max_steps").value, 10)
    };
    if ("momentum" in takes) config.momentum = numberOrNull($("momentum"));
    if ("betas" in takes) config.betas = [numberOrNull($("beta1")), numberOrNull($("beta2"))];
    if ("weight_decay" in takes) config.weight_decay = numberOrNull($("weight_decay"));
    return config;
  }

  // Show a configuration (complete, or completed with the defaults) in the form.
  function set(config) {
    var c = Object.assign({}, form.options.defaults, config);
    setDataset(c.dataset);
    $("n_samples").value = c.n_samples; $("noise").value = c.noise; $("val_size").value = c.val_size;
    $("seed").value = c.seed;
    form.widths = c.layers.slice();
    form.activations = typeof c.activation === "string"
      ? c.layers.map(function () { return c.activation; }) : c.activation.slice();
    if (typeof c.activation === "string") $("activation-all").value = c.activation;
    renderLayers();
    $("batchnorm").checked = c.batchnorm; $("dropout").value = c.dropout;
    selectValue($("optimizer"), c.optimizer);
    showHypers(c.optimizer, true);
    if (c.momentum !== null) $("momentum").value = c.momentum;
    if (c.betas !== null) { $("beta1").value = c.betas[0]; $("beta2").value = c.betas[1]; }
    if (c.weight_decay !== null) $("weight_decay").value = c.weight_decay;
    selectValue($("lr"), c.lr);
    selectValue($("batch_size"), c.batch_size, batchLabel);
    selectValue($("alpha"), c.alpha, alphaLabel);
    $("clip_norm").value = c.clip_norm === null ? "" : c.clip_norm;
    $("schedule").value = c.schedule || "";
    selectValue($("max_steps"), c.max_steps, stepsLabel);
    showOutputs();
  }

  function showOutputs() {
    ["n_samples", "noise", "val_size", "dropout"].forEach(function (id) {
      $(id + "_out").textContent = $(id).value;
    });
  }

  function wire() {
    var el = $("settings");
    el.addEventListener("input", showOutputs);   // a slider starts a run when let go
    el.addEventListener("change", function (ev) {
      if (ev.target.id === "optimizer") showHypers(ev.target.value, true);
      if (ev.target.id === "activation-all") {
        form.activations = form.widths.map(function () { return ev.target.value; });
        renderLayers();
      }
      if (ev.target.closest("#layers")) return;  // the layer rows start their own run
      form.onChange();
    });
    el.addEventListener("submit", function (ev) { ev.preventDefault(); });
    $("add-layer").addEventListener("click", function () {
      var n = form.widths.length;
      form.widths.push(n ? form.widths[n - 1] : 4);
      form.activations.push(n ? form.activations[n - 1] : $("activation-all").value);
      renderLayers(); form.onChange(0);
    });
    $("remove-layer").addEventListener("click", function () {
      form.widths.pop(); form.activations.pop();
      renderLayers(); form.onChange(0);
    });
  }

  // Outline the inputs of the setting `field` names (a key, or "a.key"/"b.key" in compare mode).
  function markInvalid(field) {
    document.querySelectorAll(".invalid").forEach(function (el) { el.classList.remove("invalid"); });
    if (!field) return;
    var key = field.replace(/^a\./, "");
    if (key.slice(0, 2) === "b.") {
      var chip = document.querySelector("#changes [data-key='" + key.slice(2) + "']");
      if (chip) chip.classList.add("invalid");
      return;
    }
    document.querySelectorAll("[name='" + key + "']").forEach(function (el) { el.classList.add("invalid"); });
  }

  Gdlab.form = {build: build, read: read, set: set, markInvalid: markInvalid, showHypers: showHypers};
})();
