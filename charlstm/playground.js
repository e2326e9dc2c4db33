// charlstm's playground: the model's step in JavaScript (charlstm/playground.py writes the page).
// It mirrors charlstm.stepper for PyTorch's fused cells, in float64 on the float32 weights. Every text the
// page shows is set with textContent, never parsed as HTML.
(function () {
  'use strict';
  var started = performance.now();
  var M = JSON.parse(document.getElementById('model').textContent);
  var LANGUAGES = JSON.parse(document.getElementById('language-answers').textContent);
  var QUERY = 'I speak fluent ';
  var H = M.hidden, L = M.layers, V = M.vocab.length, E = M.embedding_dim;
  var GATES = {lstm: ['input', 'forget', 'cell', 'output'], gru: ['reset', 'update', 'candidate'], rnn: []}[M.cell];
  var G = {lstm: 4, gru: 3, rnn: 1}[M.cell];

  function floats(b64) {
    var raw = atob(b64), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }
  var emb = floats(M.embedding), head = floats(M.head), headBias = floats(M.head_bias);
  var W = M.weights.map(function (w) {
    return {ih: floats(w.weight_ih), hh: floats(w.weight_hh), bih: floats(w.bias_ih), bhh: floats(w.bias_hh)};
  });
  var index = {};
  M.vocab.forEach(function (ch, i) { index[ch] = i; });

  // y = W x + b for a row-major (rows x cols) W given as a flat array
  function affine(w, b, x, rows, cols) {
    var y = new Float64Array(rows);
    for (var r = 0; r < rows; r++) {
      var s = b[r], o = r * cols;
      for (var k = 0; k < cols; k++) s += w[o + k] * x[k];
      y[r] = s;
    }
    return y;
  }
  function sigmoid(v) { return 1 / (1 + Math.exp(-v)); }

  function zeroState() {
    var s = {h: [], c: []};
    for (var l = 0; l < L; l++) { s.h.push(new Float64Array(H)); s.c.push(new Float64Array(H)); }
    return s;
  }
  // One character through every layer; returns {state, gates (per layer, per gate, Float32Array)}.
  function step(state, id) {
    var x = new Float64Array(E);
    for (var e = 0; e < E; e++) x[e] = emb[id * E + e];
    var next = {h: [], c: []}, gates = [];
    for (var l = 0; l < L; l++) {
      var w = W[l], inSize = l ? H : E;
      var a = affine(w.ih, w.bih, x, G * H, inSize), b = affine(w.hh, w.bhh, state.h[l], G * H, H);
      var h = new Float64Array(H), c = new Float64Array(H), g = GATES.map(function () { return new Float32Array(H); });
      for (var j = 0; j < H; j++) {
        if (M.cell === 'lstm') {
          var i_ = sigmoid(a[j] + b[j]), f = sigmoid(a[H + j] + b[H + j]);
          var gg = Math.tanh(a[2 * H + j] + b[2 * H + j]), o = sigmoid(a[3 * H + j] + b[3 * H + j]);
          c[j] = f * state.c[l][j] + i_ * gg;
          h[j] = o * Math.tanh(c[j]);
          g[0][j] = i_; g[1][j] = f; g[2][j] = gg; g[3][j] = o;
        } else if (M.cell === 'gru') {
          var r = sigmoid(a[j] + b[j]), z = sigmoid(a[H + j] + b[H + j]);
          var n = Math.tanh(a[2 * H + j] + r * b[2 * H + j]);
          h[j] = (1 - z) * n + z * state.h[l][j];
          g[0][j] = r; g[1][j] = z; g[2][j] = n;
        } else {
          h[j] = Math.tanh(a[j] + b[j]);
        }
      }
      next.h.push(h); next.c.push(c); gates.push(g);
      x = h;
    }
    return {state: next, gates: gates};
  }
  function probabilities(state) {
    var logits = affine(head, headBias, state.h[L - 1], V, H), top = -Infinity, total = 0;
    for (var v = 0; v < V; v++) top = Math.max(top, logits[v]);
    var p = new Float64Array(V);
    for (v = 0; v < V; v++) { p[v] = Math.exp(logits[v] - top); total += p[v]; }
    for (v = 0; v < V; v++) p[v] /= total;
    return p;
  }
  function argmax(p) { var best = 0; for (var v = 1; v < p.length; v++) if (p[v] > p[best]) best = v; return best; }

  // The text read so far: history[t] is the state after the start character and text[0..t).
  var textBox = document.getElementById('text');
  var history = [step(zeroState(), M.start)], read = '';
  var stepMs = [];
  function readText(text) {
    var same = 0;
    while (same < read.length && same < text.length && read[same] === text[same]) same++;
    history.length = same + 1;
    var t0 = performance.now(), unknown = 0;
    for (var t = same; t < text.length; t++) {
      var id = index[text[t]];
      if (id === undefined) { unknown++; id = M.start; }   // a character the model never saw: read as the start one
      history.push(step(history[history.length - 1].state, id));
    }
    if (text.length > same) stepMs.push((performance.now() - t0) / (text.length - same));
    read = text;
    return unknown;
  }

  function cellText(el, content) { var td = document.createElement('td'); td.textContent = content; el.appendChild(td); }
  function shown(ch) { return ch === '\n' ? '\u23ce' : ch === ' ' ? '\u2423' : ch; }
  function renderNext(p) {
    var table = document.getElementById('next');
    table.textContent = '';
    var order = Array.from(p.keys()).sort(function (a, b) { return p[b] - p[a]; }).slice(0, 10);
    order.forEach(function (v) {
      var tr = document.createElement('tr');
      cellText(tr, shown(M.vocab[v])); cellText(tr, p[v].toFixed(4));
      table.appendChild(tr);
    });
  }
  function continuation(state, length, temperature, seed) {
    var out = '', s = state, rng = seed >>> 0;
    for (var k = 0; k < length; k++) {
      var p = probabilities(s), id;
      if (!temperature) {
        id = argmax(p);
      } else {   // mulberry32, then inverse-CDF on p^(1/T)
        rng = (rng + 0x6D2B79F5) >>> 0;
        var t = Math.imul(rng ^ (rng >>> 15), 1 | rng);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        var u = ((t ^ (t >>> 14)) >>> 0) / 4294967296, total = 0, acc = 0, q = new Float64Array(p.length);
        for (var v = 0; v < p.length; v++) { q[v] = Math.pow(p[v], 1 / temperature); total += q[v]; }
        for (id = 0; id < p.length - 1; id++) { acc += q[id] / total; if (acc > u) break; }
      }
      out += M.vocab[id];
      s = step(s, id).state;
    }
    return out;
  }
  function languageScores(state) {
    var base = state;
    if (!read.endsWith(QUERY)) for (var k = 0; k < QUERY.length; k++) base = step(base, index[QUERY[k]]).state;
    var totals = LANGUAGES.map(function (answer) {
      var s = base, total = 0;
      for (var k = 0; k < answer.length; k++) {
        var id = index[answer[k]];
        if (id === undefined) return -Infinity;
        total += Math.log(probabilities(s)[id]);
        s = step(s, id).state;
      }
      return total;
    });
    var top = Math.max.apply(null, totals), sum = 0;
    var p = totals.map(function (t) { var e = Math.exp(t - top); sum += e; return e; });
    return p.map(function (e) { return e / sum; });
  }
  function renderLanguages(state) {
    var table = document.getElementById('languages');
    if (!table) return null;
    var p = languageScores(state);
    table.textContent = '';
    LANGUAGES.map(function (l, i) { return [l, p[i]]; }).sort(function (a, b) { return b[1] - a[1]; })
      .forEach(function (pair) {
        var tr = document.createElement('tr');
        cellText(tr, pair[0].replace('.', '')); cellText(tr, pair[1].toFixed(3));
        table.appendChild(tr);
      });
    return p;
  }
  function colour(v, scale) {
    var fade = Math.round(255 * (1 - Math.min(1, Math.abs(v) / scale)));
    return v >= 0 ? 'rgb(255,' + fade + ',' + fade + ')' : 'rgb(' + fade + ',' + fade + ',255)';
  }
  function renderUnit() {
    var layer = Math.min(L - 1, Math.max(0, +document.getElementById('layer').value || 0));
    var unit = Math.min(H - 1, Math.max(0, +document.getElementById('unit').value || 0));
    var values = [], scale = 0;
    for (var t = 1; t < history.length; t++) {
      var s = history[t].state, v = M.cell === 'lstm' ? s.c[layer][unit] : s.h[layer][unit];
      values.push(v); scale = Math.max(scale, Math.abs(v));
    }
    scale = scale || 1;
    var box = document.getElementById('tinted');
    box.textContent = '';
    for (t = 0; t < read.length; t++) {
      var span = document.createElement('span');
      span.textContent = read[t] === '\n' ? '\u23ce\n' : read[t];
      span.style.background = colour(values[t], scale);
      span.title = layer + ':' + unit + ' ' + (values[t] >= 0 ? '+' : '') + values[t].toFixed(3);
      box.appendChild(span);
    }
    // Each gate as the text again in transparent ink on its grey: the same font and width, so every box
    // sits under its character and the rows wrap where the text does.
    var gates = document.getElementById('gates');
    gates.textContent = '';
    GATES.forEach(function (name, g) {
      if (name === 'cell' || name === 'candidate') return;
      var label = document.createElement('div'), row = document.createElement('div');
      label.className = 'dim'; label.textContent = name + ' gate (dark: shut, light: open)';
      row.className = 'text';
      for (var t = 1; t < history.length; t++) {
        var v = history[t].gates[layer][g][unit], b = document.createElement('span'), grey = Math.round(255 * v);
        b.textContent = read[t - 1] === '\n' ? '\u23ce\n' : read[t - 1];
        b.style.color = 'transparent';
        b.style.background = 'rgb(' + grey + ',' + grey + ',' + grey + ')';
        b.title = name + ' ' + v.toFixed(3);
        row.appendChild(b);
      }
      gates.appendChild(label);
      gates.appendChild(row);
    });
    return values;
  }

  var seed = 1;
  function update() {
    var unknown = readText(textBox.value);
    var state = history[history.length - 1].state, p = probabilities(state);
    renderNext(p);
    var languages = renderLanguages(state);
    var unitValues = renderUnit();
    document.getElementById('result').textContent = JSON.stringify({
      text: read, probabilities: Array.from(p), greedy: continuation(state, 40, 0, 0),
      languages: languages, unit: unitValues.slice(-5), unknown: unknown,
      ms_per_char: stepMs.length ? stepMs[stepMs.length - 1] : null,
      load_ms: performance.now() - started});
  }
  textBox.addEventListener('input', update);
  ['layer', 'unit'].forEach(function (id) { document.getElementById(id).addEventListener('input', renderUnit); });
  document.getElementById('greedy').addEventListener('click', function () {
    document.getElementById('continuation').textContent =
      continuation(history[history.length - 1].state, +document.getElementById('length').value || 80, 0, 0);
  });
  document.getElementById('sample').addEventListener('click', function () {
    var temperature = Math.max(0.05, +document.getElementById('temperature').value || 0.8);
    document.getElementById('continuation').textContent =
      continuation(history[history.length - 1].state, +document.getElementById('length').value || 80,
                   temperature, seed++);
  });
  // A text given in the address (#text=...) is typed in at the start: how a test, or a shared link, types.
  var given = /[#&]text=([^&]*)/.exec(location.hash);
  if (given) textBox.value = decodeURIComponent(given[1]);
  update();
  document.documentElement.setAttribute('data-rendered', 'yes');
})();
