// The A/B page: blinded lists from two systems; the server alone knows which is which.
"use strict";

(() => {
  const { api, postJSON, el, trackCard, status, raterId } = Sapphire;
  let trial = null;
  let shownAt = 0;

  function ratingBox(side) {
    const box = document.getElementById("rate-" + side);
    box.textContent = "";
    box.append(el("span", { text: "similarity 1-5:" }));
    for (let i = 1; i <= 5; i++) {
      const id = "rate-" + side + "-" + i;
      box.append(el("input", { type: "radio", name: "rating-" + side, value: String(i), id }),
                 el("label", { for: id, text: String(i) }));
    }
  }

  function show(next) {
    const progress = document.getElementById("ab-progress");
    progress.textContent = next.progress.done + " / " + next.progress.total + " done";
    const panel = document.getElementById("ab-trial");
    if (next.done) {
      panel.classList.add("hidden");
      status("ab-status", "All trials of this session are done. Thank you!", "ok");
      trial = null;
      return;
    }
    trial = next;
    const q = document.getElementById("ab-query");
    q.textContent = "";
    if (next.query.track) q.append(trackCard(next.query.track, "anchor"));
    else q.append(el("div", { class: "track anchor" }, el("div", { class: "title", text: "“" + next.query.text + "”" }),
                     el("div", { class: "muted", text: next.query.kind + " query" })));
    for (const side of ["A", "B"]) {
      const box = document.getElementById("list-" + side);
      box.textContent = "";
      next.lists[side].forEach((t) => box.append(trackCard(t)));
    }
    const rating = next.mode === "rating";
    document.getElementById("ab-choices").classList.toggle("hidden", rating);
    document.getElementById("ab-rating-submit").classList.toggle("hidden", !rating);
    for (const side of ["A", "B"]) {
      document.getElementById("rate-" + side).classList.toggle("hidden", !rating);
      if (rating) ratingBox(side);
    }
    panel.classList.remove("hidden");
    shownAt = Date.now();
  }

  async function next() {
    const session = document.getElementById("session").value;
    if (!session) { status("ab-status", "no A/B session is set up on this server", "error"); return; }
    try {
      const params = new URLSearchParams({ session, rater: raterId() });
      show(await api("/api/ab/next?" + params));
    } catch (e) { status("ab-status", e.message, "error"); }
  }

  async function submit(extra) {
    if (!trial) return;
    try {
      const body = Object.assign({ trial_id: trial.trial_id, rater: raterId(), response_ms: Date.now() - shownAt }, extra);
      const res = await postJSON("/api/ab/judgement", body);
      status("ab-status", "Saved judgement #" + res.id, "ok");
      await next();
    } catch (e) { status("ab-status", e.message, "error"); }
  }

  async function init() {
    const info = await api("/api/info");
    const select = document.getElementById("session");
    for (const s of info.sessions.filter((s) => s.kind === "ab")) {
      select.append(el("option", { value: s.name, text: s.name + (s.description ? " – " + s.description : "") }));
    }
    document.getElementById("ab-start").addEventListener("click", next);
    for (const [id, choice] of [["choice-A", "A"], ["choice-B", "B"], ["choice-tie", "tie"]]) {
      document.getElementById(id).addEventListener("click", () => submit({ choice }));
    }
    document.getElementById("submit-ratings").addEventListener("click", () => {
      const a = document.querySelector("input[name=rating-A]:checked");
      const b = document.querySelector("input[name=rating-B]:checked");
      if (!a || !b) { status("ab-status", "rate both lists first", "error"); return; }
      submit({ rating_a: Number(a.value), rating_b: Number(b.value) });
    });
    document.getElementById("ab-start").disabled = false;  // ready: sessions and listeners loaded
  }

  document.addEventListener("DOMContentLoaded", init);
})();
