"""``DropLoss(sync_counts=True)`` draws with the ratio of the whole distributed batch."""
import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from conftest import free_port, write_frequency_file

# rank 0 sees 1 tail + 3 frequent foreground proposals, rank 1 sees 3 tail + 1 frequent.
RANK_LABELS = {0: [0, 2, 3, 3] + [4] * 4, 1: [0, 1, 1, 2] + [4] * 4}
# two FPN levels per rank, (labels, label weights): level 0 has 2 tail + 2 frequent counted
# foreground over both ranks (an ignored tail anchor on rank 1 does not count); level 1 has
# foreground on rank 0 only (1 frequent), so both ranks drop every tail entry there.
RANK_LEVELS = {0: [([0, 2, 4, 4], [1, 1, 1, 0]), ([3, 4, 4], [1, 1, 1])],
               1: [([1, 3, 0, 4], [1, 1, 0, 1]), ([4, 4], [1, 1])]}


def _worker(rank: int, port: int, path: str, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    try:
        from mmdet.registry import MODELS
        import mmdet_droploss  # noqa: F401
        labels = torch.tensor(RANK_LABELS[rank])
        results = {}
        for sync in (False, True):
            for drop_frequent in (False, True):
                loss = MODELS.build(dict(type='DropLoss', num_classes=4, categories=path,
                                         sync_counts=sync, drop_frequent=drop_frequent))
                results[(sync, drop_frequent)] = loss.keep_probability(labels)
                # the loss itself runs (and all-reduces) in both processes
                loss(torch.randn(8, 4), labels)
        # a dense head: focal base, one call per FPN level, ignored anchors (weight 0) not counted
        loss = MODELS.build(dict(type='DropLoss', num_classes=4, categories=path,
                                 sync_counts=True, use_sigmoid=True, gamma=2.0, alpha=0.25))
        for level, (level_labels, level_weights) in enumerate(RANK_LEVELS[rank]):
            level_labels, level_weights = torch.tensor(level_labels), torch.tensor(level_weights)
            results[('level', level)] = loss.keep_probability(level_labels, level_weights)
            value = loss(torch.randn(len(level_labels), 4), level_labels, level_weights,
                         avg_factor=torch.tensor(3.0))
            results[('finite', level)] = bool(torch.isfinite(value))
        torch.save(results, os.path.join(out_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


def test_sync_counts_uses_the_global_ratio(tmp_path):
    path = write_frequency_file(tmp_path / 'freq.json', 'rcff')
    mp.spawn(_worker, args=(free_port(), path, str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / 'rank0.pt')
    r1 = torch.load(tmp_path / 'rank1.pt')
    # per process, as the released code: tail ratio 1/4 and 3/4
    assert r0[(False, False)].tolist() == [0.25, 0.25, 1.0, 1.0]
    assert r1[(False, False)].tolist() == [0.75, 0.75, 1.0, 1.0]
    # synchronised: 4 tail of 8 foreground on both ranks
    for r in (r0, r1):
        assert r[(True, False)].tolist() == [0.5, 0.5, 1.0, 1.0]
        assert r[(True, True)].tolist() == [0.5, 0.5, 0.5, 0.5]
    assert r0[(False, True)].tolist() == [0.25, 0.25, 0.75, 0.75]
    for r in (r0, r1):
        assert r[('level', 0)].tolist() == [0.5, 0.5, 1.0, 1.0]
        assert r[('level', 1)].tolist() == [0.0, 0.0, 1.0, 1.0]
        assert r[('finite', 0)] and r[('finite', 1)]
