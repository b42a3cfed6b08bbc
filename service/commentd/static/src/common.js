/* commentd widgets' shared helpers. No page loads this file: the service serves embed.js and
 * moderation.js each as one script, this file and the widget's inside one function, after
 * WIDGET_CSS (the widget's part of widgets.css); see service/commentd/web/widgets.py. */
/* global WIDGET_CSS */
/* exported commentdCommon */

/* commentdCommon("embed.js", {key: "English"}, window.commentdStrings): what a widget needs.
 * Call it while the script runs (it finds the service from the script's own src). Returns
 * base (the service's URL), lang (a valid BCP 47 tag), strings, and the helpers below. */
function commentdCommon(scriptName, defaults, custom) {
  "use strict";
  var script = document.currentScript || document.querySelector('script[src*="' + scriptName + '"]');
  var ownName = new RegExp("/" + scriptName.replace(/\./g, "\\.") + "([?#].*)?$");
  var base = script.src.replace(ownName, "");
  var lang = document.documentElement.lang || navigator.language || "en";
  try { Intl.getCanonicalLocales(lang); } catch { lang = "en"; } /* e.g. lang="en_US" */
  var S = Object.assign({}, defaults, custom || {});

  /* t("replyTo", {name: "Ann"}): the string, its {placeholders} filled. */
  function t(key, vars) {
    return String(S[key]).replace(/\{(\w+)\}/g, function (m, k) { return vars && k in vars ? vars[k] : m; });
  }

  /* plural("heading", 3): heading_zero (for 0, if given), the Intl.PluralRules form, or _other. */
  function plural(prefix, n) {
    var key = prefix + "_" + (n === 0 && S[prefix + "_zero"] ? "zero" : new Intl.PluralRules(lang).select(n));
    return t(S[key] ? key : prefix + "_other", { n: n.toLocaleString(lang) });
  }

  /* h("a", {href: url, onclick: f}, "text", child, [more]): an element. null or false
   * attributes are left out, true sets an empty one; children are nodes or strings (text nodes,
   * never HTML), arrays flattened. */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    for (var k in attrs || {}) {
      var v = attrs[k];
      if (v == null || v === false) continue;
      if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), v);
      else if (k === "text") el.textContent = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
    [].slice.call(arguments, 2).flat().forEach(function (c) { if (c != null && c !== false) el.append(c); });
    return el;
  }

  /* The URL if it is http(s), else null (no javascript: links from a commenter). */
  function safeUrl(url) {
    try { return /^https?:$/.test(new URL(url).protocol) ? url : null; } catch { return null; }
  }

  /* A slug as a URL path: each segment escaped, the "/" between them kept. */
  function slugPath(slug) { return slug.split("/").map(encodeURIComponent).join("/"); }

  var rtf = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(lang, { numeric: "auto" }) : null;
  /* <time> for an ISO 8601 instant: "3 minutes ago" up to `days` days back, then the date
   * (month "long" or "short"); the full date and time on hover. */
  function timeEl(iso, days, month) {
    var d = new Date(iso), s = (Date.now() - d) / 1000, shown = null;
    var steps = [[60, 1, "second"], [3600, 60, "minute"], [86400, 3600, "hour"], [days * 86400, 86400, "day"]];
    for (var i = 0; i < steps.length && shown === null; i++) {
      if (rtf && s < steps[i][0]) shown = rtf.format(-Math.max(0, Math.floor(s / steps[i][1])), steps[i][2]);
    }
    return h("time", { datetime: iso, title: d.toLocaleString(lang, { dateStyle: "full", timeStyle: "short" }) },
      shown || d.toLocaleDateString(lang, { year: "numeric", month: month, day: "numeric" }));
  }

  /* storage("localStorage"): get(key), set(key, string or null) of "commentd.<key>"; disabled
   * storage reads as empty and forgets quietly. */
  function storage(area) {
    return {
      get: function (key) {
        try { return window[area].getItem("commentd." + key); } catch { return null; }
      },
      set: function (key, value) {
        try {
          if (value == null) window[area].removeItem("commentd." + key);
          else window[area].setItem("commentd." + key, value);
        } catch { /* the widget still works, it just forgets */ }
      }
    };
  }

  /* fetch() and the answer's JSON: resolves {r: Response, body: Object} (body {} when there is
   * none: a 204, a proxy's error page); rejects only when the service cannot be reached. */
  function request(url, init) {
    return fetch(url, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        return { r: r, body: body && typeof body === "object" ? body : {} };
      });
    });
  }

  /* The relative luminance (WCAG 2) of a computed colour, "rgb(r, g, b)" or "color(srgb r g b)". */
  function luminance(color) {
    var c = (color.match(/[\d.]+/g) || [0, 0, 0]).slice(0, 3).map(Number), scale = /^color\(/.test(color) ? 1 : 255;
    c = c.map(function (v) { v /= scale; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }

  /* fit(root, section), once section is in root: the section takes the page's look
   * (widgets.css): --_link, the colour of a link inside root (the accent, unless
   * --commentd-accent is set); --_on-auto, white or near-black, whichever reads better on the
   * accent (the button's text); data-theme, the root's if it pins "light" or "dark", else
   * "dark" when the page's text there is light. Again when the reader's colour preference
   * changes (a page that follows it changes too). */
  function fit(root, section) {
    var pinned = /^(light|dark)$/.test(root.getAttribute("data-theme")) ? root.getAttribute("data-theme") : null;
    function look() {
      var link = h("a", { href: "#", hidden: true }), accent = h("b", { "class": "commentd-accent-probe", hidden: true });
      root.append(link);
      section.style.setProperty("--_link", getComputedStyle(link).color);
      link.remove();
      section.append(accent);
      var on = luminance(getComputedStyle(accent).color);
      accent.remove();
      section.style.setProperty("--_on-auto", 1.05 / (on + 0.05) >= (on + 0.05) / 0.0556 ? "#fff" : "#111");
      section.setAttribute("data-theme", pinned || (luminance(getComputedStyle(root).color) > 0.18 ? "dark" : "light"));
    }
    look();
    if (window.matchMedia) matchMedia("(prefers-color-scheme: dark)").addEventListener("change", look);
  }

  /* Once the page is parsed: adds WIDGET_CSS as <style id=styleId>, then run(); once per page. */
  function start(styleId, run) {
    function go() {
      if (document.getElementById(styleId)) return;
      document.head.append(h("style", { id: styleId }, WIDGET_CSS));
      run();
    }
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", go);
    else go();
  }

  return {
    base: base, lang: lang, strings: S, t: t, plural: plural, h: h, safeUrl: safeUrl, slugPath: slugPath,
    timeEl: timeEl, storage: storage, request: request, start: start, fit: fit
  };
}
