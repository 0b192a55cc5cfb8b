/* Small progressive enhancements; every page works without them. Texts come from data-*
   attributes the server rendered from the message catalogues, never from these files. This
   one starts them all; the session warning is in session.js, the upload form in upload.js
   (both loaded before it, deferred, so they share this page's script scope). */
"use strict";

function setupHeatmaps() {
  document.querySelectorAll("button.heat-toggle").forEach(function (button) {
    button.hidden = false;  // rendered hidden (_photo.html): without this script it does nothing
    button.addEventListener("click", function () {
      var img = document.getElementById(button.getAttribute("aria-controls"));
      var figure = button.closest("figure");
      var status = figure.querySelector(".heat-status");
      var key = figure.querySelector(".heat-key");  // the legend, shown only while a map is
      var wasOn = button.getAttribute("aria-pressed") === "true";
      figure.querySelectorAll("button.heat-toggle").forEach(function (other) {
        other.setAttribute("aria-pressed", "false");
      });
      if (wasOn) {
        // A map still loading must not answer for the photo: its load would say the map shown.
        img.onload = img.onerror = null;
        img.src = img.dataset.original;
        img.alt = img.dataset.originalAlt || img.alt;
        status.textContent = "";
        if (key) { key.hidden = true; }
        return;
      }
      if (!img.dataset.originalAlt) { img.dataset.originalAlt = img.alt; }
      button.setAttribute("aria-pressed", "true");
      status.textContent = status.dataset.loading;
      img.onload = function () {
        status.textContent = button.dataset.shown || button.dataset.alt;  // short: the alt explains
        img.onload = img.onerror = null;
        if (key) { key.hidden = false; }
        revealImage(img, button);  // again: the status text and the legend above the button
      };
      img.onerror = function () {
        status.textContent = status.dataset.failed;
        button.setAttribute("aria-pressed", "false");
        img.onload = img.onerror = null;  // the photo put back is no map shown
        if (key) { key.hidden = true; }
        img.src = img.dataset.original;
        img.alt = img.dataset.originalAlt || img.alt;
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

document.addEventListener("DOMContentLoaded", function () {
  setupHeatmaps();
  setupTableScroll();
  setupDecisionForm();
  setupSignOut();
  setupUpload();
  setupSessionWarning();
});
