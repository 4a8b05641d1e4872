// Quiz pages: ordering by drag and drop or with Up/Down buttons (keyboard), the timer, and
// focus management after a practice check.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-move]");
    if (!button) return;
    event.preventDefault();
    var item = button.closest("li");
    var list = item && item.parentElement;
    if (!list) return;
    if (button.dataset.move === "up" && item.previousElementSibling) {
      list.insertBefore(item, item.previousElementSibling);
    } else if (button.dataset.move === "down" && item.nextElementSibling) {
      list.insertBefore(item.nextElementSibling, item);
    } else {
      return;
    }
    button.focus(); // moving a node can drop focus; keep it on the button the learner used
    var items = Array.prototype.slice.call(list.children);
    var announce = list.parentElement.querySelector("[data-order-announce]");
    if (announce) {
      var text = item.querySelector(".ordering-text").textContent.trim();
      announce.textContent = "“" + text + "” moved to position " + (items.indexOf(item) + 1) +
        " of " + items.length + ".";
    }
    var form = list.closest("form");
    if (form) form.dispatchEvent(new Event("change", { bubbles: true }));
  });

  // Drag and drop for pointer users: open ordering lists (those with move buttons) are draggable.
  var dragged = null;
  function makeDraggable(root) {
    (root || document).querySelectorAll("[data-ordering] li.ordering-item").forEach(function (li) {
      if (li.querySelector("[data-move]")) li.setAttribute("draggable", "true");
    });
  }
  document.addEventListener("DOMContentLoaded", function () { makeDraggable(); });
  document.addEventListener("htmx:afterSettle", function (event) { makeDraggable(event.detail.target); });
  document.addEventListener("dragstart", function (event) {
    dragged = event.target.closest && event.target.closest("li.ordering-item[draggable=true]");
    if (!dragged) return;
    dragged.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", dragged.dataset.item);
  });
  document.addEventListener("dragover", function (event) {
    if (!dragged) return;
    var over = event.target.closest && event.target.closest("li.ordering-item");
    if (!over || over === dragged || over.parentElement !== dragged.parentElement) return;
    event.preventDefault();
    var box = over.getBoundingClientRect();
    var after = event.clientY > box.top + box.height / 2;
    over.parentElement.insertBefore(dragged, after ? over.nextElementSibling : over);
  });
  document.addEventListener("drop", function (event) {
    if (dragged) event.preventDefault();
  });
  document.addEventListener("dragend", function () {
    if (!dragged) return;
    var list = dragged.parentElement;
    dragged.classList.remove("dragging");
    var items = Array.prototype.slice.call(list.children);
    var announce = list.parentElement.querySelector("[data-order-announce]");
    if (announce) {
      announce.textContent = "“" + dragged.querySelector(".ordering-text").textContent.trim() +
        "” moved to position " + (items.indexOf(dragged) + 1) + " of " + items.length + ".";
    }
    dragged = null;
    var form = list.closest("form");
    if (form) form.dispatchEvent(new Event("change", { bubbles: true }));
  });

  // After a practice check the question is re-rendered: move focus to its feedback (after
  // settling, when htmx has finished restoring focus to the element it replaced).
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.target;
    if (!target || !target.id || target.id.indexOf("question-") !== 0) return;
    var fresh = document.getElementById(target.id);
    var feedback = fresh && fresh.querySelector(".feedback");
    if (feedback) feedback.focus();
  });

  function startTimer(box) {
    var remaining = parseInt(box.dataset.remaining, 10);
    var text = box.querySelector("[data-timer-text]");
    var end = Date.now() + remaining * 1000;
    function show() {
      var left = Math.max(0, Math.round((end - Date.now()) / 1000));
      var m = Math.floor(left / 60), s = left % 60;
      text.textContent = m + ":" + (s < 10 ? "0" : "") + s;
      if (left <= 60) box.classList.add("warn");
      if (left <= 0) {
        window.location.assign(box.dataset.reload); // the server submits the attempt
        return;
      }
      window.setTimeout(show, 1000);
    }
    show();
  }
  function init() {
    document.querySelectorAll(".quiz-timer[data-remaining]").forEach(startTimer);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
