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
  form.querySelectorAll("input[name=kind]").forEach(function (radio) {
    radio.addEventListener("change", sync);
  });
  sync();
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
  setupUpload();
});
