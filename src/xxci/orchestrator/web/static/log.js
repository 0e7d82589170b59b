// xxci job page: the job's output, in order, live while it runs.
//
// Pieces come from an event stream (their text, the stream they were written to,
// an ATTEMPT:SEQ id). Each `$ command` line the worker writes opens a section
// (collapsible, with that command's exit code once known); ANSI colours and styles
// (SGR: 16 colours, 256 colours, 24-bit, bold, dim, italic, underline) become
// spans. Text is only ever put in the page as text (textContent), never as HTML.
"use strict";

(function () {
  const log = document.getElementById("log");
  if (!log) return;
  const stateLine = document.getElementById("log-state");
  const follow = document.getElementById("log-follow");
  let steps = JSON.parse(log.dataset.steps || "[]");

  // --- ANSI ---------------------------------------------------------------------

  const CSI = /\x1b\[([0-9;:?]*)([@-~])/g;
  const CUBE = [0, 95, 135, 175, 215, 255];
  let style = {};
  let carry = ""; // an escape sequence cut between two pieces

  function colour256(n) {
    if (n < 16) return { cls: n };
    if (n < 232) {
      const i = n - 16;
      return { rgb: [CUBE[Math.floor(i / 36)], CUBE[Math.floor(i / 6) % 6], CUBE[i % 6]] };
    }
    const g = 8 + 10 * (n - 232);
    return { rgb: [g, g, g] };
  }

  function applySgr(text) {
    const codes = text === "" ? [0] : text.split(/[;:]/).map((c) => (c === "" ? 0 : Number(c)));
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i];
      if (c === 0) style = {};
      else if (c === 1) style.bold = true;
      else if (c === 2) style.dim = true;
      else if (c === 3) style.italic = true;
      else if (c === 4) style.underline = true;
      else if (c === 7) style.inverse = true;
      else if (c === 22) style.bold = style.dim = false;
      else if (c === 23) style.italic = false;
      else if (c === 24) style.underline = false;
      else if (c === 27) style.inverse = false;
      else if (c >= 30 && c <= 37) style.fg = { cls: c - 30 };
      else if (c >= 90 && c <= 97) style.fg = { cls: c - 90 + 8 };
      else if (c === 39) delete style.fg;
      else if (c >= 40 && c <= 47) style.bg = { cls: c - 40 };
      else if (c >= 100 && c <= 107) style.bg = { cls: c - 100 + 8 };
      else if (c === 49) delete style.bg;
      else if (c === 38 || c === 48) {
        let colour = null;
        if (codes[i + 1] === 5 && i + 2 < codes.length) {
          colour = colour256(codes[i + 2]);
          i += 2;
        } else if (codes[i + 1] === 2 && i + 4 < codes.length) {
          colour = { rgb: codes.slice(i + 2, i + 5) };
          i += 4;
        }
        if (colour) style[c === 38 ? "fg" : "bg"] = colour;
      }
    }
  }

  function emit(target, text, extra) {
    // Control characters other than newline and tab show as nothing.
    const clean = text.replace(/\r\n/g, "\n").replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
    if (!clean) return;
    const classes = [];
    if (extra) classes.push(extra);
    if (style.bold) classes.push("b");
    if (style.dim) classes.push("d");
    if (style.italic) classes.push("i");
    if (style.underline) classes.push("u");
    let fg = style.fg;
    let bg = style.bg;
    if (style.inverse) [fg, bg] = [bg || { cls: "bg" }, fg || { cls: "fg" }];
    if (!classes.length && !fg && !bg) {
      target.appendChild(document.createTextNode(clean));
      return;
    }
    const span = document.createElement("span");
    span.textContent = clean;
    if (fg) {
      if (fg.rgb) span.style.color = `rgb(${fg.rgb.join(",")})`;
      else classes.push("fg-" + fg.cls);
    }
    if (bg) {
      if (bg.rgb) span.style.backgroundColor = `rgb(${bg.rgb.join(",")})`;
      else classes.push("bg-" + bg.cls);
    }
    span.className = classes.join(" ");
    target.appendChild(span);
  }

  function writeAnsi(target, text, extra) {
    text = carry + text;
    carry = "";
    const cut = text.lastIndexOf("\x1b");
    if (cut !== -1 && text.length - cut < 32 && !/^\x1b\[[0-9;:?]*[@-~]/.test(text.slice(cut))) {
      carry = text.slice(cut);
      text = text.slice(0, cut);
    }
    let last = 0;
    CSI.lastIndex = 0;
    for (let m = CSI.exec(text); m; m = CSI.exec(text)) {
      emit(target, text.slice(last, m.index), extra);
      if (m[2] === "m") applySgr(m[1]);
      last = CSI.lastIndex;
    }
    emit(target, text.slice(last), extra);
  }

  // --- sections -----------------------------------------------------------------

  let out = null; // where output goes now
  let step = 0; // the index of the next `$ command` section
  let attempt = null;

  function plainBlock() {
    if (!out) {
      out = document.createElement("div");
      out.className = "out";
      log.appendChild(out);
    }
    return out;
  }

  function exitText(index) {
    const s = steps[index];
    if (!s || s.exit_code === null || s.exit_code === undefined) return null;
    return s.exit_code;
  }

  function labelExit(label, index) {
    const code = exitText(index);
    if (code === null) {
      label.textContent = "";
      label.className = "exit";
      return;
    }
    label.textContent = "exit " + code;
    label.className = "exit " + (code === 0 ? "ok" : "bad");
  }

  function openSection(command) {
    const section = document.createElement("details");
    section.open = true;
    section.className = "section";
    section.dataset.step = String(step);
    const summary = document.createElement("summary");
    const cmd = document.createElement("code");
    cmd.className = "cmd";
    cmd.textContent = command;
    const exit = document.createElement("span");
    summary.append(cmd, " ", exit);
    labelExit(exit, step);
    section.appendChild(summary);
    out = document.createElement("div");
    out.className = "out";
    section.appendChild(out);
    log.appendChild(section);
    step += 1;
    style = {};
  }

  function writeSystem(text) {
    for (const line of text.split("\n")) {
      if (!line) continue;
      if (line.startsWith("$ ")) {
        openSection(line);
      } else {
        const note = document.createElement("div");
        note.className = "sys";
        note.textContent = line;
        plainBlock().appendChild(note);
      }
    }
  }

  function newAttempt(number) {
    if (attempt !== null) {
      const rule = document.createElement("p");
      rule.className = "attempt-rule";
      rule.textContent = "attempt " + number;
      log.appendChild(rule);
    }
    attempt = number;
    out = null;
    step = 0;
    style = {};
    carry = "";
  }

  function write(piece) {
    if (piece.attempt !== attempt) newAttempt(piece.attempt);
    if (piece.stream === "system") writeSystem(piece.text);
    else writeAnsi(plainBlock(), piece.text, piece.stream === "stderr" ? "err" : "");
  }

  function atEnd() {
    if (follow && follow.checked) window.scrollTo(0, document.documentElement.scrollHeight);
  }

  // --- exit codes as steps finish -----------------------------------------------

  async function refreshSteps() {
    const api = log.dataset.api;
    if (!api) return;
    try {
      const response = await fetch(api, { credentials: "same-origin" });
      if (!response.ok) return;
      const doc = await response.json();
      const job = doc.stages[0].jobs[0];
      if (job.attempt !== attempt && attempt !== null) return;
      steps = job.steps;
      for (const section of log.querySelectorAll("details.section")) {
        labelExit(section.querySelector("summary .exit"), Number(section.dataset.step));
      }
    } catch (err) {
      console.warn("xxci: could not read the job's steps", err);
    }
  }

  document.addEventListener("xxci:updated", (event) => {
    if (event.target && event.target.id === "job-head") refreshSteps();
  });

  // --- the stream ---------------------------------------------------------------

  let pieces = 0;
  const source = new EventSource(log.dataset.stream, { withCredentials: true });
  stateLine.textContent = "Following the output…";
  source.addEventListener("message", (message) => {
    write(JSON.parse(message.data));
    pieces += 1;
    log.dataset.pieces = String(pieces);
    atEnd();
  });
  source.addEventListener("failure", (message) => {
    if (message.data) stateLine.textContent = message.data;
  });
  source.addEventListener("end", () => {
    source.close();
    if (carry) {
      emit(plainBlock(), carry, "");
      carry = "";
    }
    log.dataset.done = "1";
    stateLine.textContent = pieces ? "End of the output." : "No output.";
    refreshSteps();
  });
  window.addEventListener("pagehide", () => source.close());
})();
