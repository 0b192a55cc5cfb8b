/* The upload page's script (templates/upload.html); app.js starts it. */
"use strict";

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

/* What a card counts as in the run's summary: its outcome, except that a usable photo its
   family already had (the card's data-repeat: the same bytes answered as already filed, often
   a resend after a lost answer, or a copy of a filed photo, the answer's repeat_of) is a
   repeat, not one more usable photo: its evidence counts once, under the earlier photo. One to
   retake stays to retake: a photo whose first answer was lost is told its verdict only now. */
function summaryBucket(card) {
  var outcome = card.dataset.outcome;
  return outcome === "usable" && card.dataset.repeat ? "repeat" : outcome;
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
  if (response.headers.get("X-Session-Renewal") === "skipped") {
    // Not renewed after all (the session ended while this was asked, or could not be
    // checked): the body's clock counted on the renewal, the header's is the real one.
    tellSessionClock(response);
    var real = headerClock(response);
    if (real && real.ends_in_s <= 0) { return "ended"; }
  } else {
    announceSessionClock(JSON.stringify(answer));  // the session warning learns its new end
  }
  document.querySelectorAll("form input[name=csrf_token]").forEach(function (field) {
    field.value = answer.csrf_token;
  });
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
    var count = { usable: 0, retake: 0, repeat: 0, refused: 0 };
    function add(cards) {
      var none = document.getElementById("upload-none");
      if (none) { none.remove(); }
      cards.forEach(function (card) {
        if (last) { last.after(card); } else { results.prepend(card); }
        last = card;
        var bucket = summaryBucket(card);
        count[bucket] = (count[bucket] || 0) + 1;
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
      .replace("{failed}", sent - count.usable - count.retake - count.repeat) : "";
    if (count.repeat) {
      summary += " " + form.dataset.summaryRepeats.replace("{repeats}", count.repeat);
    }
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
