"""What some tests need beyond ``pip install -e '.[test]'``, and the one-line reason each
skips with when it is missing (always naming the Debian package or the extra to install).

The README's set-up line installs the Debian packages; ``.ci/run`` installs the same ones
and then the ``train`` extra for the ``-m train`` step.
"""

from __future__ import annotations

import ctypes.util
import shutil
from pathlib import Path

import pytest

# pass as ``pytest.importorskip(name, reason=TRAIN_EXTRA)`` in the test, so the skip names the test's line
TRAIN_EXTRA = "needs the train extra (torch, kaldifst, kaldi-native-fbank, scipy): pip install -e '.[train]'"

HAVE_ESPEAK = bool(ctypes.util.find_library("espeak-ng") or ctypes.util.find_library("espeak"))
espeak = pytest.mark.skipif(not HAVE_ESPEAK,
                            reason="needs Debian's espeak-ng (apt-get install espeak-ng) to render prompts")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
chromium = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                              reason="needs Debian's chromium (apt-get install chromium) for browser tests")

