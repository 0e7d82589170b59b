// xxci run page: the board live, `needs` drawn as edges, and time travel.
//
// The slider walks the run's events; each position shows the board as the server
// folds it up to that event (GET /runs/RUN/board?at=SEQ), the same fold as
// `xxci report --at SEQ`. At the last event the page is live: new events from the
// stream extend the slider and the board follows them.
"use strict";

(function () {
  const root = document.getElementById("run");
  if (!root) return;
  const board = document.getElementById("board");
  const slider = document.getElementById("tt-slider");
  const label = document.getElementById("tt-label");
  const liveButton = document.getElementById("tt-live");
  const timeline = JSON.parse(document.getElementById("timeline").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  let live = root.dataset.live === "yes";

  // --- edges ---------------------------------------------------------------------

  function drawEdges() {
    const stages = board.querySelector(".stages");
    const svg = stages && stages.querySelector("svg.edges");
    if (!svg) return;
    const needs = JSON.parse(stages.dataset.needs || "{}");
    const cards = new Map();
    for (const card of stages.querySelectorAll("[data-job]")) cards.set(card.dataset.job, card);
    const box = stages.getBoundingClientRect();
    svg.setAttribute("width", stages.scrollWidth);
    svg.setAttribute("height", stages.scrollHeight);
    svg.replaceChildren();
    for (const [job, wanted] of Object.entries(needs)) {
      const to = cards.get(job);
      if (!to) continue;
      for (const need of wanted) {
        const from = cards.get(need);
        if (!from) continue;
        const a = from.getBoundingClientRect();
        const b = to.getBoundingClientRect();
        const x1 = a.right - box.left + stages.scrollLeft;
        const y1 = a.top + a.height / 2 - box.top + stages.scrollTop;
        const x2 = b.left - box.left + stages.scrollLeft;
        const y2 = b.top + b.height / 2 - box.top + stages.scrollTop;
        const bend = Math.max(24, Math.abs(x2 - x1) / 2);
        const path = document.createElementNS(SVG, "path");
        const sameColumn = Math.abs(x2 - x1) < 8 || x2 < x1;
        const d = sameColumn
          ? `M ${a.left - box.left + stages.scrollLeft} ${y1} C ${a.left - box.left - 28} ${y1}, ${x2 - 28} ${y2}, ${x2} ${y2}`
          : `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`;
        path.setAttribute("d", d);
        path.setAttribute("class", "edge");
        path.setAttribute("marker-end", "url(#arrow)");
        svg.appendChild(path);
      }
    }
    const defs = document.createElementNS(SVG, "defs");
    const marker = document.createElementNS(SVG, "marker");
    marker.setAttribute("id", "arrow");
    marker.setAttribute("viewBox", "0 0 10 10");
    marker.setAttribute("refX", "9");
    marker.setAttribute("refY", "5");
    marker.setAttribute("markerWidth", "7");
    marker.setAttribute("markerHeight", "7");
    marker.setAttribute("orient", "auto-start-reverse");
    const tip = document.createElementNS(SVG, "path");
    tip.setAttribute("d", "M 0 0 L 10 5 L 0 10 z");
    tip.setAttribute("class", "edge-tip");
    marker.appendChild(tip);
    defs.appendChild(marker);
    svg.prepend(defs);
  }

  // --- the board -----------------------------------------------------------------

  let loading = false;
  let wanted = null; // {at: seq or 0} still to load

  function openDetails() {
    return new Set(
      [...board.querySelectorAll("[data-job] details[open]")].map(
        (d) => d.closest("[data-job]").dataset.job,
      ),
    );
  }

  async function load(at) {
    wanted = { at };
    if (loading) return;
    loading = true;
    try {
      while (wanted) {
        const next = wanted;
        wanted = null;
        const url = root.dataset.board + (next.at ? "?at=" + next.at : "");
        const response = await fetch(url, { credentials: "same-origin" });
        if (window.xxci.signedOut(response)) {
          window.location.reload();
          return;
        }
        if (!response.ok) continue;
        const html = await response.text();
        if (wanted) continue; // the slider moved on meanwhile
        const open = openDetails();
        board.innerHTML = html;
        for (const card of board.querySelectorAll("[data-job]")) {
          if (open.has(card.dataset.job)) card.querySelector("details")?.setAttribute("open", "");
        }
        window.xxci.localTimes(board);
        drawEdges();
        board.dispatchEvent(new CustomEvent("xxci:updated", { bubbles: true }));
      }
    } catch (err) {
      console.warn("xxci: could not load the board", err);
    } finally {
      loading = false;
    }
  }

  // --- time travel ---------------------------------------------------------------

  function describe() {
    if (!timeline.length) return "";
    const i = Number(slider.value);
    const e = timeline[i];
    const when = new Date(e.at).toLocaleTimeString();
    const where = live ? " (live)" : "";
    return `Event ${i + 1} of ${timeline.length}${where}: #${e.seq} ${e.type} ${e.fields} at ${when}`;
  }

  function show() {
    label.textContent = describe(); // text, never HTML
    liveButton.setAttribute("aria-pressed", live ? "true" : "false");
    root.dataset.live = live ? "yes" : "no";
  }

  function moveTo(index) {
    if (!timeline.length) return;
    const last = timeline.length - 1;
    const i = Math.max(0, Math.min(last, index));
    slider.value = String(i);
    live = i === last;
    const at = live ? 0 : timeline[i].seq;
    const url = new URL(window.location.href);
    if (at) url.searchParams.set("at", String(at));
    else url.searchParams.delete("at");
    history.replaceState(null, "", url);
    show();
    load(at);
  }

  slider.addEventListener("input", () => moveTo(Number(slider.value)));
  document.getElementById("tt-prev").addEventListener("click", () => moveTo(Number(slider.value) - 1));
  document.getElementById("tt-next").addEventListener("click", () => moveTo(Number(slider.value) + 1));
  liveButton.addEventListener("click", () => moveTo(timeline.length - 1));
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target instanceof HTMLElement && target.closest("input, select, textarea, [contenteditable]")) return;
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "ArrowLeft") moveTo(Number(slider.value) - 1);
    else if (event.key === "ArrowRight") moveTo(Number(slider.value) + 1);
    else if (event.key === "End") moveTo(timeline.length - 1);
    else if (event.key === "Home") moveTo(0);
    else return;
    event.preventDefault();
  });

  // --- live ----------------------------------------------------------------------

  const source = new EventSource(root.dataset.stream, { withCredentials: true });
  source.addEventListener("message", (message) => {
    const e = JSON.parse(message.data);
    if (timeline.length && e.seq <= timeline[timeline.length - 1].seq) return;
    timeline.push({ seq: e.seq, type: e.type, fields: e.fields, at: e.at });
    slider.max = String(timeline.length - 1);
    if (live) {
      slider.value = slider.max;
      load(0);
    }
    show();
  });
  source.addEventListener("end", () => source.close());
  window.addEventListener("pagehide", () => source.close());

  new ResizeObserver(drawEdges).observe(board);
  board.addEventListener("toggle", drawEdges, true);
  show();
  drawEdges();
})();
