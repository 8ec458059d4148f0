/* The engagement page: every time on the page (a Moment, a next step, a transcript
   line) plays the recording from there, and the transcript follows the player.
   Without this script the times are links to the recording at that second (#t=). */
(function () {
  "use strict";
  var player = document.querySelector("[data-player]");
  if (!player) return;
  var box = document.querySelector("[data-transcript]");
  var lines = box ? Array.prototype.slice.call(box.querySelectorAll(".seg")) : [];
  var starts = lines.map(function (li) { return parseFloat(li.dataset.start); });
  var current = null;

  function seek(seconds) {
    if (!isFinite(seconds)) return;
    player.currentTime = seconds;
    var playing = player.play();
    if (playing && playing.catch) playing.catch(function () { /* the browser refused autoplay: seeked anyway */ });
    if (player.getBoundingClientRect().bottom < 0) player.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-seek]");
    if (link) {
      event.preventDefault();
      seek(parseFloat(link.dataset.seek));
      return;
    }
    // A click anywhere on a transcript line, unless the user is selecting its text.
    var line = event.target.closest(".seg");
    if (line && box && box.contains(line) && !String(window.getSelection() || "")) {
      seek(parseFloat(line.dataset.start));
    }
  });

  // The line being said: the last one that started at or before the player's time.
  function lineAt(t) {
    var lo = 0, hi = starts.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (starts[mid] <= t + 0.05) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found < 0 ? null : lines[found];
  }

  function follow() {
    var line = lineAt(player.currentTime);
    if (line === current) return;
    if (current) { current.classList.remove("is-current"); current.removeAttribute("aria-current"); }
    current = line;
    if (!line) return;
    line.classList.add("is-current");
    line.setAttribute("aria-current", "true");
    // Keep it in view inside the transcript box (never scrolls the page).
    var top = line.offsetTop, bottom = top + line.offsetHeight;
    if (top < box.scrollTop || bottom > box.scrollTop + box.clientHeight) {
      box.scrollTop = Math.max(0, top - box.clientHeight / 3);
    }
  }

  if (lines.length) {
    player.addEventListener("timeupdate", follow);
    player.addEventListener("seeked", follow);
  }
})();
