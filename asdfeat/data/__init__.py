"""Clip tables, DCASE dataset readers, audio decoding and a synthetic dataset.

Importing this package does not import torch.
"""

from asdfeat.data.audio import load_audio
from asdfeat.data.clips import Clip, ClipTable
from asdfeat.data.labels import apply_ground_truth, find_ground_truth_files, read_ground_truth
from asdfeat.data.layout import load_dataset, machine_folder_parents, scan_dataset
from asdfeat.data.names import dataset_from_path, parse_clip_path
from asdfeat.data.synth import synthesize_dataset

__all__ = [
    "Clip",
    "ClipTable",
    "apply_ground_truth",
    "dataset_from_path",
    "find_ground_truth_files",
    "load_audio",
    "load_dataset",
    "machine_folder_parents",
    "parse_clip_path",
    "read_ground_truth",
    "scan_dataset",
    "synthesize_dataset",
]
