"""The command line: usage errors and user errors end in one message, not a traceback."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["score", "--bogus"], "No such option"),
        (["score"], "Missing option"),
        (["extract", "--data", "x", "--model", "y", "--store", "z", "--batch-size", "0"], "--batch-size"),
        (["nosuchcommand"], "No such command"),
        (["score", "--store", "/nonexistent/store.zarr"], "error:"),
    ],
    ids=["unknown-option", "missing-option", "invalid-value", "unknown-command", "missing-store"],
)
def test_cli_errors_without_traceback(arguments, message):
    completed = subprocess.run(
        [sys.executable, "-m", "asdfeat.cli", *arguments], capture_output=True, text=True, timeout=120
    )

    assert completed.returncode == 2
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr
