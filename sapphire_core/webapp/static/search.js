// The search page: text / lyrics / file (as audio or any plugin audio mode) / hummed queries, results with players and explanations.
"use strict";

(() => {
  const { api, postJSON, el, player, status } = Sapphire;
  let lastQuery = null;   // re-run when a slider moves
  let info = null;

  function weights() {
    const out = {};
    document.querySelectorAll("#sliders input[type=range]").forEach((s) => { out[s.name] = parseFloat(s.value); });
    return Object.keys(out).length ? out : null;
  }

  function bars(title, shares) {
    const box = el("div", { class: "bars" }, el("div", { class: "muted", text: title }));
    for (const [name, share] of Object.entries(shares || {})) {
      const pct = Math.max(0, Math.min(1, Number(share) || 0)) * 100;
      const fill = el("div", { class: "fill" });
      fill.style.width = pct.toFixed(0) + "%";
      box.append(el("div", { class: "bar" }, el("span", { text: name }), el("div", { class: "track-bg" }, fill),
                    el("span", { text: pct.toFixed(0) + "%" })));
    }
    return box;
  }

  function midValue(v) {
    // The engine gives {value, level, percentile}; the memory engine plain words.
    if (v == null) return "–";
    if (typeof v === "object") {
      const value = typeof v.value === "number" ? v.value.toFixed(2) : null;
      return v.level ? v.level + (value ? " (" + value + ")" : "") : (value || JSON.stringify(v));
    }
    return typeof v === "number" ? v.toFixed(2) : String(v);
  }

  function midTable(mid) {
    if (!mid || !mid.result || !Object.keys(mid.result).length) return null;
    const table = el("table", { class: "mid" },
      el("tr", {}, el("th", { text: "" }), el("th", { text: "query" }), el("th", { text: "match" })));
    for (const [k, v] of Object.entries(mid.result)) {
      const q = mid.query ? midValue(mid.query[k]) : "–";
      table.append(el("tr", {}, el("td", { text: k }), el("td", { text: q }), el("td", { text: midValue(v) })));
    }
    return table;
  }

  function render(payload) {
    const list = document.getElementById("results");
    list.textContent = "";
    for (const r of payload.results) {
      const ex = r.explanation || {};
      list.append(el("li", { class: "result", "data-track": r.track_id },
        el("div", { class: "rank", text: String(r.rank) }),
        el("div", {},
          el("div", { class: "title", text: r.title }),
          r.subtitle ? el("div", { class: "muted", text: r.subtitle }) : null,
          el("div", { class: "muted", text: "score " + (r.score == null ? "–" : r.score.toFixed(3)) }),
          player(r),
          ex.summary ? el("div", { class: "summary", text: ex.summary }) : null),
        el("div", {}, bars("modalities", ex.modalities), bars("sub-spaces", ex.subspaces), midTable(ex.midlevel))));
    }
    document.getElementById("versions").textContent =
      "model " + payload.model_version + " · index " + payload.index_version;
    status("search-status", payload.results.length + " results", "ok");
  }

  async function run(query) {
    lastQuery = query;
    status("search-status", "searching…");
    try {
      let payload;
      if (query.blob) {
        const params = new URLSearchParams({ kind: query.kind, k: "10" });
        const w = weights();
        if (w) params.set("weights", JSON.stringify(w));
        payload = await api("/api/search/audio?" + params, { method: "POST", body: query.blob });
      } else {
        const body = { k: 10, weights: weights() };
        body[query.kind] = query.value;
        payload = await postJSON("/api/search", body);
      }
      render(payload);
    } catch (e) {
      status("search-status", e.message, "error");
    }
  }

  // ---------------------------------------------------------------- hum recording -> wav in the browser
  function encodeWav(samples, rate) {
    const buf = new ArrayBuffer(44 + samples.length * 2);
    const v = new DataView(buf);
    const str = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
    str(0, "RIFF"); v.setUint32(4, 36 + samples.length * 2, true); str(8, "WAVE"); str(12, "fmt ");
    v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true); v.setUint32(24, rate, true);
    v.setUint32(28, rate * 2, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true); str(36, "data");
    v.setUint32(40, samples.length * 2, true);
    for (let i = 0; i < samples.length; i++) {
      const s = Math.max(-1, Math.min(1, samples[i]));
      v.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
    return new Blob([buf], { type: "audio/wav" });
  }

  async function toWav(blob) {
    // MediaRecorder gives webm/ogg; decode here so the server only ever parses plain audio formats.
    const ctx = new (window.AudioContext || window.webkitAudioContext)();
    const audio = await ctx.decodeAudioData(await blob.arrayBuffer());
    const mono = new Float32Array(audio.length);
    for (let c = 0; c < audio.numberOfChannels; c++) {
      const data = audio.getChannelData(c);
      for (let i = 0; i < data.length; i++) mono[i] += data[i] / audio.numberOfChannels;
    }
    ctx.close();
    return encodeWav(mono, audio.sampleRate);
  }

  let recorder = null;
  let timer = null;
  async function toggleRecording() {
    const btn = document.getElementById("record-btn");
    if (recorder && recorder.state === "recording") { recorder.stop(); return; }
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      status("search-status", "this browser cannot record audio", "error");
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const chunks = [];
      recorder = new MediaRecorder(stream);
      recorder.ondataavailable = (e) => chunks.push(e.data);
      recorder.onstop = async () => {
        stream.getTracks().forEach((t) => t.stop());
        clearInterval(timer);
        btn.textContent = "Record a hum";
        btn.classList.remove("rec");
        try {
          run({ kind: "hum", blob: await toWav(new Blob(chunks, { type: recorder.mimeType })) });
        } catch (e) { status("search-status", "could not decode the recording: " + e.message, "error"); }
      };
      recorder.start();
      const started = Date.now();
      const limit = info ? info.limits.max_upload_seconds : 60;
      timer = setInterval(() => {
        const s = (Date.now() - started) / 1000;
        document.getElementById("record-time").textContent = s.toFixed(0) + " s";
        if (s >= Math.min(limit, 30)) recorder.stop();
      }, 250);
      btn.textContent = "Stop and search";
      btn.classList.add("rec");
    } catch (e) { status("search-status", "microphone unavailable: " + e.message, "error"); }
  }

  async function init() {
    info = await api("/api/info");
    const sliders = document.getElementById("sliders");
    if (info.subspaces.length) sliders.textContent = "";
    for (const name of info.subspaces) {
      const input = el("input", { type: "range", min: "0", max: "2", step: "0.1", value: "1", name });
      const out = el("span", { class: "muted", text: "1.0" });
      input.addEventListener("input", () => { out.textContent = Number(input.value).toFixed(1); });
      input.addEventListener("change", () => { if (lastQuery) run(lastQuery); });
      sliders.append(el("label", {}, el("span", { text: name }), input, out));
    }
    document.getElementById("versions").textContent =
      "model " + info.model_version + " · index " + info.index_version;
    // a file can also be a query of any plugin mode that takes audio (e.g. "version": other versions of it)
    const uploadKind = document.getElementById("upload-kind");
    for (const [mode, input] of Object.entries(info.modes || {})) {
      if (input === "audio" && mode !== "audio") uploadKind.append(el("option", { value: mode, text: mode }));
    }
    const go = () => {
      const value = document.getElementById("query").value.trim();
      if (value) run({ kind: document.getElementById("query-kind").value, value });
    };
    document.getElementById("search-btn").addEventListener("click", go);
    document.getElementById("query").addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
    document.getElementById("upload-btn").addEventListener("click", () => {
      const file = document.getElementById("upload").files[0];
      if (!file) { status("search-status", "choose an audio file first", "error"); return; }
      if (file.size > info.limits.max_upload_bytes) {
        status("search-status", "file is larger than the upload limit", "error");
        return;
      }
      run({ kind: uploadKind.value, blob: file });
    });
    document.getElementById("record-btn").addEventListener("click", toggleRecording);
    document.getElementById("search-btn").disabled = false;  // ready: listeners and sub-spaces loaded
  }

  document.addEventListener("DOMContentLoaded", init);
})();
