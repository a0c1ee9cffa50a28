// Shareable links: every setting of the page in its URL's query string, written and read as
// gdlab/playground/links.py does (its Python twin): the settings in order, lists with commas,
// true/false, "compare=1" and "b.KEY=value" for the second run's changes, "autostart=1".
"use strict";

(function () {
  var Gdlab = window.Gdlab = window.Gdlab || {};
  var LIST_KEYS = {layers: true, betas: true};
  var MODE_KEYS = {compare: true, autostart: true};

  function text(value) {
    if (value === true) return "true";
    if (value === false) return "false";
    if (Array.isArray(value)) return value.map(text).join(",");
    return String(value);
  }

  function enc(value) {
    return encodeURIComponent(value).replace(/%2C/g, ",").replace(/%3A/g, ":").replace(/%3D/g, "=");
  }

  function pairs(settings, keys, prefix) {
    var out = [];
    keys.forEach(function (key) {
      var v = settings[key];
      if (v !== null && v !== undefined) out.push([prefix + key, text(v)]);
    });
    return out;
  }

  // The query string (without "?") of the first run's settings `config` and, in compare mode,
  // the settings `changes` in which the second run differs.
  function write(config, changes, compare, autostart, keys) {
    var list = pairs(config, keys, "");
    if (compare) {
      list.push(["compare", "1"]);
      list = list.concat(pairs(changes || {}, keys, "b."));
    }
    if (autostart) list.push(["autostart", "1"]);
    return list.map(function (p) { return p[0] + "=" + enc(p[1]); }).join("&");
  }

  function value(key, raw, defaults) {
    var d = defaults[key];
    if (LIST_KEYS[key]) {
      return raw.split(",").filter(function (p) { return p.trim() !== ""; }).map(function (p) {
        return key === "layers" ? parseInt(p, 10) : Number(p);
      });
    }
    if (key === "activation") return raw.indexOf(",") >= 0 ? raw.split(",") : raw;
    if (typeof d === "boolean") {
      if (["true", "false", "1", "0"].indexOf(raw) < 0) throw new Error(key + " must be true or false, got " + JSON.stringify(raw));
      return raw === "true" || raw === "1";
    }
    if (key === "batch_size" && raw === "full") return raw;
    if (typeof d === "string" || key === "schedule") return raw;
    var n = Number(raw);
    if (raw.trim() === "" || !isFinite(n)) throw new Error(key + " must be a number, got " + JSON.stringify(raw));
    return n;
  }

  // {config, b, compare, autostart, problems}: the settings a query gives (the rest take their
  // defaults), the second run's changes, the modes, and what could not be read.
  function read(query, keys, defaults) {
    var out = {config: {}, b: {}, compare: false, autostart: false, problems: [], any: false};
    var known = {};
    keys.forEach(function (k) { known[k] = true; });
    new URLSearchParams(query).forEach(function (raw, key) {
      out.any = true;
      if (MODE_KEYS[key]) { out[key] = raw === "1" || raw === "true"; return; }
      var isB = key.slice(0, 2) === "b.", name = isB ? key.slice(2) : key;
      if (!known[name]) { out.problems.push("the link has an unknown setting '" + key + "'"); return; }
      try {
        (isB ? out.b : out.config)[name] = value(name, raw, defaults);
      } catch (err) {
        out.problems.push("the link's " + key + " cannot be read: " + err.message);
      }
    });
    Object.keys(out.b).forEach(function (k) {
      var a = k in out.config ? out.config[k] : defaults[k];
      if (JSON.stringify(a) === JSON.stringify(out.b[k])) delete out.b[k];
    });
    return out;
  }

  Gdlab.links = {write: write, read: read, value: value};
})();
