// The prompt recorder: record with the microphone (MediaRecorder), send the clip to the
// service, which checks and shapes it, hear the result as callers will, then save.
// No inline script (the pages' Content-Security-Policy allows only files from this site).
(function () {
  "use strict";
  var box = document.querySelector("[data-recorder]");
  if (!box) return;
  var startBtn = box.querySelector("#rec-start"), stopBtn = box.querySelector("#rec-stop");
  var status = box.querySelector("#rec-status"), draftBox = box.querySelector("#rec-draft");
  var playback = box.querySelector("#rec-playback"), facts = box.querySelector("#rec-facts");
  var tokenField = box.querySelector("#rec-token"), saveForm = box.querySelector("#rec-save-form");
  var discard = box.querySelector("#rec-discard");
  var MAX_MS = 60000;             // the service refuses longer clips anyway
  var recorder = null, chunks = [], stream = null, timer = null;

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? "error" : "";
  }

  function mimeType() {
    // Chromium records WebM/Opus, Firefox Ogg/Opus; the service decodes both
    var wanted = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm", "audio/ogg"];
    if (!window.MediaRecorder || !MediaRecorder.isTypeSupported) return "";
    for (var i = 0; i < wanted.length; i++) if (MediaRecorder.isTypeSupported(wanted[i])) return wanted[i];
    return "";
  }

  function stopTracks() {
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
  }

  function send(blob) {
    var form = new FormData();
    var ext = (blob.type || "").indexOf("ogg") >= 0 ? "ogg" : "webm";
    form.append("file", blob, "rekaman." + ext);
    form.append("origin", "browser");
    say("Memeriksa rekaman\u2026");
    fetch(box.dataset.draftUrl, {method: "POST", body: form, credentials: "same-origin",
                                 headers: {"X-CSRF-Token": box.dataset.csrf}})
      .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
      .then(function (res) {
        if (!res.ok) {
          say(typeof res.body.detail === "string" ? res.body.detail : "Rekaman ditolak.", true);
          return;
        }
        tokenField.value = res.body.token;
        playback.src = res.body.url;
        facts.textContent = res.body.seconds.toFixed(1) + " detik, setelah diolah";
        draftBox.hidden = false;
        say("Dengarkan hasilnya, lalu simpan atau buang.");
      })
      .catch(function () { say("Rekaman tidak terkirim: periksa sambungan, lalu coba lagi.", true); });
  }

  startBtn.addEventListener("click", function () {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.MediaRecorder) {
      say("Peramban ini tidak bisa merekam. Gunakan Chrome atau Firefox terbaru, atau unggah berkas.", true);
      return;
    }
    navigator.mediaDevices.getUserMedia({audio: {channelCount: 1, echoCancellation: false,
                                                 noiseSuppression: true, autoGainControl: true}})
      .then(function (s) {
        stream = s;
        chunks = [];
        var type = mimeType();
        recorder = type ? new MediaRecorder(s, {mimeType: type}) : new MediaRecorder(s);
        recorder.ondataavailable = function (e) { if (e.data && e.data.size) chunks.push(e.data); };
        recorder.onstop = function () {
          clearTimeout(timer);
          stopTracks();
          startBtn.disabled = false;
          stopBtn.disabled = true;
          send(new Blob(chunks, {type: recorder.mimeType || type || "audio/webm"}));
        };
        recorder.start();
        draftBox.hidden = true;
        startBtn.disabled = true;
        stopBtn.disabled = false;
        box.dataset.recording = "1";
        say("Merekam\u2026 ucapkan teksnya, lalu tekan Berhenti.");
        timer = setTimeout(function () { if (recorder && recorder.state === "recording") recorder.stop(); }, MAX_MS);
      })
      .catch(function (err) {
        say("Mikrofon tidak bisa dipakai (" + (err && err.name || "ditolak") +
            "). Izinkan mikrofon untuk situs ini, atau unggah berkas.", true);
      });
  });

  stopBtn.addEventListener("click", function () {
    if (recorder && recorder.state === "recording") recorder.stop();
    delete box.dataset.recording;
  });

  discard.addEventListener("click", function () {
    tokenField.value = "";
    playback.removeAttribute("src");
    draftBox.hidden = true;
    say("Rekaman dibuang.");
  });

  saveForm.addEventListener("submit", function (e) {
    // saved over the API so the page can go straight on (the guided walk's next word)
    e.preventDefault();
    if (!tokenField.value) return;
    say("Menyimpan\u2026");
    fetch("/api/voice/drafts/" + encodeURIComponent(tokenField.value) + "/save",
          {method: "POST", credentials: "same-origin", headers: {"X-CSRF-Token": box.dataset.csrf}})
      .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
      .then(function (res) {
        if (!res.ok) { say(typeof res.body.detail === "string" ? res.body.detail : "Gagal menyimpan.", true); return; }
        say("Disimpan sebagai versi " + res.body.version + ".");
        window.location.assign(box.dataset.next);
      })
      .catch(function () { say("Tidak tersimpan: periksa sambungan, lalu coba lagi.", true); });
  });
})();
