"""The scoring package imports without torch."""

import subprocess
import sys

BLOCK_TORCH = """
import importlib.abc
import sys


class BlockTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
        return None


sys.meta_path.insert(0, BlockTorch())
import asdfeat.scoring
from asdfeat.scoring import fit_md, roc_auc, run_protocols

assert "torch" not in sys.modules, "torch was imported"
print("ok")
"""


def test_scoring_imports_without_torch():
    completed = subprocess.run([sys.executable, "-c", BLOCK_TORCH], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"
