// Live progress on the request page: polls the portal for new events and the state, without reloading.
(function () {
  "use strict";
  var list = document.getElementById("events");
  if (!list || list.dataset.final === "true") { return; }
  var id = list.dataset.request;
  var after = parseInt(list.dataset.after || "0", 10);
  var stateBox = document.getElementById("request-state");
  var reasonBox = document.getElementById("request-reason");
  function poll() {
    fetch("/portal/requests/" + encodeURIComponent(id) + "/progress?after=" + after, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok || r.redirected) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (body) {
        body.events.forEach(function (e) {
          var holder = document.createElement("ol");
          holder.innerHTML = e.html;  // rendered and escaped by the server's templates
          while (holder.firstChild) { list.appendChild(holder.firstChild); }
          after = Math.max(after, e.id);
        });
        var chip = stateBox.querySelector(".state");
        if (chip && chip.textContent !== body.state_label) {
          chip.textContent = body.state_label;
          chip.className = "state state-" + body.state;
        }
        reasonBox.textContent = body.reason || "—";
        if (body.final) { list.dataset.final = "true"; window.setTimeout(function () { window.location.reload(); }, 500); return; }
        window.setTimeout(poll, 1500);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
})();
