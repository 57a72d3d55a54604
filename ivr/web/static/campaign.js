// Live figures on a campaign page: poll the JSON API and fill the cells marked data-field.
(function () {
  var box = document.getElementById("progress");
  if (!box) return;
  var id = box.getAttribute("data-campaign");
  var labels = {draft: "Draf", running: "Berjalan", paused: "Dijeda", done: "Selesai"};
  function refresh() {
    fetch("/api/campaigns/" + id, {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        if (!p) return;
        document.querySelectorAll("[data-field]").forEach(function (el) {
          var key = el.getAttribute("data-field");
          if (key === "state_label") el.textContent = labels[p.state] || p.state;
          else if (key in p) el.textContent = p[key];
        });
      })
      .catch(function () {});
  }
  setInterval(refresh, 5000);
})();
