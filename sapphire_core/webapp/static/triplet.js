// The triplet page: "which of B or C sounds more like A?" (the Dim-sim form).
"use strict";

(() => {
  const { api, postJSON, el, trackCard, status, raterId } = Sapphire;
  let current = null;
  let shownAt = 0;

  function show(t) {
    const progress = document.getElementById("triplet-progress");
    progress.textContent = t.progress.done + (t.progress.total ? " / " + t.progress.total : "") + " judged";
    const panel = document.getElementById("triplet-trial");
    if (t.done) {
      panel.classList.add("hidden");
      status("triplet-status", "All triplets of this session are done. Thank you!", "ok");
      current = null;
      return;
    }
    current = t;
    for (const [slot, track] of [["anchor", t.anchor], ["b", t.b], ["c", t.c]]) {
      const box = document.getElementById("slot-" + slot);
      box.textContent = "";
      box.append(trackCard(track, slot === "anchor" ? "anchor" : ""));
    }
    panel.classList.remove("hidden");
    shownAt = Date.now();
  }

  async function next() {
    try {
      const params = new URLSearchParams({ session: document.getElementById("session").value, rater: raterId(),
                                           strategy: document.getElementById("strategy").value });
      show(await api("/api/triplet/next?" + params));
    } catch (e) { status("triplet-status", e.message, "error"); }
  }

  async function judge(choice) {
    if (!current) return;
    try {
      const res = await postJSON("/api/triplet/judgement", {
        session: current.session, rater: raterId(), anchor: current.anchor.id, b: current.b.id, c: current.c.id,
        choice, source: current.source, response_ms: Date.now() - shownAt });
      status("triplet-status", "Saved judgement #" + res.id, "ok");
      await next();
    } catch (e) { status("triplet-status", e.message, "error"); }
  }

  async function init() {
    // Buttons work at once (the "open" session needs no list); a click that came before the session
    // list loaded used to be lost.
    document.getElementById("triplet-start").addEventListener("click", next);
    document.getElementById("triplet-b").addEventListener("click", () => judge("b"));
    document.getElementById("triplet-c").addEventListener("click", () => judge("c"));
    const info = await api("/api/info");
    const select = document.getElementById("session");
    for (const s of info.sessions.filter((s) => s.kind === "triplet")) {
      select.append(el("option", { value: s.name, text: s.name }));
    }
    document.getElementById("triplet-start").disabled = false;  // ready: sessions loaded
  }

  document.addEventListener("DOMContentLoaded", init);
})();
