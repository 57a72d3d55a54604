// Follows a running import job: updates the progress bar from the job's JSON every
// second and a half, and reloads the page (which then shows the result) when it ends.
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box) { return; }
  var url = box.getAttribute("data-job-url");
  var bar = document.getElementById("job-progress");
  var text = document.getElementById("job-status");
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (job) {
        if (!job) { return; }
        if (job.state !== "running") {
          window.location.replace("/recipients?job=" + encodeURIComponent(job.id));
          return;
        }
        bar.value = job.percent;
        bar.textContent = job.percent + "%";
        text.textContent = job.kind === "check"
          ? job.rows_read.toLocaleString("id-ID") + " baris sudah dibaca (" + job.percent + "%)."
          : "Menggabungkan daftar ke data penerima.";
        window.setTimeout(poll, 1500);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1500);
}());
