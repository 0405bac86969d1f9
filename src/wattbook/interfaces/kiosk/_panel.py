"""The simulated acceptor's device panel at the agent's /acceptor.

It stands in for the physical note acceptor: each button puts a note into the slot, and the
panel shows the note in escrow and what became of each note (stacked, returned, rejected).
Its escrow-timeout button gives the note in escrow back unasked, as a real device does.
A real kiosk has no such panel: its acceptor sits on a serial port.
"""

from __future__ import annotations

import html
import json

_TEXT = {
    "zh-CN": {
        "title": "纸币器（模拟）",
        "counterfeit": "假币",
        "escrow": "暂存",
        "stacked": "已收入",
        "returned": "已退回",
        "counterfeit_event": "假币已退回",
        "time_out": "暂存超时退回",
        "checking": "正在确认纸币",
        "fault": "故障",
        "none": "无",
    },
    "en": {
        "title": "Note acceptor (simulated)",
        "counterfeit": "Counterfeit",
        "escrow": "In escrow",
        "stacked": "Stacked",
        "returned": "Returned",
        "counterfeit_event": "Counterfeit rejected",
        "time_out": "Escrow timeout (give back)",
        "checking": "Checking the note",
        "fault": "Fault",
        "none": "none",
    },
}
NOTES_YUAN = (1, 5, 10, 20, 50, 100)

_SCRIPT = """
(function () {
  "use strict";
  var text = JSON.parse(document.getElementById("text").textContent);
  function insert(body) {
    return fetch("/acceptor/insert", {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)
    });
  }
  document.querySelectorAll(".note[data-yuan]").forEach(function (button) {
    button.addEventListener("click", function () {
      insert({yuan: parseInt(button.getAttribute("data-yuan"), 10)});
    });
  });
  document.getElementById("note-fake").addEventListener("click", function () {
    insert({yuan: 100, counterfeit: true});
  });
  document.getElementById("time-out").addEventListener("click", function () {
    fetch("/acceptor/time-out", {method: "POST"});
  });
  function line(event) {
    var yuan = event.amount_fen === null ? "" : " ¥" + event.amount_fen / 100;
    if (event.kind === "counterfeit") { return text.counterfeit_event; }
    var words = text[event.kind] || event.kind;
    return words + yuan + (event.error ? " (" + event.error + ")" : "");
  }
  async function refresh() {
    try {
      var state = await (await fetch("/acceptor/state")).json();
      document.getElementById("escrow").textContent =
        state.escrow_fen === null ? text.none : "¥" + state.escrow_fen / 100;
      var list = document.getElementById("events");
      list.textContent = "";
      state.events.slice().reverse().forEach(function (event) {
        var item = document.createElement("li");
        item.className = event.kind;
        item.textContent = line(event);
        list.appendChild(item);
      });
    } catch (error) { /* the next refresh tries again */ }
  }
  setInterval(refresh, 300);
  refresh();
})();
"""


def panel_page(language: str) -> str:
    """Return the panel's HTML in ``language`` (zh-CN unless ``en``)."""
    lang = "en" if language == "en" else "zh-CN"
    text = _TEXT[lang]
    buttons = "".join(
        f'<button type="button" class="note" data-yuan="{yuan}">¥{yuan}</button>'
        for yuan in NOTES_YUAN
    )
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{html.escape(text['title'])}</title>"
        '<link rel="stylesheet" href="/static/app.css">'
        '<link rel="stylesheet" href="/static/kiosk.css"></head>'
        f'<body class="kiosk acceptor-panel"><main><h1>{html.escape(text["title"])}</h1>'
        f'<div class="acceptor">{buttons}'
        f'<button type="button" class="note fake" id="note-fake">'
        f"{html.escape(text['counterfeit'])}</button>"
        f'<button type="button" class="note" id="time-out">{html.escape(text["time_out"])}'
        "</button></div>"
        f'<p>{html.escape(text["escrow"])}: <strong id="escrow">{html.escape(text["none"])}'
        '</strong></p><ol id="events" aria-live="polite"></ol></main>'
        f'<script id="text" type="application/json">{json.dumps(text)}</script>'
        f"<script>{_SCRIPT}</script></body></html>"
    )
