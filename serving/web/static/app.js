/* Small progressive enhancements; every page works without them. Texts come from data-*
   attributes the server rendered from the message catalogues, never from this file. */
"use strict";

function setupHeatmaps() {
  document.querySelectorAll("button.heat-toggle").forEach(function (button) {
    button.addEventListener("click", function () {
      var img = document.getElementById(button.getAttribute("aria-controls"));
      var figure = button.closest("figure");
      var status = figure.querySelector(".heat-status");
      var wasOn = button.getAttribute("aria-pressed") === "true";
      figure.querySelectorAll("button.heat-toggle").forEach(function (other) {
        other.setAttribute("aria-pressed", "false");
      });
      if (wasOn) {
        img.src = img.dataset.original;
        img.alt = img.dataset.originalAlt || img.alt;
        status.textContent = "";
        return;
      }
      if (!img.dataset.originalAlt) { img.dataset.originalAlt = img.alt; }
      button.setAttribute("aria-pressed", "true");
      status.textContent = status.dataset.loading;
      img.onload = function () {
        status.textContent = button.dataset.shown || button.dataset.alt;  // short: the alt explains
        img.onload = null;
        revealImage(img, button);  // again: the status text above the button has grown
      };
      img.onerror = function () {
        status.textContent = status.dataset.failed;
        button.setAttribute("aria-pressed", "false");
        img.onerror = null;
        img.src = img.dataset.original;
      };
      img.alt = button.dataset.alt;
      img.src = button.dataset.heatmap;
      revealImage(img, button);
    });
  });
}

/* A heat map turned on from a button below its photo: scroll the photo back into view, as
   far as the pressed button (which keeps focus) stays in view; the button first. */
function revealImage(img, button) {
  var margin = 8;
  var above = margin - img.getBoundingClientRect().top;  // the photo hidden above by
  var below = button.getBoundingClientRect().bottom - (window.innerHeight - margin);
  if (below > 0) { window.scrollBy(0, below); } else if (above > 0) { window.scrollBy(0, -Math.min(above, -below)); }
}

/* A wide table's box (_macros.html scroll_box) is a tab stop only while it scrolls: the
   keyboard needs it then (WCAG 2.1.1), and where the table fits it would be a stop that does
   nothing. It is rendered focusable, so a page without this script (or ResizeObserver) still
   lets a narrow screen scroll it: a stop too many beats a table out of reach. Out of the tab
   order it stays focusable by script (-1), so a box that has focus as it stops scrolling keeps
   it. Its table is watched too: it can grow inside a box that keeps its size. */
function fitTabStop(box) {
  box.tabIndex = box.scrollWidth > box.clientWidth ? 0 : -1;
}

function setupTableScroll() {
  if (!window.ResizeObserver) { return; }
  var observer = new ResizeObserver(function (entries) {
    entries.forEach(function (entry) { fitTabStop(entry.target.closest(".table-scroll")); });
  });
  document.querySelectorAll(".table-scroll").forEach(function (box) {
    fitTabStop(box);  // at once, not at the first observation: the page loads with it right
    observer.observe(box);
    if (box.firstElementChild) { observer.observe(box.firstElementChild); }
  });
}

/* The decision form's draft: kept in this tab's sessionStorage when the form is sent, so a
   decision that was not recorded (the session had ended, the form was out of date) is filled
   in again when its family page next opens. Kept for the member who typed it only; dropped
   once read, when the page shows the decision recorded or refused (the server kept the
   values then), and at sign-out. */
var DRAFT_PREFIX = "shanyraq.decision-draft:";
var DRAFT_FIELDS = ["kind", "level", "reason_code", "reason"];

function storage() {
  try { return window.sessionStorage; } catch (error) { return null; }
}

function saveDraft(form) {
  var store = storage();
  if (!store) { return; }
  var draft = { user: form.dataset.user };
  DRAFT_FIELDS.forEach(function (name) {
    var field = form.querySelector("[name=" + name + "]:checked") ||
      form.querySelector("select[name=" + name + "], textarea[name=" + name + "]");
    draft[name] = field ? field.value : "";
  });
  try { store.setItem(DRAFT_PREFIX + form.getAttribute("action"), JSON.stringify(draft)); } catch (error) { /* full or refused: nothing kept */ }
}

function takeDraft(form) {
  var store = storage();
  if (!store) { return null; }
  var key = DRAFT_PREFIX + form.getAttribute("action");
  var saved = store.getItem(key);
  store.removeItem(key);
  if (!saved) { return null; }
  try { saved = JSON.parse(saved); } catch (error) { return null; }
  return saved && saved.user === form.dataset.user ? saved : null;
}

function restoreDraft(form, draft) {
  form.querySelectorAll("input[name=kind]").forEach(function (radio) {
    if (radio.value === draft.kind && !radio.disabled) { radio.checked = true; }
  });
  ["level", "reason_code"].forEach(function (name) {
    var select = form.querySelector("select[name=" + name + "]");
    if (select && Array.from(select.options).some(function (o) { return o.value === draft[name]; })) {
      select.value = draft[name];
    }
  });
  form.querySelector("textarea[name=reason]").value = draft.reason || "";
  var note = document.getElementById("decision-draft");
  note.textContent = note.dataset.restored;
  note.hidden = false;
  var unsent = document.getElementById("unsent");  // the server's "not recorded" notice
  if (unsent) { unsent.textContent = note.dataset.restored; }
}

function clearDrafts() {
  var store = storage();
  if (!store) { return; }
  for (var i = store.length - 1; i >= 0; i--) {
    var key = store.key(i);
    if (key && key.indexOf(DRAFT_PREFIX) === 0) { store.removeItem(key); }
  }
}

function setupDecisionForm() {
  var form = document.getElementById("decision-form");
  if (!form) { return; }
  var fields = form.querySelector(".override-fields");
  var reason = form.querySelector("#reason");
  function sync() {
    var override = form.querySelector("input[name=kind]:checked");
    var isOverride = override && override.value === "override";
    fields.disabled = !isOverride;
    reason.required = isOverride;
  }
  var note = document.getElementById("decision-draft");  // a live region: present while empty
  if (note && !note.textContent) { note.hidden = false; }
  var draft = takeDraft(form);
  if (draft && !form.dataset.recorded && !document.getElementById("decision-error")) {
    restoreDraft(form, draft);
  }
  form.querySelectorAll("input[name=kind]").forEach(function (radio) {
    radio.addEventListener("change", sync);
  });
  form.addEventListener("submit", function () { saveDraft(form); });
  sync();
}

function setupSignOut() {
  document.querySelectorAll("form.sign-out").forEach(function (form) {
    form.addEventListener("submit", clearDrafts);
  });
}

/* The upload form, one photo per request so each gets its verdict at once. Every photo sent
   ends with a card in the results, in the order chosen: the server's verdict, or, when it was
   not filed (no connection, too large, refused), its file name and why, as an alert that
   stays. The run ends with a summary in the status region, which takes focus; photos that
   could not be sent stay chosen, to be sent again. A run that meets an ended session stops
   there and keeps that photo and the rest chosen: the summary says so and links to sign-in
   in a new tab, so this page and its chosen photos stay (a phone's gallery need not be gone
   through again); Upload then sends them with the new session's token. */
function resultCard(name, message) {
  var card = document.createElement("article");
  card.className = "result result-fail";
  card.dataset.outcome = "refused";
  var heading = document.createElement("h3");
  heading.textContent = name;
  var alert = document.createElement("p");
  alert.className = "error";
  alert.setAttribute("role", "alert");
  alert.textContent = message;
  card.append(heading, alert);
  return card;
}

/* The cards of one photo's answer: the server's verdicts, never the rest of its page. */
async function answerCards(response, name, form) {
  if (response.status === 413) { return [resultCard(name, form.dataset.tooLarge)]; }
  var holder = document.createElement("div");
  if ((response.headers.get("content-type") || "").indexOf("html") >= 0) {
    holder.innerHTML = await response.text();
  }
  var cards = response.ok ? Array.from(holder.querySelectorAll("article.result")) : [];
  if (cards.length) { return cards; }
  var why = holder.querySelector("main h1 + p");  // an error page: its help, in the reader's words
  return [resultCard(name, form.dataset.refused + (why ? " " + why.textContent.trim() : ""))];
}

function keepChosen(input, files) {
  try {
    var chosen = new DataTransfer();
    files.forEach(function (file) { chosen.items.add(file); });
    input.files = chosen.files;
  } catch (error) { input.value = ""; }  // a browser that cannot: they are chosen again by hand
}

/* Before a run, the session signed in now: "ended" (none), "other" (another account's, not
   the one this page was opened by), else "ok", and this page's forms then carry its CSRF
   token: after a sign-in in another tab that is a new session's, which refuses the old one.
   "ok" too when it could not be asked: the photos' own requests then tell. */
async function currentSession(form) {
  var response;
  try {
    response = await fetch(form.dataset.session, {
      credentials: "same-origin", headers: { "Accept": "application/json" }
    });
  } catch (error) { return "ok"; }
  if (response.redirected) { return "ended"; }
  var answer = null;
  try { answer = response.ok ? await response.json() : null; } catch (error) { return "ok"; }
  if (!answer || !answer.csrf_token) { return "ok"; }
  if (answer.user !== form.dataset.user) { return "other"; }
  document.querySelectorAll("form input[name=csrf_token]").forEach(function (field) {
    field.value = answer.csrf_token;
  });
  announceSessionClock(JSON.stringify(answer));  // the session warning learns its new end
  return "ok";
}

function signInLink(form) {
  var link = document.createElement("a");
  link.href = form.dataset.signIn;
  link.target = "_blank";  // a new tab: this page and its chosen photos stay
  link.rel = "noopener";
  link.textContent = form.dataset.signInText;
  return link;
}

function setupUpload() {
  var form = document.getElementById("upload-form");
  if (!form || !window.fetch || !window.FormData) { return; }
  var input = form.querySelector("#files");
  var progress = document.getElementById("upload-progress");
  var results = document.getElementById("upload-results");
  var button = form.querySelector("button[type=submit]");
  var maxBytes = Number(form.dataset.maxBytes) || Infinity;
  var busy = false;
  form.addEventListener("submit", async function (event) {
    if (busy) { event.preventDefault(); return; }
    if (!form.checkValidity()) { return; }
    event.preventDefault();
    busy = true;
    button.setAttribute("aria-disabled", "true");  // stays focusable: focus is not lost
    var files = Array.from(input.files);
    var unsent = [];
    var kept = [];  // not sent: the session had ended, or is another account's
    var retried = -1;  // the photo sent again with a new session's token, at most once
    var last = null;  // this run's latest card: the next goes after it
    var count = { usable: 0, retake: 0, refused: 0 };
    function add(cards) {
      var none = document.getElementById("upload-none");
      if (none) { none.remove(); }
      cards.forEach(function (card) {
        if (last) { last.after(card); } else { results.prepend(card); }
        last = card;
        count[card.dataset.outcome] = (count[card.dataset.outcome] || 0) + 1;
      });
    }
    var session = await currentSession(form);
    if (session !== "ok") { kept = files; }
    for (var i = 0; i < files.length && !kept.length; i++) {
      var name = files[i].name;
      progress.textContent = form.dataset.sending.replace("{n}", i + 1).replace("{total}", files.length);
      if (files[i].size >= maxBytes) { add([resultCard(name, form.dataset.tooLarge)]); continue; }
      var data = new FormData(form);
      data.delete("files");
      data.append("files", files[i], name);
      var response;
      try {
        response = await fetch(form.action, {
          method: "POST", body: data, credentials: "same-origin",
          headers: { "X-Requested-With": "fetch" }
        });
      } catch (error) {
        unsent.push(files[i]);
        add([resultCard(name, form.dataset.failed)]);
        continue;
      }
      if (response.redirected) {  // to sign-in: the session ended, this photo was not filed
        session = "ended";
        kept = files.slice(i);
        break;
      }
      if (response.status === 403 && retried !== i) {
        // Refused: maybe the form's token is an ended session's (a sign-out and sign-in in
        // another tab during this run). Ask again: another session or none keeps this photo
        // and the rest chosen; this user's new session's token sends it once more.
        var token = form.querySelector("input[name=csrf_token]").value;
        session = await currentSession(form);
        if (session !== "ok") { kept = files.slice(i); break; }
        if (form.querySelector("input[name=csrf_token]").value !== token) {
          retried = i;
          i--;
          continue;
        }
      }
      tellSessionClock(response);
      add(await answerCards(response, name, form));
    }
    var sent = files.length - kept.length;
    var summary = sent ? form.dataset.summary.replace("{total}", sent)
      .replace("{usable}", count.usable).replace("{retake}", count.retake)
      .replace("{failed}", sent - count.usable - count.retake) : "";
    var next = kept.length ? form.dataset[session === "other" ? "otherUser" : "signedOut"]
      : unsent.length ? form.dataset.retry : "";
    keepChosen(input, unsent.concat(kept));
    progress.textContent = [summary, next].filter(Boolean).join(" ");
    if (kept.length) { progress.append(" ", signInLink(form)); }
    progress.focus();
    button.removeAttribute("aria-disabled");
    busy = false;
  });
}

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

function announceSessionClock(clock) {  // clock: the server's JSON, as text
  document.dispatchEvent(new CustomEvent("shanyraq:session-clock", { detail: clock }));
}

function clockTime(ms) {
  return new Date(ms).toLocaleTimeString(document.documentElement.lang || undefined,
    { hour: "2-digit", minute: "2-digit" });
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
        .replace("{time}", clockTime(session.ends));
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
    learn(await response.json(), Date.now());
    renewed();
    status.textContent = status.dataset.renewed.replace("{time}", clockTime(session.ends));
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

document.addEventListener("DOMContentLoaded", function () {
  setupHeatmaps();
  setupTableScroll();
  setupDecisionForm();
  setupSignOut();
  setupUpload();
  setupSessionWarning();
});
