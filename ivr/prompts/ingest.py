"""A human recording of a prompt, from whatever the browser or an upload sends, to what
Asterisk plays: 8 kHz mono 16-bit, trimmed, at the rendered prompts' loudness.

Input arrives as bytes from an administrator's browser: MediaRecorder's WebM/Opus
(Chromium) or Ogg/Opus (Firefox), or an uploaded WAV, MP3, Ogg/Opus or M4A.  PyAV (whose
wheel carries its own FFmpeg) decodes them all through one code path.  The bytes are
treated as hostile:

* only the demuxers for those formats may open them (FFmpeg has hundreds, several of
  which read other files or URLs named inside the input, such as HLS playlists);
* decoding stops as soon as the audio runs past ``MAX_DECODED_S`` (a few hundred bytes
  can claim hours of silence);
* any failure inside the decoder becomes one :class:`ClipRefused` with a plain reason;
* nothing is written to disk here: the caller passes bytes it has already capped.

The clip is then judged against its text, in the order a person would fix things:
silent, too quiet, clipped, too long or too short for its text.  Every refusal says
what to do next, in Indonesian, because that is what the administrators read.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np

from ivr.errors import IvrError
from ivr.prompts import audio

MAX_UPLOAD_BYTES = 8 * 1024 * 1024  # a minute of 48 kHz stereo WAV is 11 MB; speech needs less
MAX_DECODED_S = 120.0  # stop decoding past this, whatever the text
# Demuxers allowed to open an upload: WAV, MP3, Ogg (Opus/Vorbis), MP4/M4A, Matroska/WebM.
FORMATS = "wav,mp3,ogg,mov,matroska"
CODECS = frozenset({"pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_u8", "pcm_mulaw", "pcm_alaw",
                    "mp3", "mp3float", "opus", "libopus", "vorbis", "aac"})
MAX_RATE = 192_000

SILENT_PEAK_DBFS = -50.0  # nothing louder than this: the microphone was muted or absent
MIN_ACTIVE_DBFS = -42.0  # speech this quiet needs > 22 dB of gain, which lifts the room noise with it
CLIP_LEVEL = 0.98  # samples at or past this share of full scale count as clipped
MAX_CLIPPED_FRACTION = 0.001  # the same limit `ivr prompts check` applies to rendered audio
MIN_SPEECH_RUN_S = 0.06  # a click or a bump shorter than this at either end is not speech

# How long a person may take to say a text.  Calm, slow Indonesian speech for elderly
# listeners runs about 0.07-0.12 s per character (the rendered voice: 0.08-0.11); a clip
# half as long again as the slow end, plus a breath, holds something else as well (the
# text read twice, a remark to a colleague).
SLOW_S_PER_CHAR = 0.12
MAX_FACTOR = 1.5
FAST_S_PER_CHAR = 0.035
MAX_SLACK_S = 1.5
WORD_MIN_S, WORD_MAX_S = 0.15, 4.0


class ClipRefused(IvrError):
    """The clip cannot become a prompt; ``reason`` is a short code, the message says why."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Decoded:
    samples: np.ndarray  # float32 mono, source rate
    rate: int
    container: str
    codec: str

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate if self.rate else 0.0


@dataclass(frozen=True)
class Clip:
    """A clip that passed every check, shaped for Asterisk."""

    samples: np.ndarray  # float32, 8 kHz mono, trimmed and normalised
    source: str  # "webm/opus", "mp3/mp3float", ...
    source_seconds: float
    active_dbfs: float  # speech level after normalising (the target, unless the peaks held it back)
    gain_db: float

    @property
    def seconds(self) -> float:
        return len(self.samples) / audio.RATE


def _dbfs(value: float) -> float:
    return 20.0 * math.log10(value) if value > 0 else float("-inf")


def expected_range(text: str) -> tuple[float, float]:
    """Seconds a person plausibly takes to say ``text`` (start and end trimmed)."""
    chars = len(text.strip())
    if chars < 20:  # a word, a number, a short name: per-character rates mean little here
        return WORD_MIN_S, max(WORD_MAX_S, chars * SLOW_S_PER_CHAR * MAX_FACTOR)
    return chars * FAST_S_PER_CHAR, chars * SLOW_S_PER_CHAR * MAX_FACTOR + MAX_SLACK_S


def length_problem(text: str, seconds: float) -> str | None:
    """Why ``seconds`` of speech does not fit ``text``, or None (used by the check too)."""
    low, high = expected_range(text)
    if seconds > high:
        return f"{seconds:.1f} s is too long for its text ({len(text)} characters: at most {high:.1f} s)"
    if seconds < low:
        return f"{seconds:.1f} s is too short for its text ({len(text)} characters: at least {low:.1f} s)"
    return None


# --- decoding --------------------------------------------------------------------------


def decode(data: bytes, *, max_seconds: float | None = None) -> Decoded:
    """Decode the first audio stream of ``data`` to float32 mono at its own rate."""
    import av  # imported here: only the prompts page needs FFmpeg

    max_seconds = MAX_DECODED_S if max_seconds is None else max_seconds
    if not data:
        raise ClipRefused("empty", "Berkas kosong: tidak ada audio yang terkirim.")
    chunks: list[np.ndarray] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r", options={"format_whitelist": FORMATS}) as container:
            streams = container.streams.audio
            if not streams:
                raise ClipRefused("no_audio", "Berkas ini tidak berisi audio.")
            stream = streams[0]
            if stream.codec_context is None:  # a codec id FFmpeg does not know (a damaged header)
                raise ClipRefused("format", "Jenis audio di berkas ini tidak dikenal. Gunakan WAV, MP3, OGG/Opus atau M4A.")
            codec = stream.codec_context.name
            if codec not in CODECS:
                raise ClipRefused("format", f"Jenis audio '{codec}' tidak diterima. Gunakan WAV, MP3, OGG/Opus atau M4A.")
            rate = stream.codec_context.sample_rate or 0
            if not 4000 <= rate <= MAX_RATE:
                raise ClipRefused("format", f"Laju sampel {rate} Hz tidak didukung.")
            limit = int(max_seconds * rate)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    block = out.to_ndarray().reshape(-1)
                    chunks.append(block.astype(np.float32, copy=False))
                    total += block.size
                if total > limit:
                    raise ClipRefused("too_long", f"Rekaman lebih dari {max_seconds:.0f} detik. "
                                      "Rekam satu kalimat saja, lalu simpan.")
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
            name = {"mov": "m4a", "matroska": "webm"}.get(container.format.name.split(",")[0],
                                                          container.format.name.split(",")[0])
    except ClipRefused:
        raise
    except av.FFmpegError:
        raise ClipRefused("undecodable", "Berkas tidak bisa dibaca sebagai audio. "
                          "Gunakan WAV, MP3, OGG/Opus atau M4A.") from None
    except (ValueError, TypeError, OSError, EOFError, MemoryError, IndexError, RuntimeError, AttributeError):
        # PyAV met something it did not expect in a hostile or broken file (a damaged
        # header can leave a stream half described); the file is refused, nothing else
        raise ClipRefused("undecodable", "Berkas audio rusak atau tidak lengkap.") from None
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    if samples.size == 0:
        raise ClipRefused("silent", "Rekaman tidak berisi suara sama sekali.")
    if not np.isfinite(samples).all():
        raise ClipRefused("undecodable", "Berkas audio rusak (nilai sampel tidak sah).")
    return Decoded(samples, rate, name, codec)


# --- judging and shaping ---------------------------------------------------------------


def _speech_bounds(samples: np.ndarray, rate: int) -> tuple[int, int] | None:
    """First and last sample of speech: runs of loud frames, ignoring short bumps at the ends.

    A mouse click on "stop" or a knock on the desk is loud but brief; the fixed-gate
    trim used for rendered audio would keep it and the silence before it.
    """
    frame = max(1, rate // 100)  # 10 ms
    n = len(samples) // frame
    if n == 0:
        return None
    levels = np.sqrt(np.mean(samples[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1))
    loud = levels > levels.max() * 10 ** (audio.TRIM_GATE_DB / 20)
    min_run = max(1, int(MIN_SPEECH_RUN_S * 100))
    # close gaps shorter than 40 ms inside a word, then keep runs of at least min_run frames
    runs: list[tuple[int, int]] = []
    i = 0
    while i < n:
        if not loud[i]:
            i += 1
            continue
        j = i
        while j < n and (loud[j] or (j + 4 < n and loud[j : j + 4].any())):
            j += 1
        runs.append((i, j))
        i = j
    runs = [r for r in runs if r[1] - r[0] >= min_run]
    if not runs:
        return None
    return runs[0][0] * frame, min(len(samples), runs[-1][1] * frame)


def _active_rms(samples: np.ndarray, rate: int) -> float:
    """The speech level the renderer normalises: RMS of 20 ms frames within 30 dB of the loudest."""
    frame = max(1, rate // 50)
    n = len(samples) // frame
    if n == 0:
        return 0.0
    levels = np.sqrt(np.mean(samples[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1))
    active = levels[levels > levels.max() * 10 ** (-30 / 20)]
    return float(np.sqrt(np.mean(active**2))) if active.size else 0.0


def shape(decoded: Decoded, text: str) -> Clip:
    """Judge a decoded clip against ``text`` and shape it; raises ClipRefused with the reason."""
    x, rate = decoded.samples, decoded.rate
    peak = float(np.abs(x).max()) if x.size else 0.0
    if _dbfs(peak) < SILENT_PEAK_DBFS:
        raise ClipRefused("silent", "Rekaman sunyi: tidak ada suara yang terdengar. "
                          "Periksa mikrofon (dan izin mikrofon di peramban), lalu rekam lagi.")
    bounds = _speech_bounds(x, rate)
    if bounds is None:
        raise ClipRefused("silent", "Tidak ada ucapan yang terdengar, hanya bunyi singkat. Rekam lagi.")
    start, end = bounds
    speech = x[start:end]
    level = _dbfs(_active_rms(speech, rate))
    if level < MIN_ACTIVE_DBFS:
        raise ClipRefused("too_quiet", f"Suara terlalu pelan ({level:.0f} dBFS). "
                          "Bicara lebih dekat ke mikrofon atau naikkan volume mikrofon, lalu rekam lagi.")
    clipped = float(np.count_nonzero(np.abs(speech) >= CLIP_LEVEL)) / max(1, speech.size)
    if clipped > MAX_CLIPPED_FRACTION:
        raise ClipRefused("clipped", f"Suara pecah (terpotong di batas atas: {clipped:.1%} sampel). "
                          "Bicara sedikit lebih jauh dari mikrofon atau turunkan volumenya, lalu rekam lagi.")
    seconds = len(speech) / rate
    low, high = expected_range(text)
    if seconds > high:
        raise ClipRefused("too_long", f"Rekaman {seconds:.1f} detik terlalu panjang untuk teksnya "
                          f"(paling lama {high:.1f} detik). Ucapkan teksnya saja, tanpa jeda panjang.")
    if seconds < low:
        raise ClipRefused("too_short", f"Rekaman {seconds:.1f} detik terlalu pendek untuk teksnya "
                          f"(paling singkat {low:.1f} detik). Apakah ucapannya terpotong?")
    lead, tail = int(audio.LEAD_S * rate), int(audio.TAIL_S * rate)
    head, rear = x[max(0, start - lead) : start], x[end : end + tail]
    framed = np.concatenate([np.zeros(lead - len(head), dtype=np.float32), head, speech, rear,
                             np.zeros(tail - len(rear), dtype=np.float32)])
    before = audio.resample(framed, rate, audio.RATE)
    shaped = audio.normalise(before, audio.RATE)
    gain = _dbfs(float(np.abs(shaped).max())) - _dbfs(float(np.abs(before).max()))
    after = _dbfs(_active_rms(shaped, audio.RATE))
    return Clip(shaped, f"{decoded.container}/{decoded.codec}", decoded.seconds, after, gain)


def ingest(data: bytes, text: str) -> Clip:
    """Bytes from the browser to a checked 8 kHz clip for ``text``."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ClipRefused("too_big", f"Berkas terlalu besar (batas {MAX_UPLOAD_BYTES // (1024 * 1024)} MB).")
    return shape(decode(data), text)
