/* The session warning on every signed-in page (templates/base.html); app.js starts it, and
   upload.js tells it of a renewed session. */
"use strict";

/* The session warning (WCAG 2.2.1 Timing Adjustable). A session ends when its token does
   unless a page is used; shortly before, a dialog offers to stay signed in (a request that
   renews the session and records nothing), or, once the session is at its bound after
   sign-in, says it cannot be extended; when it has ended, it says so and links to sign-in.
   The page has the times as seconds from its answer. Tabs of this browser share the session,
   so each tells the others the latest end it learnt (localStorage). */
var SESSION_END_KEY = "shanyraq.session-end";

/* An answer this page fetched renewed the session, maybe: its clock moves the warning. */
function tellSessionClock(response) {
  var clock = response.headers.get("X-Session-Clock");
  if (clock) { announceSessionClock(clock); }
}

function headerClock(response) {  // the server's clock an answer's header carries, or null
  try { return JSON.parse(response.headers.get("X-Session-Clock")); } catch (error) { return null; }
}

function announceSessionClock(clock) {  // clock: the server's JSON, as text
  document.dispatchEvent(new CustomEvent("shanyraq:session-clock", { detail: clock }));
}

/* A time of day as the pages write one (serving/web/times.py): in the site's zone (`zone`,
   its IANA name), on a 24-hour clock, with the zone's UTC offset ("17:00 (UTC+5)": `pattern`,
   the catalogue's time.clock), whatever zone and clock this device is set to. A browser that
   does not know the site's zone gives this device's, its offset stated all the same. */
function clockTime(ms, zone, pattern) {
  var moment = new Date(ms);
  var lang = document.documentElement.lang || undefined;
  var options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  var shown;
  try {
    shown = moment.toLocaleTimeString(lang, Object.assign({ timeZone: zone || undefined }, options));
  } catch (error) {  // RangeError: a zone this browser does not know
    zone = undefined;
    shown = moment.toLocaleTimeString(lang, options);
  }
  return pattern.replace("{time}", shown).replace("{zone}", utcOffset(moment, zone));
}

/* "UTC", "UTC+5", "UTC-3:30" (times.utc_offset): the zone's wall clock at `moment` less UTC. */
function utcOffset(moment, zone) {
  var wall = {};
  new Intl.DateTimeFormat("en-US", {
    timeZone: zone || undefined, hourCycle: "h23", year: "numeric", month: "numeric",
    day: "numeric", hour: "numeric", minute: "numeric"
  }).formatToParts(moment).forEach(function (part) { wall[part.type] = Number(part.value); });
  var local = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute);
  var minutes = Math.round((local - Math.floor(moment.getTime() / 60000) * 60000) / 60000);
  if (!minutes) { return "UTC"; }
  var rest = Math.abs(minutes) % 60;
  return "UTC" + (minutes > 0 ? "+" : "-") + Math.floor(Math.abs(minutes) / 60) +
    (rest ? ":" + String(rest).padStart(2, "0") : "");
}

function setupSessionWarning() {
  var dialog = document.getElementById("session-warning");
  if (!dialog || typeof dialog.showModal !== "function") { return; }
  var title = document.getElementById("session-warning-title");
  var text = document.getElementById("session-warning-text");
  var stay = document.getElementById("session-stay");
  var signIn = document.getElementById("session-sign-in");
  var status = document.getElementById("session-status");
  var warningTitle = title.textContent;
  var session = { ends: 0, warnBefore: 0, final: false };
  var shown = "";  // what the dialog says: "", "warning", "closed" (the warning) or "ended"
  var timer = null;
  function timeOfDay(ms) { return clockTime(ms, dialog.dataset.timeZone, dialog.dataset.clock); }

  function learn(clock, at) {  // clock: the server's {ends_in_s, warn_before_s, final}
    session = {
      ends: at + clock.ends_in_s * 1000, warnBefore: clock.warn_before_s * 1000,
      final: Boolean(clock.final)
    };
    try { localStorage.setItem(SESSION_END_KEY, JSON.stringify(session)); } catch (error) { /* not shared */ }
  }
  function show(kind) {
    if (shown === kind) { return; }
    shown = kind;
    var ended = kind === "ended";
    title.textContent = ended ? dialog.dataset.endedTitle : warningTitle;
    if (ended) {
      // Photos chosen on the upload page are lost if this page goes: sign in in a new tab
      // then, and Upload sends them (setupUpload asks for the new session's token).
      var files = document.querySelector("#upload-form input[type=file]");
      var keep = Boolean(files && files.files && files.files.length);
      text.textContent = keep ? dialog.dataset.endedUpload : dialog.dataset.ended;
      signIn.href = dialog.dataset.signIn + (keep ? "" : "?next=" +
        encodeURIComponent(window.location.pathname + window.location.search));
      if (keep) { signIn.target = "_blank"; signIn.rel = "noopener"; } else {
        signIn.removeAttribute("target");
        signIn.removeAttribute("rel");
      }
      signIn.textContent = keep ? dialog.dataset.signInNewTab : dialog.dataset.signInText;
    } else {
      text.textContent = (session.final ? dialog.dataset.finalText : dialog.dataset.warning)
        .replace("{time}", timeOfDay(session.ends));
    }
    stay.hidden = ended || session.final;
    signIn.hidden = !ended;
    if (!dialog.open) { dialog.showModal(); }
    (ended ? signIn : stay.hidden ? document.getElementById("session-close") : stay).focus();
  }
  function check() {
    clearTimeout(timer);
    var left = session.ends - Date.now();
    if (left <= 0) { show("ended"); return; }
    if (left <= session.warnBefore && shown === "") { show("warning"); }
    var next = left > session.warnBefore ? left - session.warnBefore : left;
    timer = setTimeout(check, Math.min(next, 60000));  // checked again at least each minute
  }
  function renewed() {  // the session's end moved on: no warning until the new one is near
    if (dialog.open) { dialog.close(); }
    shown = "";
    check();
  }

  learn({
    ends_in_s: Number(dialog.dataset.endsIn), warn_before_s: Number(dialog.dataset.warnBefore),
    final: dialog.dataset.final === "true"
  }, Date.now());
  dialog.addEventListener("cancel", function () { if (shown === "warning") { shown = "closed"; } });
  document.getElementById("session-close").addEventListener("click", function () {
    if (shown === "warning") { shown = "closed"; }  // not again until it has ended
    dialog.close();
  });
  stay.addEventListener("click", async function () {
    var response;
    try {
      response = await fetch(dialog.dataset.keepalive, {
        credentials: "same-origin", headers: { "Accept": "application/json" }
      });
    } catch (error) {
      text.textContent = dialog.dataset.failed;
      return;
    }
    if (response.redirected || !response.ok) {  // signed out meanwhile: it has ended
      if (response.redirected || response.status === 401 || response.status === 403) {
        session.ends = Date.now();
        show("ended");
      } else {
        text.textContent = dialog.dataset.failed;
      }
      return;
    }
    if (response.headers.get("X-Session-Renewal") === "skipped") {
      // Not renewed after all (the session ended while this was asked, or could not be
      // checked): the body's clock counted on the renewal, the header's is the real one.
      var real = headerClock(response);
      if (real && Number.isFinite(real.ends_in_s)) { learn(real, Date.now()); }
      check();  // ended: it says so
      if (shown !== "ended") { text.textContent = dialog.dataset.failed; }
      return;
    }
    var answer = null;
    try { answer = await response.json(); } catch (error) { /* not the clock */ }
    if (!answer || !Number.isFinite(answer.ends_in_s)) {
      text.textContent = dialog.dataset.failed;
      return;
    }
    learn(answer, Date.now());
    renewed();
    status.textContent = status.dataset.renewed.replace("{time}", timeOfDay(session.ends));
  });
  window.addEventListener("storage", function (event) {
    if (event.key !== SESSION_END_KEY || !event.newValue) { return; }
    var other;
    try { other = JSON.parse(event.newValue); } catch (error) { return; }
    if (other && other.ends > session.ends) {  // another tab renewed the session
      session = other;
      renewed();
    }
  });
  document.addEventListener("shanyraq:session-clock", function (event) {
    try { learn(JSON.parse(event.detail), Date.now()); } catch (error) { return; }
    renewed();
  });
  document.addEventListener("visibilitychange", check);  // timers sleep in hidden tabs
  check();
}
