import json
import os
import socket
from typing import Sequence

import pytest
import torch

# Two cores are shared by everything on the machine: keep torch from oversubscribing them.
torch.set_num_threads(min(2, os.cpu_count() or 1))

# Image counts that give each LVIS group (r: 1-10 images, c: 11-100, f: > 100).
GROUP_IMAGE_COUNT = {'r': 5, 'c': 50, 'f': 500}


def write_frequency_file(path, groups: Sequence[str], num_images: int = 1000) -> str:
    """A frequency file whose class j has LVIS group ``groups[j]``."""
    cats = [dict(id=j + 1, name=f'class_{j}', frequency=g, image_count=GROUP_IMAGE_COUNT[g])
            for j, g in enumerate(groups)]
    with open(path, 'w') as f:
        json.dump(dict(num_train_images_with_annotations=num_images, categories=cats), f)
    return str(path)


@pytest.fixture
def frequency_file(tmp_path):
    """Factory: ``frequency_file('rcff')`` writes a file and returns its path."""
    def make(groups: Sequence[str]) -> str:
        return write_frequency_file(tmp_path / f'freq_{"".join(groups)}.json', groups)
    return make


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for a gloo rendezvous)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
