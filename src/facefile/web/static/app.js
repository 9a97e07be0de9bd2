// facefile: keyboard shortcuts and selection helpers. Pages work without this file.
(function () {
  "use strict";
  let pendingG = false;

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName)) && el.type !== "checkbox";
  }
  function boxes() { return Array.from(document.querySelectorAll('#faces input[name="face"]')); }
  function updateCount() {
    const out = document.getElementById("selcount");
    if (out) out.textContent = boxes().filter((b) => b.checked).length + " selected";
  }
  function go(url) { if (window.htmx) htmx.ajax("GET", url, { target: "body", pushUrl: true }); else location.href = url; }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(document.activeElement)) return;
    const key = e.key;
    if (pendingG) {
      pendingG = false;
      const to = { p: "/", u: "/unassigned", r: "/review" }[key];
      if (to) { e.preventDefault(); go(to); }
      return;
    }
    if (key === "g") { pendingG = true; setTimeout(() => { pendingG = false; }, 1200); return; }
    const answer = document.querySelector('.answers button[data-key="' + key + '"]');
    if (answer) { e.preventDefault(); answer.click(); return; }
    if (key === "/") {
      const q = document.getElementById("q");
      if (q) { e.preventDefault(); q.focus(); q.select(); }
      return;
    }
    if (!document.getElementById("faces-form")) return;
    if (key === "a") { e.preventDefault(); boxes().forEach((b) => { b.checked = true; }); updateCount(); }
    else if (key === "Escape") { boxes().forEach((b) => { b.checked = false; }); updateCount(); }
    else if (key === "m") { e.preventDefault(); document.getElementById("target").focus(); }
    else if (key === "x") {
      const btn = document.querySelector('#faces-form button[value="not"]');
      if (btn && boxes().some((b) => b.checked)) { e.preventDefault(); btn.click(); }
    }
  });

  // Shift-click selects a range of faces.
  let last = null;
  document.addEventListener("click", function (e) {
    const box = e.target;
    if (!(box instanceof HTMLInputElement) || box.name !== "face" || !box.closest("#faces")) return;
    if (e.shiftKey && last && last !== box) {
      const all = boxes(), a = all.indexOf(last), b = all.indexOf(box);
      if (a >= 0 && b >= 0) all.slice(Math.min(a, b), Math.max(a, b) + 1).forEach((x) => { x.checked = box.checked; });
    }
    last = box;
    updateCount();
  });
  document.addEventListener("click", function (e) {
    const btn = e.target.closest && e.target.closest("button[data-select]");
    if (!btn) return;
    boxes().forEach((b) => { b.checked = btn.dataset.select === "all"; });
    updateCount();
  });
  document.addEventListener("change", function (e) {
    if (e.target.name === "face") updateCount();
    // the people filters apply as soon as they change
    if (e.target.form && e.target.form.classList.contains("search") && e.target.tagName === "SELECT") e.target.form.requestSubmit();
  });
  document.addEventListener("htmx:afterSettle", updateCount);
  document.addEventListener("DOMContentLoaded", updateCount);
})();
