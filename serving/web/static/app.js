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
      img.onload = function () { status.textContent = button.dataset.alt; img.onload = null; };
      img.onerror = function () {
        status.textContent = status.dataset.failed;
        button.setAttribute("aria-pressed", "false");
        img.onerror = null;
        img.src = img.dataset.original;
      };
      img.alt = button.dataset.alt;
      img.src = button.dataset.heatmap;
    });
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

function setupUpload() {
  var form = document.getElementById("upload-form");
  if (!form || !window.fetch || !window.FormData) { return; }
  var input = form.querySelector("#files");
  var progress = document.getElementById("upload-progress");
  var results = document.getElementById("upload-results");
  var first = true;
  form.addEventListener("submit", async function (event) {
    if (!form.checkValidity()) { return; }
    event.preventDefault();
    var files = Array.from(input.files);
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    for (var i = 0; i < files.length; i++) {
      progress.textContent = form.dataset.sending.replace("{n}", i + 1).replace("{total}", files.length);
      var data = new FormData(form);
      data.delete("files");
      data.append("files", files[i], files[i].name);
      var html;
      try {
        var response = await fetch(form.action, {
          method: "POST", body: data, credentials: "same-origin",
          headers: { "X-Requested-With": "fetch" }
        });
        if (response.redirected) {
          html = "<p class=\"error\" role=\"alert\"></p>";
          progress.textContent = form.dataset.signedOut;
          window.location.assign(response.url);
          return;
        }
        html = await response.text();
        if (!response.ok && response.headers.get("content-type").indexOf("html") < 0) {
          throw new Error(String(response.status));
        }
      } catch (error) {
        progress.textContent = form.dataset.failed;
        continue;
      }
      if (first) { results.innerHTML = ""; first = false; }
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var card = holder.querySelector("article") || holder.querySelector("main") || holder;
      results.prepend(card);
    }
    progress.textContent = "";
    button.disabled = false;
    input.value = "";
  });
}

document.addEventListener("DOMContentLoaded", function () {
  setupHeatmaps();
  setupDecisionForm();
  setupSignOut();
  setupUpload();
});
