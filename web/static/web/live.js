// Live board: follows /v1/stream and applies each `board` event to the open page in place
// (rows move, new scores show). The page is complete without this script.
(function () {
  "use strict";
  var table = document.querySelector("table.board[data-stream]");
  if (!table || !window.EventSource) return;
  var body = table.tBodies[0];
  var template = document.getElementById("row-template");
  var status = document.querySelector(".live-status");
  var moves = table.dataset.moves === "1";
  var current = table.dataset.eventId;
  var hues = function (id) { var h = 0; for (var i = 0; i < id.length; i++) h = (h * 10 + id.charCodeAt(i) - 48) % 360; return (h * 137) % 360; };

  function moveCell(cell, row) {
    cell.textContent = "";
    var span = document.createElement("span");
    if (row["new"]) { span.className = "badge new"; span.textContent = "new"; }
    else if (row.move > 0) { span.className = "up"; span.innerHTML = '<span aria-hidden="true">▲</span> ' + row.move + '<span class="sr-only"> up</span>'; }
    else if (row.move < 0) { span.className = "down"; span.innerHTML = '<span aria-hidden="true">▼</span> ' + (-row.move) + '<span class="sr-only"> down</span>'; }
    else { span.className = "same"; span.setAttribute("aria-label", "no change"); span.textContent = "–"; }
    cell.appendChild(span);
  }

  function build(row) {
    var tr = template.content.firstElementChild.cloneNode(true);
    tr.dataset.user = row.user_id;
    var link = tr.querySelector(".who a");
    link.href = "/contributors/" + encodeURIComponent(row.login || row.user_id);
    var avatar = tr.querySelector(".avatar");
    avatar.style.setProperty("--hue", hues(row.user_id));
    avatar.textContent = row.login ? row.login.charAt(0).toUpperCase() : "#";
    if (row.avatar_url) {  // over the initials, which avatars.js uncovers if it fails to load
      var img = document.createElement("img");
      img.className = "avatar-img"; img.dataset.initial = avatar.textContent;
      img.src = row.avatar_url; img.alt = ""; img.width = 32; img.height = 32;
      avatar.appendChild(img);
    }
    tr.querySelector(".name").textContent = row.login || "#" + row.user_id;
    return tr;
  }

  function apply(page) {
    var existing = {};
    Array.prototype.forEach.call(body.rows, function (tr) { existing[tr.dataset.user] = tr; });
    var fragment = document.createDocumentFragment();
    page.results.forEach(function (row) {
      var tr = existing[row.user_id];
      var changed = !tr;
      if (tr) {
        delete existing[row.user_id];
        changed = tr.querySelector(".score").textContent !== String(row.score);
      } else {
        tr = build(row);
      }
      var rank = tr.querySelector(".rank");
      rank.textContent = row.rank;
      rank.classList.toggle("first", row.rank === 1);
      tr.querySelector(".score").textContent = row.score;
      var move = tr.querySelector(".move");
      if (move && moves) moveCell(move, row);
      if (changed) { tr.classList.remove("flash"); void tr.offsetWidth; tr.classList.add("flash"); }
      fragment.appendChild(tr);
    });
    Object.keys(existing).forEach(function (id) { existing[id].remove(); });
    body.appendChild(fragment);  // moves the kept rows into the new order
    var sub = document.querySelector(".board-head .sub");
    if (sub) sub.textContent = sub.textContent.replace(/\d+ contributors?$/, page.total + (page.total === 1 ? " contributor" : " contributors"));
  }

  var source = new EventSource(table.dataset.stream);
  source.addEventListener("board", function (event) {
    if (event.lastEventId === current) return;
    current = event.lastEventId;
    apply(JSON.parse(event.data));
    table.dataset.eventId = current;
    if (status) { status.hidden = false; status.textContent = "Live · updated " + new Date().toLocaleTimeString(); }
  });
  source.addEventListener("open", function () { table.dataset.live = "open"; });
  source.addEventListener("error", function () { table.dataset.live = "reconnecting"; });
})();
