// Shared helpers of the SAPPHIRE pages: the rater id, JSON fetches, small DOM builders, track players.
"use strict";

const Sapphire = (() => {
  const RATER_KEY = "sapphire.rater";
  const RATER_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

  function raterId() {
    const box = document.getElementById("rater");
    let id = (box && box.value.trim()) || localStorage.getItem(RATER_KEY);
    if (!id || !RATER_RE.test(id)) {
      id = "rater-" + Math.random().toString(36).slice(2, 8);
    }
    localStorage.setItem(RATER_KEY, id);
    if (box) box.value = id;
    return id;
  }

  async function api(url, options) {
    const res = await fetch(url, options);
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) {
      let msg = body && body.detail ? body.detail : res.statusText;
      if (Array.isArray(msg)) msg = msg.map((d) => (d.loc || []).join(".") + ": " + d.msg).join("; ");
      throw new Error(msg);
    }
    return body;
  }

  function postJSON(url, data) {
    return api(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) });
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c != null) node.append(c);
    return node;
  }

  function player(track) {
    return el("audio", { controls: "", preload: "metadata", src: track.audio_url, "data-track": track.id });
  }

  function trackCard(track, extraClass) {
    return el("div", { class: "track " + (extraClass || ""), "data-track": track.id },
      el("div", { class: "title", text: track.title }),
      track.subtitle ? el("div", { class: "muted", text: track.subtitle }) : null,
      player(track));
  }

  function status(id, text, kind) {
    const node = document.getElementById(id);
    node.textContent = text;
    node.className = "status " + (kind || "");
  }

  function init() {
    const box = document.getElementById("rater");
    if (box) {
      raterId();
      box.addEventListener("change", raterId);
    }
  }

  document.addEventListener("DOMContentLoaded", init);
  return { raterId, api, postJSON, el, player, trackCard, status };
})();
