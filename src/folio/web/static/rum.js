/*
 * folio real-user monitoring: web vitals, /static/ resource timings and error counts,
 * batched and sent as ONE text/plain JSON object to /api/rum when the page is hidden.
 *
 * Payload (no other keys; the server validates it strictly):
 *   {"page": "/projects",
 *    "vitals":    [{"name": "LCP"|"INP"|"CLS"|"FCP"|"TTFB", "value": <number>}],
 *    "resources": [{"type": "script"|"stylesheet"|"image"|"font"|"other", "duration": <ms>}],
 *    "errors":    [{"type": "js_error"|"unhandled_rejection"|"resource_error"}]}
 *
 * Dependency-free ES2017; uses window.webVitals (vendor/web-vitals.iife.js) when loaded.
 * It never throws: every callback is wrapped.
 */
(function () {
  'use strict';

  var ENDPOINT = '/api/rum';
  var MAX_ITEMS = 50; // per list, per batch
  var VITALS = ['LCP', 'INP', 'CLS', 'FCP', 'TTFB'];

  var vitals = [];
  var resources = [];
  var errors = [];
  var vitalIndex = {}; // web-vitals metric.id -> index in `vitals` (a re-report replaces)

  function safe(fn) {
    return function () {
      try {
        return fn.apply(this, arguments);
      } catch (e) {
        return undefined;
      }
    };
  }

  function isNumber(n) {
    return typeof n === 'number' && isFinite(n) && n >= 0;
  }

  function push(list, item) {
    if (list.length < MAX_ITEMS) list.push(item);
  }

  // --- Web vitals -------------------------------------------------------------------
  var onMetric = safe(function (metric) {
    if (!metric || VITALS.indexOf(metric.name) < 0 || !isNumber(metric.value)) return;
    var item = { name: metric.name, value: metric.value };
    var at = metric.id && Object.prototype.hasOwnProperty.call(vitalIndex, metric.id)
      ? vitalIndex[metric.id] : -1;
    if (at >= 0 && vitals[at] && vitals[at].name === item.name) {
      vitals[at] = item;
    } else if (vitals.length < MAX_ITEMS) {
      if (metric.id) vitalIndex[metric.id] = vitals.length;
      vitals.push(item);
    }
  });

  safe(function () {
    var wv = window.webVitals;
    if (!wv) return;
    ['onLCP', 'onINP', 'onCLS', 'onFCP', 'onTTFB'].forEach(function (fn) {
      safe(function () { if (typeof wv[fn] === 'function') wv[fn](onMetric); })();
    });
  })();

  // --- Resource timing for same-origin /static/ files -------------------------------
  var EXTENSIONS = {
    js: 'script', mjs: 'script', css: 'stylesheet',
    png: 'image', jpg: 'image', jpeg: 'image', gif: 'image', svg: 'image',
    webp: 'image', ico: 'image', avif: 'image',
    woff: 'font', woff2: 'font', ttf: 'font', otf: 'font'
  };

  function resourceType(entry, path) {
    var m = /\.([a-z0-9]+)$/i.exec(path);
    var byExt = m ? EXTENSIONS[m[1].toLowerCase()] : undefined;
    if (byExt) return byExt;
    var initiator = entry.initiatorType;
    if (initiator === 'script') return 'script';
    if (initiator === 'img' || initiator === 'image') return 'image';
    return 'other';
  }

  var onResources = safe(function (list) {
    list.getEntries().forEach(safe(function (entry) {
      var url = new URL(entry.name, location.href);
      if (url.origin !== location.origin || url.pathname.indexOf('/static/') !== 0) return;
      if (!isNumber(entry.duration)) return;
      push(resources, { type: resourceType(entry, url.pathname), duration: entry.duration });
    }));
  });

  safe(function () {
    if (typeof PerformanceObserver !== 'function') return;
    new PerformanceObserver(onResources).observe({ type: 'resource', buffered: true });
  })();

  // --- Errors -----------------------------------------------------------------------
  // Capture phase: a failed <img>/<script>/<link> fires a non-bubbling 'error' at the element.
  window.addEventListener('error', safe(function (event) {
    var target = event && event.target;
    var isElement = target && target !== window && target.nodeType === 1;
    push(errors, { type: isElement ? 'resource_error' : 'js_error' });
  }), true);

  window.addEventListener('unhandledrejection', safe(function () {
    push(errors, { type: 'unhandled_rejection' });
  }));

  // --- Sending ----------------------------------------------------------------------
  function send(json) {
    var sent = false;
    if (navigator.sendBeacon) {
      try {
        sent = navigator.sendBeacon(ENDPOINT, new Blob([json], { type: 'text/plain' }));
      } catch (e) {
        sent = false;
      }
    }
    if (!sent && typeof fetch === 'function') {
      fetch(ENDPOINT, {
        method: 'POST',
        body: json,
        keepalive: true,
        headers: { 'Content-Type': 'text/plain' }
      }).catch(function () {});
    }
  }

  var flush = safe(function () {
    if (!vitals.length && !resources.length && !errors.length) return;
    var json = JSON.stringify({
      page: location.pathname,
      vitals: vitals.slice(0, MAX_ITEMS),
      resources: resources.slice(0, MAX_ITEMS),
      errors: errors.slice(0, MAX_ITEMS)
    });
    vitals = [];
    resources = [];
    errors = [];
    vitalIndex = {};
    send(json);
  });

  // Registered on document (after web-vitals' window capture listeners), so metrics that
  // web-vitals reports on 'hidden' are already in the batch when it is sent.
  document.addEventListener('visibilitychange', safe(function () {
    if (document.visibilityState === 'hidden') flush();
  }));
  window.addEventListener('pagehide', flush);
})();
