/* The kiosk page: the session's screens, and the bill-acceptor port.
 *
 * A note acceptor holds each note in escrow, then stacks it (keeps it) or returns it. The page
 * journals every note on the server BEFORE telling the acceptor to stack it: a note is kept
 * only once the server has acknowledged it. Any acceptor implements the same port:
 *   enable(onEscrow), disable(), stack(), returnNote(reason)
 * where onEscrow(amountFen) is called for each genuine note; counterfeits never reach it
 * (the acceptor returns them itself). SimulatedAcceptor drives it from on-screen buttons; a
 * real device driver (e.g. an ID-003 or ccTalk bridge on the kiosk PC) plugs in through
 * window.WattbookAcceptors.register(name, factory) and ?acceptor=name. Plain ES2017, no
 * libraries: it runs in every current browser.
 */
(function () {
  "use strict";

  var messages = JSON.parse(document.getElementById("messages").textContent);
  var kioskId = document.body.getAttribute("data-kiosk-id") || "K01";
  var lang = document.documentElement.lang;
  var $ = function (id) { return document.getElementById(id); };
  var t = function (key) { return messages[key] || key; };

  // ---------------------------------------------------------------- the bill-acceptor port

  function SimulatedAcceptor(root) {
    var self = this;
    var enabled = false;
    var busy = false;
    var onEscrow = null;
    self.enable = function (callback) { onEscrow = callback; enabled = true; };
    self.disable = function () { enabled = false; };
    self.stack = function () { busy = false; };
    self.returnNote = function (reason) { busy = false; status(reason || t("kiosk.note_returned")); };
    Array.prototype.forEach.call(root.querySelectorAll(".note[data-yuan]"), function (button) {
      button.addEventListener("click", function () {
        if (!enabled || busy) { return; }
        busy = true;
        onEscrow(parseInt(button.getAttribute("data-yuan"), 10) * 100);
      });
    });
    $("note-fake").addEventListener("click", function () {
      if (!enabled || busy) { return; }
      // The acceptor's own validator rejects it: it never reaches the server.
      status(t("kiosk.counterfeit_returned"));
    });
  }

  var registry = { simulated: function () { return new SimulatedAcceptor(document); } };
  window.WattbookAcceptors = {
    register: function (name, factory) { registry[name] = factory; }
  };
  function makeAcceptor() {
    var wanted = new URLSearchParams(location.search).get("acceptor") || "simulated";
    return (registry[wanted] || registry.simulated)();
  }

  // ---------------------------------------------------------------- talking to the server

  function newTransactionId() {
    var bytes = new Uint8Array(8);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    var hex = Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
    return kioskId + "-" + hex;
  }

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  // POST a step; every step is idempotent, so a network failure is retried as is. An HTTP
  // error is the server's answer and is not retried.
  async function post(path, body, attempts) {
    var tries = attempts || 8;
    for (var i = 0; i < tries; i++) {
      var response;
      try {
        response = await fetch("/kiosk/api/sessions/" + session.id + path + "?lang=" + lang, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body || {})
        });
      } catch (networkError) {
        status(t("kiosk.retrying"));
        await sleep(Math.min(250 * Math.pow(2, i), 4000));
        continue;
      }
      var data = await response.json();
      if (!response.ok) { throw data; }
      return data;
    }
    throw { error: "NETWORK", message: t("kiosk.retrying") };
  }

  // ---------------------------------------------------------------- screens

  var session = { id: null, digits: "", sequence: 0, view: null };
  var acceptor = makeAcceptor();
  var idleTimer = null;

  function show(name) {
    Array.prototype.forEach.call(document.querySelectorAll(".screen"), function (screen) {
      screen.classList.toggle("active", screen.id === "screen-" + name);
    });
    message("");
    status("");
  }
  function message(text) { $("message").textContent = text || ""; }
  function status(text) { $("acceptor-status").textContent = text || ""; }
  function fail(error) { message((error && error.message) || t("error.INTERNAL")); }

  function renderDigits() {
    var display = $("account-display");
    display.textContent = session.digits || t("kiosk.account_hint");
    display.classList.toggle("empty", !session.digits);
    $("account-ok").disabled = session.digits.length !== 12;
  }

  function reset() {
    acceptor.disable();
    session = { id: null, digits: "", sequence: 0, view: null };
    renderDigits();
    show("home");
  }

  // Back to the start after two idle minutes on a screen without money in it.
  function touch() {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(function () {
      var view = session.view;
      if (!view || view.notes.length === 0 || view.state === "CREDITED") { reset(); }
    }, 120000);
  }
  document.addEventListener("click", touch);

  $("start").addEventListener("click", function () {
    session.id = newTransactionId();
    show("account");
    renderDigits();
  });
  Array.prototype.forEach.call(document.querySelectorAll(".key[data-digit]"), function (key) {
    key.addEventListener("click", function () {
      if (session.digits.length < 12) { session.digits += key.getAttribute("data-digit"); }
      renderDigits();
    });
  });
  $("key-clear").addEventListener("click", function () { session.digits = ""; renderDigits(); });
  $("key-back").addEventListener("click", function () {
    session.digits = session.digits.slice(0, -1);
    renderDigits();
  });
  $("account-cancel").addEventListener("click", reset);

  $("account-ok").addEventListener("click", async function () {
    try {
      var view = await post("/account", { account_number: session.digits, kiosk_id: kioskId });
      session.view = view;
      $("d-holder").textContent = view.holder;
      $("d-account").textContent = view.account_number;
      $("d-address").textContent = view.address;
      $("d-balance").textContent = view.balance + " " + t("yuan");
      show("details");
    } catch (error) { fail(error); }
  });
  $("details-back").addEventListener("click", function () { show("account"); });

  $("details-ok").addEventListener("click", async function () {
    try {
      session.view = await post("/details-confirmed");
      show("notes");
      $("total").textContent = session.view.total;
      acceptor.enable(onEscrow);
    } catch (error) { fail(error); }
  });

  async function onEscrow(amountFen) {
    session.sequence += 1;
    status(t("kiosk.working"));
    try {
      // Journalled first; only then is the note stacked.
      var view = await post("/notes", { sequence: session.sequence, amount_fen: amountFen }, 30);
      session.view = view;
      acceptor.stack();
      $("total").textContent = view.total;
      $("notes-ok").disabled = false;
      status(t("kiosk.note_accepted") + " ¥" + amountFen / 100);
    } catch (error) {
      // Not journalled (or unknown): give the note back, and never reuse the sequence.
      acceptor.returnNote(error && error.message);
    }
  }

  $("notes-ok").addEventListener("click", async function () {
    acceptor.disable();
    $("notes-ok").disabled = true;
    try {
      var view = await post("/confirm", {}, 60);
      session.view = view;
      $("r-number").textContent = view.receipt.number;
      $("r-amount").textContent = view.receipt.amount + " " + t("yuan");
      $("r-balance").textContent = view.receipt.balance_after + " " + t("yuan");
      var base = "/kiosk/sessions/" + session.id + "/receipt";
      $("r-print").href = base + "?lang=" + lang;
      $("r-pdf").href = base + ".pdf?lang=" + lang;
      show("done");
    } catch (error) {
      fail(error);
      $("notes-ok").disabled = false;
      acceptor.enable(onEscrow);
    }
  });
  $("done-ok").addEventListener("click", reset);

  renderDigits();
})();
