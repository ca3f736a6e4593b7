"""The search page served at ``/``: plain HTML, CSS and JavaScript, no CDN, no build step.

Type a query or drop/choose an image; results show ranked ids, scores, thumbnails and
snippets. ``/?q=...`` searches on load, so a link (or a headless browser) shows results.
Scripts and styles are separate files so the Content-Security-Policy can forbid inline code.
"""

from __future__ import annotations

__all__ = ["PAGE_CSP", "PAGE_CSS", "PAGE_HTML", "PAGE_JS"]

PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: "
            "data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'")

PAGE_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Nyx search</title>
<link rel="stylesheet" href="/page.css">
<script src="/page.js" defer></script>
</head>
<body>
<header>
  <h1>Nyx <span>search</span></h1>
  <p id="status" class="muted">connecting&hellip;</p>
</header>
<main>
  <form id="search" action="/" method="get" autocomplete="off">
    <div id="drop" class="drop">
      <input id="q" name="q" type="search" maxlength="2000"
             placeholder="Describe what you are looking for, or drop an image here">
      <label class="file">image<input id="image" type="file" accept="image/*"></label>
      <button type="submit">Search</button>
    </div>
    <div class="options">
      <label>results <select id="k" name="k">
        <option>3</option><option selected>5</option><option>10</option><option>20</option>
      </select></label>
      <label>only <select id="modality" name="modality">
        <option value="any">any</option><option value="text">with text</option>
        <option value="image">with images</option>
      </select></label>
      <label>match <select id="mode" name="mode">
        <option value="auto">auto</option><option value="hybrid">meaning + words</option>
        <option value="dense">meaning</option><option value="lexical">exact words</option>
      </select></label>
      <label>show <select id="group" name="group">
        <option value="document">documents</option><option value="chunk">passages</option>
      </select></label>
      <span id="chosen" class="chip" hidden></span>
      <label id="keybox" hidden>API key <input id="key" type="password" size="18"></label>
    </div>
  </form>
  <p id="message" class="muted" role="status"></p>
  <ol id="results"></ol>
</main>
</body>
</html>
"""

PAGE_CSS = """
:root { --ink: #1d2330; --muted: #667085; --line: #e4e7ec; --accent: #3b5bdb; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: var(--ink); background: #f6f7fb; }
header { padding: 18px 32px 8px; }
h1 { margin: 0; font-size: 24px; letter-spacing: .5px; }
h1 span { color: var(--accent); font-weight: 500; }
main { max-width: 980px; padding: 0 32px 32px; }
.muted { color: var(--muted); margin: 4px 0; }
.drop { display: flex; gap: 8px; padding: 8px; background: #fff; border: 2px dashed var(--line);
        border-radius: 12px; }
.drop.over { border-color: var(--accent); background: #eef2ff; }
.drop input[type=search] { flex: 1; font: inherit; padding: 8px 10px; border: 1px solid
        var(--line); border-radius: 8px; }
button, .file { font: inherit; padding: 8px 16px; border-radius: 8px; border: 0;
        background: var(--accent); color: #fff; cursor: pointer; }
.file { background: #fff; color: var(--accent); border: 1px solid var(--accent); }
.file input { display: none; }
.options { display: flex; gap: 16px; align-items: center; margin: 10px 2px; color: var(--muted); }
select, #key { font: inherit; }
.chip { background: #eef2ff; color: var(--accent); border-radius: 10px; padding: 1px 8px;
        font-size: 13px; }
ol { list-style: none; padding: 0; margin: 8px 0; }
.result { display: flex; gap: 16px; background: #fff; border: 1px solid var(--line);
          border-radius: 12px; padding: 14px; margin-bottom: 12px; }
.rank { font-size: 20px; font-weight: 600; color: var(--muted); width: 28px; }
.body { flex: 1; min-width: 0; }
.id { font-weight: 600; word-break: break-all; }
.score { display: inline-block; width: 90px; height: 6px; background: var(--line);
         border-radius: 3px; vertical-align: middle; margin: 0 8px; }
.score i { display: block; height: 100%; background: var(--accent); border-radius: 3px; }
.snippet { margin: 6px 0; color: #344054; }
.meta { display: flex; flex-wrap: wrap; gap: 6px; }
.meta .chip { background: #f2f4f7; color: var(--muted); }
.thumbs { display: flex; gap: 8px; }
.thumbs img { width: 120px; height: 90px; object-fit: contain; border-radius: 8px;
              border: 1px solid var(--line); background: #f2f4f7; }
.error { color: #b42318; }
"""

PAGE_JS = r"""
"use strict";
const $ = (id) => document.getElementById(id);
let chosenImage = null;

function headers() {
  const key = sessionStorage.getItem("nyx-key") || "";
  return key ? { "X-API-Key": key } : {};
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

async function thumbnail(url) {
  const img = el("img", { alt: "", loading: "lazy" });
  if (!sessionStorage.getItem("nyx-key")) { img.src = url; return img; }
  const reply = await fetch(url, { headers: headers() });   // <img> cannot send a key
  if (reply.ok) img.src = URL.createObjectURL(await reply.blob());
  return img;
}

async function render(data) {
  const list = $("results");
  list.replaceChildren();
  const top = Math.max(1e-9, ...data.results.map((r) => r.score));
  for (const [n, r] of data.results.entries()) {
    const bar = el("span", { class: "score", title: r.score.toFixed(3) });
    bar.append(el("i", {}));
    bar.firstChild.style.width = Math.round(100 * Math.max(0, r.score) / top) + "%";
    const m = r.metadata || {};
    const chip = (text) => el("span", { class: "chip" }, text);
    const meta = el("div", { class: "meta" }, chip(r.modality));
    if (typeof r.relevance === "number") meta.append(chip(`relevance ${r.relevance.toFixed(2)}`));
    if (r.matched_chunks > 1) meta.append(chip(`${r.matched_chunks} passages matched`));
    if (r.duplicates && r.duplicates.length) {
      meta.append(chip(`same as ${r.duplicates.join(", ")}`));
    }
    const shown = new Set(["chunk", "source", "kind"]);
    for (const [k, v] of Object.entries(m)) {
      if (k.endsWith("_score") || shown.has(k)) continue;
      meta.append(chip(`${k}: ${v}`));
    }
    // the file a hit came from (an image's own file name), and its passage counted from 1
    const where = m.source !== undefined && m.chunk !== undefined
      ? `${m.source} \u00b7 passage ${m.chunk + 1}`
      : (m.source && m.source !== r.id ? `${m.source} \u00b7 ${r.id}` : r.id);
    const full = "/documents/" + encodeURIComponent(r.id).replace(/%2F/g, "/");
    const thumbs = el("div", { class: "thumbs" });
    for (const url of r.image_urls || []) {
      thumbs.append(el("a", { href: url, target: "_blank", title: "full-size image" },
                       await thumbnail(url)));
    }
    const body = el("div", { class: "body" },
      el("div", {}, el("a", { class: "id", href: full, target: "_blank",
                              title: "the whole document" }, where), bar,
         r.score.toFixed(3)),
      el("p", { class: "snippet" }, r.snippet || (r.images.length ? "(image)" : "")),
      meta);
    list.append(el("li", { class: "result", "data-id": r.id },
      el("div", { class: "rank" }, String(n + 1)), body, thumbs));
  }
  const what = data.query ? "\u201c" + data.query + "\u201d" : "the image";
  $("message").textContent = data.results.length
    ? `${data.results.length} result(s) for ${what}` : "No results.";
}

async function search(event) {
  if (event) event.preventDefault();
  const q = $("q").value.trim();
  if (!q && !chosenImage) { $("message").textContent = "Type a query or choose an image."; return; }
  const k = $("k").value, modality = $("modality").value;
  const mode = $("mode").value, group = $("group").value;
  $("message").textContent = "Searching\u2026";
  $("message").classList.remove("error");
  let reply;
  if (chosenImage) {
    const form = new FormData();
    form.append("query", q); form.append("k", k); form.append("modality", modality);
    form.append("mode", mode);
    form.append("group", group);
    form.append("image", chosenImage);
    reply = await fetch("/search", { method: "POST", body: form, headers: headers() });
  } else {
    const params = new URLSearchParams({ q, k, modality, mode, group });
    history.replaceState(null, "", "/?" + params);
    reply = await fetch("/search?" + params, { headers: headers() });
  }
  const data = await reply.json();
  if (!reply.ok) {
    $("message").textContent = data.error || reply.statusText;
    $("message").classList.add("error");
    if (reply.status === 401) $("keybox").hidden = false;
    return;
  }
  await render(data);
}

function choose(file) {
  if (!file || !file.type.startsWith("image/")) return;
  chosenImage = file;
  $("chosen").hidden = false;
  $("chosen").textContent = "image: " + file.name + " \u2715";
  search();
}

async function start() {
  const health = await fetch("/health").then((r) => r.json()).catch(() => null);
  $("status").textContent = health
    ? `${health.index} \u2014 ${health.documents} documents` : "server unreachable";
  if (health && health.auth_required) $("keybox").hidden = false;
  $("key").value = sessionStorage.getItem("nyx-key") || "";
  $("key").addEventListener("change", () => sessionStorage.setItem("nyx-key", $("key").value));
  $("search").addEventListener("submit", search);
  $("image").addEventListener("change", () => choose($("image").files[0]));
  $("chosen").addEventListener("click", () => { chosenImage = null; $("chosen").hidden = true; });
  const drop = $("drop");
  for (const name of ["dragenter", "dragover"]) drop.addEventListener(name, (e) => {
    e.preventDefault(); drop.classList.add("over"); });
  for (const name of ["dragleave", "drop"]) drop.addEventListener(name, (e) => {
    e.preventDefault(); drop.classList.remove("over"); });
  drop.addEventListener("drop", (e) => choose(e.dataTransfer.files[0]));
  const params = new URLSearchParams(location.search);
  for (const name of ["q", "k", "modality", "mode", "group"]) {
    if (params.get(name)) $(name).value = params.get(name);
  }
  if (params.get("q")) await search();
}

start();
"""
