// The gdlab playground page: settings -> a run on the server (paused at step 0), or two runs
// in lockstep in compare mode; their live streams (Server-Sent Events) -> the decision
// boundaries and the charts; every setting in the page's URL; the code behind the picture.
// Everything it shows comes from the JSON API that the README documents; nothing is computed
// here but colours.
"use strict";

(function () {
  var Gdlab = window.Gdlab;
  var FINISHED = {done: true, diverged: true, stopped: true};
  var $ = function (id) { return document.getElementById(id); };
  // `run`, `summary`, `history`, `data` and `boundary` are those of the first run (A), kept for
  // notebooks and tests; `sides` holds each run: {name, run, summary, config, history, data,
  // boundary, source}
  var state = {
    options: null, compare: false, changes: {}, sides: [], run: null, summary: null,
    config: null, history: [], data: null, boundary: null, generation: 0,
    drawPending: false, resetTimer: null, link: ""
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

  // ---- the link -------------------------------------------------------------------------------
  function linkOf(a, autostart) {
    return Gdlab.links.write(a, state.changes, state.compare, autostart, state.options.link_keys);
  }

  function writeLink(a) {
    state.link = linkOf(a, false);
    history.replaceState(null, "", location.pathname + "?" + state.link);
    showLesson(a);
  }

  // The lesson these settings are, if any: its title and what to watch, and the menu on it.
  function showLesson(a) {
    var same = function (x, y) { return JSON.stringify(x) === JSON.stringify(y); };
    var presets = state.options.presets, found = null;
    Object.keys(presets).forEach(function (name) {
      var p = presets[name];
      var mine = Object.keys(p.a).every(function (k) { return same(a[k], p.a[k]); });
      var changes = state.compare && same(Object.keys(state.changes).sort(), Object.keys(p.b).sort()) &&
        Object.keys(p.b).every(function (k) { return same(state.changes[k], p.b[k]); });
      if (mine && changes && !found) found = p;
    });
    var el = $("lesson-text");
    el.hidden = !found;
    $("lessons").value = found ? found.link : "";
    if (found) {
      el.firstChild.textContent = found.title + ".";
      el.lastChild.textContent = found.lesson;
    }
  }

  // ---- runs ------------------------------------------------------------------------------------
  function scheduleReset(delay) {
    clearTimeout(state.resetTimer);
    state.resetTimer = setTimeout(function () { newRun(false); }, delay === undefined ? 250 : delay);
  }

  function stopRuns() {
    state.sides.forEach(function (s) { if (s.source) { s.source.close(); s.source = null; } });
    var a = state.sides[0];
    if (a && groupStatus() && !allFinished()) {
      api("POST", "/api/runs/" + a.run + "/stop").catch(function () {});   // stops B too
    }
  }

  function newSide(name, run) {
    return {name: name, run: run.id, summary: run, config: run.config, history: [], data: null,
            boundary: null, source: null};
  }

  // Fresh runs of the form's settings (and B's in compare mode), parked at step 0: their data
  // and untrained boundaries.
  function newRun(autoplay) {
    var a = Gdlab.form.read();
    var generation = ++state.generation;
    stopRuns();
    setStatus("loading");
    writeLink(a);
    renderCompare(a);
    var request = state.compare
      ? api("POST", "/api/compare?paused=1", {a: a, b: Gdlab.compare.sideB(a, state.changes)})
        .then(function (got) { return got.runs; })
      : api("POST", "/api/runs?paused=1", a).then(function (run) { return [run]; });
    return request.then(function (runs) {
      if (generation !== state.generation) {
        api("POST", "/api/runs/" + runs[0].id + "/stop").catch(function () {});
        return null;
      }
      state.sides = runs.map(function (run, i) { return newSide(i ? "b" : "a", run); });
      Gdlab.form.markInvalid(null); showMessage(null, null, "a"); showMessage(null, null, "b");
      applyPace();
      return Promise.all(state.sides.map(function (s) {
        return Promise.all([api("GET", "/api/runs/" + s.run + "/data"),
                            api("GET", "/api/runs/" + s.run + "/boundary")]).then(function (got) {
          s.data = got[0]; s.boundary = got[1];
        });
      })).then(function () {
        if (generation !== state.generation) return;
        alias();
        state.sides.forEach(connect);
        showSummary(); drawAll(); showCode();
        document.body.dataset.ready = "1";
        document.dispatchEvent(new CustomEvent("gdlab:run", {detail: {sides: state.sides}}));
        if (autoplay) return play();
      });
    }).catch(function (err) {
      if (generation !== state.generation) return;
      state.sides = []; alias();
      setStatus("invalid");
      showMessage(err.message, "error", "a");
      Gdlab.form.markInvalid(err.field);
    });
  }

  function alias() {
    var a = state.sides[0] || {};
    state.run = a.run || null; state.summary = a.summary || null; state.config = a.config || null;
    state.history = a.history || []; state.data = a.data || null; state.boundary = a.boundary || null;
  }

  function connect(side) {
    var source = new EventSource("/api/runs/" + side.run + "/events?fps=20");
    source.addEventListener("update", function (ev) {
      if (state.sides.indexOf(side) >= 0) onFrame(side, JSON.parse(ev.data));
    });
    source.addEventListener("end", function () { source.close(); });
    side.source = source;
  }

  function onFrame(side, frame) {
    side.summary = frame;
    side.history.length = Math.min(side.history.length, frame.history_start);
    Array.prototype.push.apply(side.history, frame.history);
    if (frame.boundary) side.boundary = frame.boundary;
    alias();
    showSummary();
    scheduleDraw();
  }

  function groupStatus() {
    var all = state.sides.map(function (s) { return s.summary && s.summary.status; });
    if (!all.length) return null;
    if (all.indexOf("running") >= 0) return "running";
    if (all.indexOf("paused") >= 0) return "paused";
    return all[0];
  }

  function allFinished() {
    return state.sides.every(function (s) { return s.summary && FINISHED[s.summary.status]; });
  }

  // pause, resume, step or stop: on the first run, which the server applies to both
  function control(action) {
    if (!state.run) return Promise.resolve(null);
    return api("POST", "/api/runs/" + state.run + "/" + action).then(function (summary) {
      var a = state.sides[0];
      if (a && summary.id === a.run) { a.summary = Object.assign({}, a.summary, summary); alias(); showSummary(); }
      return summary;
    }).catch(function (err) { showMessage(err.message, "error", "a"); });
  }

  function play() {
    var s = groupStatus();
    if (!state.run || allFinished()) return newRun(true);
    if (s === "running") return control("pause");
    return control("resume");
  }

  function step() {
    var s = groupStatus();
    if (!state.run || allFinished()) return Promise.resolve(null);
    var first = s === "running" ? control("pause") : Promise.resolve(null);
    return first.then(function () { return control("step"); });
  }

  function applyPace() {
    var a = state.sides[0];
    if (!a) return;
    var v = $("pace").value;
    api("POST", "/api/runs/" + a.run + "/pace", {steps_per_second: v === "" ? null : Number(v)})
      .catch(function (err) { showMessage(err.message, "error", "a"); });
  }

  // ---- compare mode ------------------------------------------------------------------------------
  function renderCompare(a) {
    $("compare").setAttribute("aria-pressed", state.compare ? "true" : "false");
    $("compare").classList.toggle("primary", state.compare);
    $("compare-bar").hidden = !state.compare;
    $("views").classList.toggle("compare", state.compare);
    document.querySelector(".side[data-side='b']").hidden = !state.compare;
    $("code-sides").hidden = !state.compare;
    document.body.classList.toggle("comparing", state.compare);
    if (state.compare) {
      Gdlab.compare.render(a, state.changes, state.options.link_keys, function (changes) {
        state.changes = changes;
        newRun(false);
      });
    }
  }

  function setCompare(on, changes) {
    state.compare = !!on;
    if (changes) state.changes = changes;
    if (state.compare && !Object.keys(state.changes).length) {
      state.changes = Gdlab.compare.quickSwaps(Gdlab.form.read())[0].changes;
    }
    return newRun(false);
  }

  function setForB() {
    var key = $("swap-key").value, raw = $("swap-value").value.trim();
    try {
      var value = raw === "" || raw === "null" ? null : Gdlab.links.value(key, raw, state.options.defaults);
      state.changes = Object.assign({}, state.changes);
      state.changes[key] = value;
      $("swap-value").value = "";
      newRun(false);
    } catch (err) {
      showMessage("B's " + key + ": " + err.message, "error", "b");
    }
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
    var a = state.sides[0];
    if (!a || !a.summary) return;
    var s = a.summary;
    setStatus(groupStatus());
    $("stepcount").textContent = s.step.toLocaleString("en-US") + " / " + s.max_steps.toLocaleString("en-US");
    var last = a.history[a.history.length - 1];
    $("epochcount").textContent = last ? fmtNumber(Math.floor(last.epoch * 10) / 10) : "0";
    $("speed").textContent = s.status === "running" ? Math.round(s.steps_per_second).toLocaleString("en-US") + " steps/s" : "\u2013";
    $("lrnow").textContent = fmtNumber(s.lr);
    state.sides.forEach(function (side) {
      var t = side.summary;
      if (t.status === "diverged" && t.diverged) {
        showMessage((state.compare ? side.name.toUpperCase() + " diverged" : "Diverged") + " at step " +
                    t.diverged.step + " with learning rate " + fmtNumber(t.diverged.lr) + ": " +
                    t.diverged.message + ".", "diverged", side.name);
      } else if (t.error) {
        showMessage("The run stopped on an error: " + t.error, "error", side.name);
      } else if (t.status === "stopped" && t.stopped_because === "idle") {
        showMessage("This run was stopped after a long idle time; press Play for a fresh one.", "info", side.name);
      }
    });
  }

  function showMessage(text, kind, side) {
    var el = $(side === "b" ? "message-b" : "message");
    el.hidden = !text;
    el.textContent = text || "";
    el.dataset.kind = kind || "";
  }

  function describeChanges() {
    return Object.keys(state.changes).map(function (k) {
      var v = state.changes[k];
      return k + " " + (Array.isArray(v) ? v.join(",") : String(v));
    }).join(", ");
  }

  // ---- drawing -------------------------------------------------------------------------------------
  function scheduleDraw() {
    if (state.drawPending) return;
    state.drawPending = true;
    requestAnimationFrame(function () { state.drawPending = false; drawAll(); });
  }

  function drawAll() {
    var a = state.sides[0];
    if (!a || !a.data) return;
    var classify = a.data.task === "classification", what = classify ? "Decision boundary" : "Regression curve";
    state.sides.forEach(function (side) {
      if (!side.data) return;
      var canvas = $(side.name === "b" ? "boundary-b" : "boundary");
      Gdlab.draw.boundary(canvas, side.data, side.boundary, $("show-val").checked);
      var at = side.boundary ? " at step " + side.boundary.step.toLocaleString("en-US") : "";
      var title = !state.compare ? what + at : side.name === "a" ? "A" + at
        : "B (" + describeChanges() + ")" + at;
      $(side.name === "b" ? "view-title-b" : "view-title").textContent = title;
    });
    $("legend").textContent = classify
      ? "Orange: class 0, blue: class 1; the background is the network's probability of class 1. " +
        "Dark outlines: validation points." + (state.compare ? " A and B start from the same weights." : "")
      : "Points: the data (dark outlines: validation); line: the network's prediction.";
    $("metric-title").hidden = !classify;
    $("metric-chart").hidden = !classify;
    Gdlab.draw.charts(charts, state.sides, state.compare, $("log-loss").checked);
  }

  function showCode() {
    var pick = document.querySelector("input[name='code-side']:checked");
    var side = state.compare && pick && pick.value === "b" ? state.sides[1] : state.sides[0];
    if (side) Gdlab.code.show(side.config);
  }

  // ---- start ---------------------------------------------------------------------------------------
  function wireControls() {
    $("play").addEventListener("click", play);
    $("step").addEventListener("click", step);
    $("reset").addEventListener("click", function () { newRun(false); });
    $("pace").addEventListener("change", applyPace);
    $("show-val").addEventListener("change", scheduleDraw);
    $("log-loss").addEventListener("change", scheduleDraw);
    $("compare").addEventListener("click", function () { setCompare(!state.compare); });
    $("swap-set").addEventListener("click", setForB);
    $("share").addEventListener("click", function () {
      Gdlab.code.copy(location.origin + location.pathname + "?" + linkOf(Gdlab.form.read(), true), $("share"));
    });
    $("lessons").addEventListener("change", function (ev) {
      if (ev.target.value) location.search = "?" + ev.target.value;
    });
    document.querySelectorAll("input[name='code-side']").forEach(function (el) {
      el.addEventListener("change", showCode);
    });
    Gdlab.code.wire();
    document.addEventListener("keydown", function (ev) {
      if (ev.target.closest && ev.target.closest("input, select, textarea")) return;
      if (ev.key === " ") { ev.preventDefault(); play(); }
      else if (ev.key === "s") step();
      else if (ev.key === "r") newRun(false);
      else if (ev.key === "c") setCompare(!state.compare);
    });
    window.addEventListener("pagehide", function () {
      if (state.run && !allFinished()) {
        fetch("/api/runs/" + state.run + "/stop", {method: "POST", keepalive: true});
      }
    });
    window.addEventListener("resize", function () {
      Object.keys(charts).forEach(function (k) { charts[k].fit(); });
      scheduleDraw();
    });
  }

  function fillLessons(presets) {
    var select = $("lessons");
    Object.keys(presets).forEach(function (name) {
      var o = document.createElement("option");
      o.value = presets[name].link; o.textContent = presets[name].title;
      o.title = presets[name].lesson;
      select.appendChild(o);
    });
  }

  // The settings of the page's link (every setting not in it takes its default), then a run.
  function start(options) {
    var parsed = Gdlab.links.read(location.search, options.link_keys, options.defaults);
    Gdlab.form.set(parsed.config);
    state.compare = parsed.compare;
    state.changes = parsed.b;
    return newRun(parsed.autostart).then(function () {
      if (parsed.problems.length) {
        showMessage("Left out of the link: " + parsed.problems.join("; ") + ".", "error", "a");
      }
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
      Gdlab.form.build(options, scheduleReset);
      fillLessons(options.presets);
      return start(options);
    }).catch(function (err) { showMessage("Cannot reach the playground server: " + err.message, "error", "a"); });
  }

  // For notebooks, tests and links: read or set the settings, and drive the runs.
  window.gdlabPlayground = {
    state: state,
    config: function () { return Gdlab.form.read(); },
    link: function () { return state.link; },
    setConfig: function (config) {
      Gdlab.form.set(config);
      return newRun(false);
    },
    setCompare: setCompare,
    play: play, step: step, reset: function () { return newRun(false); },
    pause: function () { return control("pause"); }
  };

  init();
})();
