/*
 * folio status page: draws each chart of /status with uPlot (vendor/uPlot.iife.min.js).
 *
 * Every <figure data-chart="NAME" data-unit="UNIT"> gets its data from
 * GET /status/data/NAME?range=15m|1h|6h, which answers
 *   {"unit", "step", "timestamps": [unix seconds], "series": [{"name", "values": [n|null]}]}
 * or {"error": {"message"}}. The PromQL lives on the server; this file only names charts.
 *
 * A token given to the page as /status?token=... is sent on every data request as
 * "Authorization: Bearer <token>". Each figure's data-state says where it is, for people
 * and tests alike: loading, ready (drawn), empty (no data in the range) or error.
 * No inline script or style is needed (the page runs under a strict CSP); uPlot sets
 * element.style itself, which a CSP allows.
 */
(function () {
  'use strict';

  var REFRESH_MS = 30000;
  var HEIGHT = 240;
  // Mid-tone colours that keep their contrast on the light and the dark background.
  var PALETTE = ['#2f6fde', '#e0661b', '#1f9d55', '#9b4dca', '#c23b5a', '#0f8b8d'];

  var container = document.querySelector('[data-status="charts"]');
  if (!container) return;
  var token = new URLSearchParams(window.location.search).get('token');
  var range = container.getAttribute('data-default-range') || '15m';
  var charts = Array.prototype.map.call(
    container.querySelectorAll('figure[data-chart]'),
    function (figure) {
      return {
        figure: figure,
        name: figure.getAttribute('data-chart'),
        unit: figure.getAttribute('data-unit'),
        plotEl: figure.querySelector('.status-plot'),
        messageEl: figure.querySelector('.status-message'),
        plot: null,
        seriesKey: '',
        request: 0,
      };
    }
  );

  // --- Number formats, by unit --------------------------------------------------------
  function trim(number, digits) {
    return String(Number(number.toFixed(digits)));
  }

  function seconds(value) {
    if (value === 0) return '0 s';
    if (Math.abs(value) < 1) return trim(value * 1000, value < 0.01 ? 1 : 0) + ' ms';
    return trim(value, 2) + ' s';
  }

  var FORMATS = {
    reqps: function (value) { return trim(value, value < 10 ? 2 : 1) + ' req/s'; },
    ratio: function (value) { return trim(value * 100, value < 0.1 ? 2 : 1) + ' %'; },
    seconds: seconds,
  };

  function formatter(unit) {
    var format = FORMATS[unit] || function (value) { return trim(value, 3); };
    return function (value) { return value == null ? '–' : format(value); };
  }

  // The y axis always starts at 0; the top has a floor so a flat line is not magnified.
  var FLOORS = { reqps: 1, ratio: 0.01, seconds: 0.1 };

  function yRange(unit) {
    return function (_u, _min, max) {
      var top = Math.max(max == null ? 0 : max * 1.1, FLOORS[unit] || 1);
      return [0, top];
    };
  }

  // --- Drawing --------------------------------------------------------------------------
  function cssColor(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  // The legend shows the values under the cursor, and the latest ones otherwise.
  function latest(values) {
    for (var i = values.length - 1; i >= 0; i--) {
      if (values[i] !== null) return values[i];
    }
    return null;
  }

  function options(chart, body, data) {
    var format = formatter(body.unit);
    var legendTime = window.uPlot.fmtDate('{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}');
    var tickSeconds = window.uPlot.fmtDate('{HH}:{mm}:{ss}');
    var tickMinutes = window.uPlot.fmtDate('{HH}:{mm}');
    var text = cssColor('--text', '#1b1f24');
    var grid = cssColor('--border', '#d5dae0');
    var axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    // Lines between few points are short: show the points themselves too.
    var sparse = data[0].length <= 40;
    return {
      width: Math.max(chart.plotEl.clientWidth, 200),
      height: HEIGHT,
      scales: { y: { range: yRange(body.unit) } },
      series: [{
        label: 'Time',
        value: function (_u, value, _series, index) {
          return index == null ? 'latest' : legendTime(new Date(value * 1000));
        },
      }].concat(body.series.map(function (series, index) {
        return {
          label: series.name,
          stroke: PALETTE[index % PALETTE.length],
          width: 2,
          points: { show: sparse, size: 5 },
          value: function (u, value, seriesIndex, dataIndex) {
            return format(dataIndex == null ? latest(u.data[seriesIndex]) : value);
          },
        };
      })),
      axes: [
        // One line per tick, seconds only when ticks are less than a minute apart (uPlot's
        // default adds a second line with the date, which overlaps on narrow charts).
        Object.assign({}, axis, {
          space: 80, // px between ticks: room for "12:34:56"
          values: function (_u, splits, _axis, _space, increment) {
            var tick = increment < 60 ? tickSeconds : tickMinutes;
            return splits.map(function (split) { return tick(new Date(split * 1000)); });
          },
        }),
        Object.assign({}, axis, {
          size: 80,
          values: function (_u, splits) { return splits.map(format); },
        }),
      ],
      // Solid legend markers in the line's colour (uPlot's default is an empty outline).
      legend: {
        show: true,
        markers: { fill: function (u, index) { return u.series[index].stroke(u, index); } },
      },
    };
  }

  function hasPoints(body) {
    return body.series.some(function (series) {
      return series.values.some(function (value) { return value !== null; });
    });
  }

  function show(chart, state, message) {
    chart.figure.setAttribute('data-state', state);
    chart.messageEl.textContent = message || '';
    chart.messageEl.hidden = !message;
    if (state !== 'ready' && chart.plot) {
      chart.plot.destroy();
      chart.plot = null;
      chart.seriesKey = '';
    }
  }

  // uPlot's columns, starting where the data starts: a stack that has run for two minutes
  // fills the chart instead of a sliver at the right of an empty 15 minutes.
  var MIN_COLUMNS = 3;

  function trimmed(body) {
    var first = body.timestamps.length;
    body.series.forEach(function (series) {
      var at = series.values.findIndex(function (value) { return value !== null; });
      if (at >= 0 && at < first) first = at;
    });
    first = Math.max(0, Math.min(first, body.timestamps.length - MIN_COLUMNS));
    return [body.timestamps.slice(first)].concat(body.series.map(function (series) {
      return series.values.slice(first);
    }));
  }

  function draw(chart, body) {
    if (!hasPoints(body)) {
      show(chart, 'empty', 'No data in the last ' + body.range + ' yet: nothing has been ' +
        'recorded for this chart. Send some traffic, or pick a longer range.');
      return;
    }
    var data = trimmed(body);
    var key = body.unit + '|' + data[0].length + '|' +
      body.series.map(function (s) { return s.name; }).join('|');
    if (chart.plot && chart.seriesKey === key) {
      chart.plot.setData(data);
    } else {
      if (chart.plot) chart.plot.destroy();
      chart.plot = new window.uPlot(options(chart, body, data), data, chart.plotEl);
      chart.seriesKey = key;
    }
    show(chart, 'ready', '');
  }

  // --- Fetching -------------------------------------------------------------------------
  function errorMessage(response, body) {
    if (body && body.error && body.error.message) return body.error.message;
    return 'The status data could not be loaded (HTTP ' + response.status + ').';
  }

  function load(chart) {
    var request = ++chart.request; // a later load (new range, refresh) wins
    var headers = { Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    var url = '/status/data/' + encodeURIComponent(chart.name) +
      '?range=' + encodeURIComponent(range);
    fetch(url, { headers: headers, cache: 'no-store', credentials: 'same-origin' })
      .then(function (response) {
        return response.json().then(
          function (body) { return { response: response, body: body }; },
          function () { return { response: response, body: null }; }
        );
      })
      .then(function (result) {
        if (request !== chart.request) return;
        if (!result.response.ok || !result.body || !Array.isArray(result.body.series)) {
          show(chart, 'error', errorMessage(result.response, result.body));
          return;
        }
        draw(chart, result.body);
      })
      .catch(function () {
        if (request !== chart.request) return;
        show(chart, 'error', 'folio-web did not answer; the charts will retry shortly.');
      });
  }

  function loadAll() {
    charts.forEach(load);
  }

  if (typeof window.uPlot !== 'function') {
    charts.forEach(function (chart) {
      show(chart, 'error', 'The chart library (uPlot) did not load, so nothing can be drawn.');
    });
    return;
  }

  Array.prototype.forEach.call(
    document.querySelectorAll('.status-range[data-range]'),
    function (button, _index, buttons) {
      button.addEventListener('click', function () {
        range = button.getAttribute('data-range');
        Array.prototype.forEach.call(buttons, function (other) {
          other.setAttribute('aria-pressed', other === button ? 'true' : 'false');
        });
        loadAll();
      });
    }
  );

  var resizeTimer = 0;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      charts.forEach(function (chart) {
        if (chart.plot) chart.plot.setSize({ width: Math.max(chart.plotEl.clientWidth, 200), height: HEIGHT });
      });
    }, 150);
  });

  loadAll();
  setInterval(loadAll, REFRESH_MS);
})();
