"""The LVIS-scale RoI simulator (issue 29): counts equal to the metadata, the sampler's
fractions, the loss called as BBoxHead.loss calls it, RFS as mmdet's, the real evaluator on
perfect and random scorers, LVIS's federated rules, determinism per seed."""
import dataclasses

import numpy as np
import pytest
import torch

from mmdet_droploss.roi_sim import SimulatorSpec, load_counts
from mmdet_droploss.roi_sim.evaluation import detections, evaluate_detections
from mmdet_droploss.roi_sim.images import draw_images
from mmdet_droploss.roi_sim.methods import METHODS
from mmdet_droploss.roi_sim.run import simulate_data
from mmdet_droploss.roi_sim.sampler import (CLUTTER, NEAR_MISS, POSITIVE, UNANNOTATED,
                                            RoISampler)
from mmdet_droploss.roi_sim.training import (build_head, epoch_images, head_losses,
                                             repeat_factors)
from mmdet_droploss.roi_sim.validation import draw_validation, write_ground_truth

SMALL_VAL = SimulatorSpec(num_val_images=3000)


@pytest.fixture(scope='module')
def v1():
    return load_counts('lvis_v1')


@pytest.fixture(scope='module')
def v1_images(v1):
    return draw_images(v1.image_count, v1.instance_count, v1.num_train_images, SimulatorSpec(),
                       np.random.default_rng(0))


@pytest.mark.parametrize('version, classes, rare, images',
                         [('lvis_v1', 1203, 337, 99388), ('lvis_v0.5', 1230, 454, 56740)])
def test_counts_equal_the_metadata(version, classes, rare, images):
    counts = load_counts(version)
    assert (counts.num_classes, int((counts.group_index == 0).sum()),
            counts.num_train_images) == (classes, rare, images)
    drawn = draw_images(counts.image_count, counts.instance_count, counts.num_train_images,
                        SimulatorSpec(), np.random.default_rng(1))
    assert drawn.num_images == images
    assert np.array_equal(drawn.images_per_category(), counts.image_count)
    assert np.array_equal(drawn.instances_per_category(), counts.instance_count)
    per_image = np.diff(drawn.pair_offsets)
    assert per_image.min() >= 1  # every image is annotated
    # no category twice in an image
    keys = drawn.pair_keys()
    assert len(np.unique(keys)) == len(keys) and np.all(np.diff(keys) > 0)


def test_categories_co_occur_more_than_chance(v1, v1_images):
    """Two frequent categories share images more often than independent draws would."""
    freq = np.flatnonzero(v1.group_index == 2)[:60]
    holds = np.zeros((v1_images.num_images, len(freq)), bool)
    col = {c: k for k, c in enumerate(freq)}
    sel = np.isin(v1_images.pair_category, freq)
    holds[v1_images.pair_image[sel], [col[c] for c in v1_images.pair_category[sel]]] = True
    p = holds.mean(0)
    joint = (holds[:, :, None] & holds[:, None, :]).mean(0)
    off = ~np.eye(len(freq), dtype=bool)
    assert joint[off].sum() > 1.2 * np.outer(p, p)[off].sum()


def test_sampler_fractions(v1, v1_images):
    spec = SimulatorSpec(rois_per_image=16)
    data_rng = np.random.default_rng(2)
    from mmdet_droploss.roi_sim.features import FeatureModel
    features = FeatureModel(v1.num_classes, spec, data_rng)
    gen = torch.Generator().manual_seed(0)
    sampler = RoISampler(v1_images, features, v1.image_count, spec, gen)
    images = torch.arange(4000)
    batch = sampler.sample(images, gen)
    assert batch.features.shape == (4000 * 16, spec.feature_dim)
    positive = batch.labels < v1.num_classes
    assert torch.equal(positive, batch.kind == POSITIVE)
    assert positive.float().mean().item() == spec.pos_fraction  # 4 of 16 in every image
    per_image = positive.view(-1)  # positives first: image-major blocks of 4
    assert int(per_image[:4000 * 4].sum()) == 4000 * 4
    # every positive is one of its image's categories
    pos_image = images.repeat_interleave(4).numpy()
    keys = pos_image * v1.num_classes + batch.labels[:4000 * 4].numpy()
    assert np.isin(keys, v1_images.pair_keys()).all()
    kinds = torch.bincount(batch.kind[~positive], minlength=4).double() / (~positive).sum()
    assert abs(kinds[NEAR_MISS] - spec.near_miss_share) < 0.01
    assert kinds[UNANNOTATED] < spec.unannotated_share  # annotated draws become clutter
    assert kinds[UNANNOTATED] > spec.unannotated_share * 0.9
    assert torch.equal(batch.label_weights, torch.ones(len(batch.labels)))


@pytest.mark.parametrize('method', ['droploss', 'eqlv2', 'gumbel', 'bce'])
def test_loss_is_called_as_bbox_head_loss_calls_it(method):
    """The simulator's step gives the loss and the logits' gradient of mmdet's full 2fc box
    head's ``loss`` (with box regression) on the same classifier output."""
    from mmdet.registry import MODELS
    loss_cls, init_cfg = METHODS[method].loss_and_init()
    head = build_head(loss_cls, init_cfg, 1203, 16)
    full = MODELS.build(dict(type='Shared2FCBBoxHead', in_channels=4, fc_out_channels=16,
                             roi_feat_size=2, num_classes=1203, loss_cls=loss_cls,
                             reg_class_agnostic=True))
    torch.manual_seed(0)
    n = 64
    labels = torch.randint(0, 1204, (n,))
    labels[:8] = torch.tensor([0, 5, 17, 300, 1202, 7, 7, 900])
    label_weights = torch.ones(n)
    x = torch.randn(n, 16)
    score_a = head(x)[0].detach().requires_grad_()
    score_b = score_a.detach().clone().requires_grad_()
    ours = head_losses(head, score_a, labels, label_weights)
    theirs = full.loss(score_b, torch.zeros(n, 4), torch.zeros(n, 5), labels, label_weights,
                       torch.zeros(n, 4), torch.zeros(n, 4))
    assert torch.allclose(ours['loss_cls'], theirs['loss_cls'], rtol=0, atol=0)
    ours['loss_cls'].backward()
    theirs['loss_cls'].backward()
    assert torch.equal(score_a.grad, score_b.grad)


def test_rfs_factors_equal_mmdets(v1):
    from mmengine.dataset import BaseDataset, ClassBalancedDataset  # mmdet's RFS wrapper
    counts = v1.image_count // 20 + 1  # a smaller set, same long tail
    images = draw_images(counts, counts, 5000, SimulatorSpec(), np.random.default_rng(3))

    class ImageLists(BaseDataset):
        """The same image lists, as an mmdet dataset gives them to ClassBalancedDataset."""

        def __init__(self):  # no annotation file to read
            self._metainfo = dict(classes=v1.names)
            self.cats = np.split(images.pair_category, images.pair_offsets[1:-1])

        def full_init(self):
            pass

        def __len__(self):
            return images.num_images

        def get_cat_ids(self, idx):
            return self.cats[idx].tolist()

    threshold = 0.01
    balanced = ClassBalancedDataset(ImageLists(), oversample_thr=threshold, lazy_init=True)
    expected = balanced._get_repeat_factors(ImageLists(), threshold)
    np.testing.assert_allclose(repeat_factors(images, threshold), expected, rtol=1e-12)
    balanced.full_init()
    assert np.array_equal(epoch_images(images, threshold), balanced.repeat_indices)
    assert len(epoch_images(images, threshold)) > images.num_images


@pytest.fixture(scope='module')
def small_val(v1, tmp_path_factory):
    val = draw_validation(v1, SMALL_VAL, np.random.default_rng(4))
    path = str(tmp_path_factory.mktemp('sim') / 'val.json')
    write_ground_truth(val, v1, path)
    return val, path


def _evaluate(val, path, v1, scores, per_image=1000):
    image, proposal, label, score = detections(scores, val, 1e-4, per_image)
    return evaluate_detections(val, image, proposal, label, score, path, v1.names, 0)


def test_perfect_scorer_gets_ap_1_and_random_near_0(v1, small_val):
    val, path = small_val
    C = v1.num_classes
    assert np.diff(val.images.instance_offsets).max() <= 300  # LVIS's cap binds on no image
    perfect = torch.zeros(len(val.proposal_kind), C)
    obj = np.flatnonzero(val.proposal_kind == POSITIVE)
    perfect[obj, val.proposal_category[obj]] = 0.9
    metrics = _evaluate(val, path, v1, perfect)
    for key in ('bbox_AP', 'bbox_APr', 'bbox_APc', 'bbox_APf', 'bbox_AP50'):
        assert metrics[key] == pytest.approx(1.0), key
    random = torch.rand(len(val.proposal_kind), C, generator=torch.Generator().manual_seed(0))
    assert _evaluate(val, path, v1, random, per_image=300)['bbox_AP'] < 0.02


def test_federated_rules(v1, small_val):
    val, path = small_val
    C = v1.num_classes
    pos = set(val.images.pair_keys().tolist())
    neg = val.neg_pairs[:, 0] * C + val.neg_pairs[:, 1]
    unann = val.proposal_kind == UNANNOTATED
    unann_keys = (np.repeat(np.arange(val.images.num_images), np.diff(val.proposal_offsets))
                  * C + val.proposal_category)[unann]
    assert not pos & set(neg.tolist())  # verified absent is never present
    assert not set(unann_keys.tolist()) & set(neg.tolist())  # nor an unannotated object
    assert not pos & set(unann_keys.tolist())  # an unannotated object is of another category
    ne = val.not_exhaustive_pairs[:, 0] * C + val.not_exhaustive_pairs[:, 1]
    assert set(ne.tolist()) <= pos
    # negative images per category: as many as positive ones where there is room
    per_cat = np.bincount(val.neg_pairs[:, 1], minlength=C)
    assert np.median(per_cat / val.images.images_per_category()) == pytest.approx(1.0)
    # the evaluator applies them: a confident detection on an unannotated object of an
    # unverified category is free; on an image where its category is verified absent it is not
    perfect = torch.zeros(len(val.proposal_kind), C)
    obj = np.flatnonzero(val.proposal_kind == POSITIVE)
    perfect[obj, val.proposal_category[obj]] = 0.5
    free = perfect.clone()
    props = np.flatnonzero(unann)
    free[props, val.proposal_category[props]] = 0.9
    assert _evaluate(val, path, v1, free)['bbox_AP'] == pytest.approx(1.0)
    wrong = perfect.clone()
    clutter_of_image = {}
    kinds = val.proposal_kind
    for i in range(val.images.num_images):
        lo, hi = val.proposal_offsets[i], val.proposal_offsets[i + 1]
        c = np.flatnonzero(kinds[lo:hi] == CLUTTER)
        if len(c):
            clutter_of_image[i] = lo + c[0]
    rows = [(clutter_of_image[i], c) for i, c in val.neg_pairs.tolist() if i in clutter_of_image]
    r, c = np.array(rows).T
    wrong[r, c] = 0.9
    assert len(rows) > 100 and _evaluate(val, path, v1, wrong)['bbox_AP'] < 0.9


def test_a_run_is_deterministic_for_a_seed(tmp_path):
    from mmdet_droploss.benchmark.sim_designs import quick_spec
    from mmdet_droploss.roi_sim.run import run_simulation
    spec = dataclasses.replace(quick_spec(SimulatorSpec()), num_val_images=200, epochs=1)
    first = simulate_data(spec, 7)
    again = simulate_data(spec, 7)
    assert np.array_equal(first.train_images.pair_category, again.train_images.pair_category)
    assert torch.equal(first.features.prototypes, again.features.prototypes)
    assert np.array_equal(first.val.proposal_box, again.val.proposal_box)
    assert not torch.equal(simulate_data(spec, 8).features.prototypes, first.features.prototypes)
    # the same seed's data simulated twice, trained and evaluated twice: the same metrics
    results = [run_simulation(spec, METHODS['eqlv2'], 7, str(tmp_path / f'r{k}'),
                              str(tmp_path / f'd{k}'), data, log=lambda _: None)
               for k, data in enumerate((first, again))]
    assert results[0]['metrics'] == results[1]['metrics']
    assert results[0]['metrics']['bbox_AP'] > 0.0


def test_quick_simulator_benchmark_through_the_tool(tmp_path):
    """``tools/benchmark.py --design roi_v1a --quick``: every step of the pipeline, one report
    (its numbers mean nothing); a second invocation, or --report-only, trains nothing."""
    import subprocess
    import sys
    from conftest import REPO_ROOT
    cmd = [sys.executable, str(REPO_ROOT / 'tools' / 'benchmark.py'), '--design', 'roi_v1a',
           '--quick', '--methods', 'bce', 'gumbel', '--out', str(tmp_path)]
    first = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
    out = first.stdout
    assert 'pkg_resources' not in first.stderr  # the stack's notices are hidden here too
    report = (tmp_path / 'report.md').read_text()
    assert '**Not the frozen design** (`roi_v1e` is)' in report
    assert ('| training images per category: largest difference to the metadata | 0 | 0 |'
            in report)
    assert '| frequent / rare mean score on background proposals |' in report
    assert 'APr: BCE < BCE (Gumbel, GOL) |' in report and 'Verdict: **' in report
    for label in ('| BCE | 0 |', '| BCE (Gumbel, GOL) | 0 |'):
        assert label in report
    again = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600).stdout
    assert '2 of 2 runs already finished; 0 to go' in again and 'step ' not in again
    assert 'step ' in out
    only = subprocess.run(cmd[:-4] + ['bce', 'eql', '--out', str(tmp_path), '--report-only'],
                          capture_output=True, text=True, check=True).stdout  # trains nothing
    assert '1 of 2 runs finished' in only and not (tmp_path / 'runs' / 'eql').exists()


def test_a_users_own_loss_is_a_method(capsys):
    from mmdet_droploss.roi_sim.methods import (METHODS, method_from_loss, parse_loss,
                                                register_method)
    text = "dict(type='BCE', num_classes=1203, categories='lvis_v1', loss_weight=2.0)"
    loss = parse_loss(text)
    assert loss == dict(type='BCE', num_classes=1203, categories='lvis_v1', loss_weight=2.0)
    assert parse_loss(repr(loss)) == loss
    with pytest.raises(ValueError, match='not a dict of literal values'):
        parse_loss("dict(type=MyLoss)")
    with pytest.raises(ValueError, match='must be a dict with a "type"'):
        parse_loss("dict(num_classes=3)")
    method = method_from_loss(loss, name='my_bce')
    built, init = method.loss_and_init()
    assert built == loss  # replaces the config's loss, keeps its classifier init
    assert init == METHODS['bce'].loss_and_init()[1]
    head = build_head(built, init, 1203, 8)
    assert head.loss_cls.loss_weight == 2.0 and head.fc_cls.out_features == 1203
    register_method(method)
    try:
        with pytest.raises(ValueError, match='already a simulator method'):
            register_method(method_from_loss(dict(type='EQL'), name='my_bce'))
    finally:
        METHODS.pop('my_bce')
    # the command line keeps the held-out losses off a design being searched
    from test_benchmark_calibration import _benchmark_tool
    with pytest.raises(SystemExit):
        _benchmark_tool().parse_args(['--design', 'roi_v1a', '--loss', "dict(type='DropLoss')"])
    assert 'DropLoss is held out' in capsys.readouterr().err
    default = _benchmark_tool().parse_args([])  # the calibrated benchmark, all its methods
    assert default.design == 'roi_v1e' and 'droploss_rfs' in default.methods

