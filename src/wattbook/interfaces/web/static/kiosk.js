/* The kiosk page: the session's screens. It holds no secret and creates no note.
 *
 * The page is served by the kiosk's agent (`wattbook kiosk agent`), which signs every API
 * call to the server with the kiosk's secret. The server makes the session id. Notes come
 * only from the note acceptor: the agent journals each one on the server BEFORE the acceptor
 * stacks it, and the page just follows the session (its total) and the acceptor's events
 * (accepted, returned) that the agent reports at /acceptor/state. Plain ES2017, no libraries.
 */
(function () {
  "use strict";

  var messages = JSON.parse(document.getElementById("messages").textContent);
  var lang = document.documentElement.lang;
  var $ = function (id) { return document.getElementById(id); };
  var t = function (key) { return messages[key] || key; };

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  // Send a step; every step is idempotent, so a network failure is retried as is. An HTTP
  // error is the server's answer and is not retried.
  async function call(method, url, body, attempts) {
    var tries = attempts || 8;
    for (var i = 0; i < tries; i++) {
      var response;
      try {
        response = await fetch(url + "?lang=" + lang, method === "GET" ? { method: "GET" } : {
          method: method,
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body || {})
        });
      } catch (networkError) {
        status(t("kiosk.retrying"));
        await sleep(Math.min(250 * Math.pow(2, i), 4000));
        continue;
      }
      var data = await response.json();
      if (response.status === 503 && data.error === "NOTES_IN_DOUBT") {
        // The agent does not yet know what became of a note: wait, do not count the try.
        status(data.message || t("kiosk.checking_note"));
        var after = parseInt(response.headers.get("Retry-After") || "2", 10);
        await sleep(Math.min(Math.max(after, 1), 10) * 1000);
        i--;
        continue;
      }
      if (!response.ok) { throw data; }
      return data;
    }
    throw { error: "NETWORK", message: t("kiosk.retrying") };
  }
  function post(path, body, attempts) {
    return call("POST", "/kiosk/api/sessions/" + session.id + path, body, attempts);
  }

  // ---------------------------------------------------------------- following the acceptor

  var follow = null;
  var lastEvent = null;

  function yuanOf(fen) { return (fen / 100).toString(); }

  function describe(event) {
    if (event.kind === "stacked") { return t("kiosk.note_accepted") + " ¥" + yuanOf(event.amount_fen); }
    if (event.kind === "counterfeit") { return t("kiosk.counterfeit_returned"); }
    if (event.kind === "returned") {
      var reason = event.error ? t("error." + event.error) : "";
      return t("kiosk.note_returned") + (reason && reason !== "error." + event.error ? "：" + reason : "");
    }
    if (event.kind === "escrow") { return t("kiosk.working"); }
    if (event.kind === "checking") { return t("kiosk.checking_note"); }
    return "";
  }

  async function poll() {
    try {
      var view = await call("GET", "/kiosk/api/sessions/" + session.id, null, 1);
      session.view = view;
      $("total").textContent = view.total;
      $("notes-ok").disabled = view.notes.length === 0;
    } catch (error) { /* the next poll tries again */ }
    try {
      var response = await fetch("/acceptor/state");
      if (response.ok) {
        var state = await response.json();
        state.events.forEach(function (event) {
          if (lastEvent === null || event.id > lastEvent) {
            lastEvent = event.id;
            status(describe(event));
          }
        });
        if (state.checking) { status(t("kiosk.checking_note")); }
      }
    } catch (error) { /* no agent: the bare server page shows no acceptor events */ }
  }

  async function startFollowing() {
    stopFollowing();
    lastEvent = null;
    try {
      var response = await fetch("/acceptor/state");
      if (response.ok) {
        var state = await response.json();
        state.events.forEach(function (event) { lastEvent = event.id; });
      }
    } catch (error) { /* no agent */ }
    follow = setInterval(poll, 400);
  }
  function stopFollowing() { if (follow !== null) { clearInterval(follow); follow = null; } }

  // ---------------------------------------------------------------- screens

  var session = { id: null, digits: "", view: null };
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
    stopFollowing();
    session = { id: null, digits: "", view: null };
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

  $("start").addEventListener("click", async function () {
    try {
      var view = await call("POST", "/kiosk/api/sessions", {});
      session.id = view.transaction_id;
      session.view = view;
      show("account");
      renderDigits();
    } catch (error) { fail(error); }
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
      var view = await post("/account", { account_number: session.digits });
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
      $("notes-ok").disabled = true;
      await startFollowing();
    } catch (error) { fail(error); }
  });

  $("notes-ok").addEventListener("click", async function () {
    stopFollowing();
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
      await startFollowing();
    }
  });
  $("done-ok").addEventListener("click", reset);

  renderDigits();
})();
