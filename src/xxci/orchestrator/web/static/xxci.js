// xxci web view: what every page shares. Plain JavaScript, no build step.
//
// Live parts: an element with data-live-src and data-live-stream opens an
// EventSource on the stream and, whenever an event arrives, fetches its src again
// (server-rendered, escaped HTML) and puts it in place; with data-live-mode="append"
// it fetches what came after its last [data-seq] child and appends it. Fetches
// never overlap: events that arrive during one cause exactly one more.
"use strict";

(function () {
  const timeFormat = {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  };

  // Show each <time datetime> in the reader's own time zone (UTC stays as a tooltip).
  function localTimes(root) {
    for (const el of root.querySelectorAll("time[datetime]")) {
      if (el.dataset.local) continue;
      const at = new Date(el.getAttribute("datetime"));
      if (Number.isNaN(at.getTime())) continue;
      el.title = el.textContent;
      el.textContent = at.toLocaleString(undefined, timeFormat);
      el.dataset.local = "1";
    }
  }

  // A page whose session ended is sent to the sign-in form: load it for real.
  function signedOut(response) {
    return response.redirected && new URL(response.url).pathname === "/login";
  }

  function live(el, onUpdate) {
    const append = el.dataset.liveMode === "append";
    let busy = false;
    let again = false;

    function url() {
      if (!append) return el.dataset.liveSrc;
      const rows = el.querySelectorAll("[data-seq]");
      const last = rows.length ? rows[rows.length - 1].dataset.seq : el.dataset.liveSince || "0";
      return el.dataset.liveSrc + "&since=" + encodeURIComponent(last);
    }

    async function refresh() {
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      try {
        do {
          again = false;
          const response = await fetch(url(), { credentials: "same-origin" });
          if (signedOut(response)) {
            window.location.reload();
            return;
          }
          if (!response.ok) break;
          const html = await response.text();
          if (append) el.insertAdjacentHTML("beforeend", html);
          else el.innerHTML = html;
          localTimes(el);
          if (onUpdate) onUpdate(el);
          el.dispatchEvent(new CustomEvent("xxci:updated", { bubbles: true }));
        } while (again);
      } catch (err) {
        console.warn("xxci: live update failed", err);
      } finally {
        busy = false;
      }
    }

    const source = new EventSource(el.dataset.liveStream, { withCredentials: true });
    source.addEventListener("message", refresh);
    source.addEventListener("end", () => source.close());
    window.addEventListener("pagehide", () => source.close());
    return { refresh, source };
  }

  window.xxci = { localTimes, live, signedOut };

  document.addEventListener("DOMContentLoaded", () => {
    localTimes(document);
    for (const el of document.querySelectorAll("[data-live-src][data-live-stream]")) {
      if (!el.dataset.liveManual) live(el);
    }
  });
})();
