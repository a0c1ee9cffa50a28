// Compare mode's settings: the second run (B) is the first (A, the form) with a few settings
// changed; "swap one setting" sets up a classic comparison in one click.
"use strict";

(function () {
  var Gdlab = window.Gdlab = window.Gdlab || {};
  var HYPER = ["momentum", "betas", "weight_decay"];
  var $ = function (id) { return document.getElementById(id); };

  // B's settings: A's with `changes`; a change of optimizer also gives B that optimizer's own
  // hyper-parameters unless `changes` sets them (as links.py's side_b does).
  function sideB(a, changes) {
    var b = Object.assign({}, a, changes);
    if ("optimizer" in changes) {
      HYPER.forEach(function (k) { if (!(k in changes)) b[k] = null; });
    }
    return b;
  }

  function fmt(v) {
    if (v === null || v === undefined) return "default";
    if (Array.isArray(v)) return v.length ? v.join(",") : "none";
    return String(v);
  }

  // One-click comparisons for A's settings: [{label, changes}], each one setting.
  function quickSwaps(a) {
    var swaps = [], lr = a.lr;
    var other = a.optimizer === "sgd" ? "adam" : "sgd";
    swaps.push({label: "optimizer: " + other, changes: {optimizer: other}});
    if (a.optimizer !== "momentum") swaps.push({label: "optimizer: momentum", changes: {optimizer: "momentum"}});
    if (a.optimizer === "adam") swaps.push({label: "optimizer: rmsprop", changes: {optimizer: "rmsprop"}});
    ["full", 1, 16].filter(function (k) { return k !== a.batch_size; }).slice(0, 2).forEach(function (k) {
      swaps.push({label: "batch size: " + k, changes: {batch_size: k}});
    });
    swaps.push({label: "batch norm: " + (a.batchnorm ? "off" : "on"), changes: {batchnorm: !a.batchnorm}});
    swaps.push({label: "learning rate \u00d7 10", changes: {lr: Number((lr * 10).toPrecision(6))}});
    swaps.push({label: "learning rate \u00f7 10", changes: {lr: Number((lr / 10).toPrecision(6))}});
    var act = a.activation === "relu" ? "tanh" : "relu";
    swaps.push({label: "activation: " + act, changes: {activation: act}});
    return swaps;
  }

  // The compare bar: B's changes as chips (x removes one), the quick swaps, and a setter for
  // any setting. `onChange(changes)` gets B's new changes.
  function render(a, changes, keys, onChange) {
    var chips = $("changes");
    chips.innerHTML = "";
    var names = Object.keys(changes);
    if (!names.length) chips.textContent = "nothing yet: B is A";
    names.forEach(function (key) {
      var chip = document.createElement("span");
      chip.className = "chip"; chip.dataset.key = key;
      chip.textContent = key + ": " + fmt(a[key]) + " \u2192 " + fmt(changes[key]) + " ";
      var x = document.createElement("button");
      x.type = "button"; x.textContent = "\u00d7"; x.title = "B takes A's " + key + " again";
      x.addEventListener("click", function () {
        var next = Object.assign({}, changes);
        delete next[key];
        onChange(next);
      });
      chip.appendChild(x);
      chips.appendChild(chip);
    });
    var box = $("swaps");
    box.innerHTML = "";
    quickSwaps(a).forEach(function (swap) {
      var b = document.createElement("button");
      b.type = "button"; b.className = "swap"; b.textContent = swap.label;
      var key = Object.keys(swap.changes)[0];
      b.dataset.key = key;
      b.title = "B = A with " + key + " " + fmt(swap.changes[key]) + " (and nothing else)";
      b.addEventListener("click", function () { onChange(swap.changes); });
      box.appendChild(b);
    });
    var select = $("swap-key");
    if (!select.options.length) {
      keys.forEach(function (k) {
        var o = document.createElement("option");
        o.value = k; o.textContent = k;
        select.appendChild(o);
      });
      select.value = "optimizer";
    }
  }

  Gdlab.compare = {sideB: sideB, quickSwaps: quickSwaps, render: render};
})();
