// An avatar that cannot load (GitHub's image host is often blocked) is hidden, uncovering the
// initials drawn beneath it: no broken-image icon. Loaded in <head>, before any image, so the
// listener (capturing: error events do not bubble) hears every failure, the live rows' too.
document.addEventListener("error", function (event) {
  var img = event.target;
  if (img.classList && img.classList.contains("avatar-img")) img.hidden = true;
}, true);

// The per-row colours and the meters' widths come as data attributes and are set here, through
// the CSSOM: the Content-Security-Policy allows no style attribute in the markup.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-hue]").forEach(function (el) {
    el.style.setProperty("--hue", el.dataset.hue);
  });
  document.querySelectorAll("[data-share]").forEach(function (el) {
    el.style.setProperty("--share", el.dataset.share + "%");
  });
});
