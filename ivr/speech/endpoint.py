"""Endpointing: when a caller has started and finished answering, from 20 ms frames.

A small pure component (no I/O, no clock: time is the audio fed so far).  Feed it
frames of 16-bit samples; it returns events:

* ``SpeechStarted`` -- voice for ``min_speech_ms`` (during the prompt: barge-in);
* ``Paused`` -- once per pause of ``pause_ms`` after voice: a good moment to check
  whether the answer is already complete (16 digits, a clear yes) and stop early;
* ``SpeechEnded`` -- silence for ``end_ms`` after voice;
* ``NoSpeech`` -- no voice within ``start_ms`` of the question's end;
* ``TooLong`` -- voice for ``max_ms`` without a pause long enough to end it.

Voice is decided by energy against the line's noise floor, not by the recogniser's
words: a 20 ms frame is voiced when it is ``ratio`` times louder (RMS) than the
floor and above an absolute minimum.  The floor is the quietest frame of the last
``floor_window_ms`` (minimum statistics): a hissing line is learnt from its first
frame, and speech, which always dips between words, does not raise it.  The
recogniser levels quiet callers (a -50 dB caller is still heard), so the absolute
minimum is low; digital silence stays silent.

The start window counts from the end of the question's prompt (``prompt_done``),
not from the start of listening: an elderly caller who waits 5 s is still heard.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

FRAME_MS = 20


@dataclass(frozen=True)
class EndpointConfig:
    start_ms: int = 8_000        # from the end of the prompt to the first word
    end_ms: int = 1_200          # silence that ends an answer
    max_ms: int = 20_000         # longest answer, from its first word
    pause_ms: int = 300          # a pause worth checking for a complete answer
    min_speech_ms: int = 100     # voice this long counts as speech (not a click)
    ratio: float = 4.0           # voiced: RMS this many times the noise floor (12 dB)
    min_rms: float = 12.0        # ... and at least this (about -69 dBFS)
    floor_window_ms: int = 1_500  # the noise floor is the quietest frame this far back


@dataclass(frozen=True)
class SpeechStarted:
    at_ms: int                   # first voiced frame of the run


@dataclass(frozen=True)
class Paused:
    at_ms: int                   # when the last voiced frame ended


@dataclass(frozen=True)
class SpeechEnded:
    at_ms: int                   # when the last voiced frame ended


@dataclass(frozen=True)
class NoSpeech:
    at_ms: int


@dataclass(frozen=True)
class TooLong:
    at_ms: int


EndpointEvent = SpeechStarted | Paused | SpeechEnded | NoSpeech | TooLong


def frame_rms(samples: np.ndarray) -> float:
    if len(samples) == 0:
        return 0.0
    x = samples.astype(np.float64)
    return math.sqrt(float(np.mean(x * x)))


class Endpointer:
    """Feed frames in order; ``done`` once an ending event was returned."""

    def __init__(self, config: EndpointConfig | None = None):
        self.cfg = config or EndpointConfig()
        self.now_ms = 0
        self._recent: deque[float] = deque(maxlen=max(1, self.cfg.floor_window_ms // FRAME_MS))
        self.prompt_end_ms: int | None = None
        self.speech_start_ms: int | None = None
        self.last_voice_ms: int | None = None   # end of the last voiced frame
        self._run_start: int | None = None      # start of the current voiced run
        self._run_ms = 0
        self._gap_ms = 0
        self._paused_reported = False
        self.done = False

    @property
    def in_speech(self) -> bool:
        return self.speech_start_ms is not None

    def prompt_done(self) -> None:
        """The question's prompt ended (or was never played): start the start window."""
        if self.prompt_end_ms is None:
            self.prompt_end_ms = self.now_ms

    def feed(self, samples: np.ndarray) -> list[EndpointEvent]:
        if self.done:
            return []
        length_ms = max(1, len(samples) * 1000 // 8000)
        start = self.now_ms
        self.now_ms += length_ms
        rms = frame_rms(samples)
        self._recent.append(rms)
        voiced = rms >= max(self.cfg.min_rms, self.floor * self.cfg.ratio)
        events: list[EndpointEvent] = []
        if voiced:
            if self._run_start is None:
                self._run_start = start
                self._run_ms = 0
            self._run_ms += length_ms
            self._gap_ms = 0
            self.last_voice_ms = self.now_ms
            self._paused_reported = False
            if self.speech_start_ms is None and self._run_ms >= self.cfg.min_speech_ms:
                self.speech_start_ms = self._run_start
                events.append(SpeechStarted(self._run_start))
        else:
            self._gap_ms += length_ms
            # A voiced run survives a one-frame dip (plosives, a crackle).
            if self._gap_ms > FRAME_MS:
                self._run_start = None
                self._run_ms = 0
        if self.speech_start_ms is not None:
            silent = self.now_ms - (self.last_voice_ms or self.now_ms)
            if silent >= self.cfg.end_ms:
                events.append(SpeechEnded(self.last_voice_ms))
            elif silent >= self.cfg.pause_ms and not self._paused_reported:
                self._paused_reported = True
                events.append(Paused(self.last_voice_ms))
            elif self.now_ms - self.speech_start_ms >= self.cfg.max_ms:
                events.append(TooLong(self.now_ms))
        elif self.prompt_end_ms is not None and self.now_ms - self.prompt_end_ms >= self.cfg.start_ms:
            events.append(NoSpeech(self.now_ms))
        if any(isinstance(e, (SpeechEnded, NoSpeech, TooLong)) for e in events):
            self.done = True
        return events

    @property
    def floor(self) -> float:
        return max(min(self._recent), 1.0) if self._recent else 1.0
