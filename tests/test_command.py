"""The ``ivr`` command's own behaviour, whatever the sub-command."""

from __future__ import annotations

import argparse
import sys

from ivr import cli


def test_a_reader_that_goes_away_is_not_a_traceback(monkeypatch, capsys):
    """``ivr call ... | grep -q x`` closes the pipe early; the command ends quietly with
    the shell's SIGPIPE status instead of a BrokenPipeError traceback."""

    def func(_args):
        raise BrokenPipeError(32, "Broken pipe")

    parser = argparse.ArgumentParser()
    parser.set_defaults(func=func, verbose=False)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # put back after the test
    assert cli.main([]) == 141
    sys.stdout.close()  # the null device main() put in place of the closed pipe
    assert "Traceback" not in capsys.readouterr().err
