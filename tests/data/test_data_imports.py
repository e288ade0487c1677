"""The data package stays importable without torch."""

import subprocess
import sys


def test_import_data_skips_torch():
    code = "import sys, asdfeat.data; print('torch' in sys.modules)"

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "False"
