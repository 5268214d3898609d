"""Federated loss: its class sampling (the batch's classes always, the subset size, the
frequencies of the drawn classes against exact probabilities) and its value and gradient."""
import itertools
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmdet.registry import MODELS

import mmdet_droploss  # noqa: F401
from mmdet_droploss.losses import federated_classes

IMAGE_COUNT = [1, 4, 16, 64, 256, 1024]  # sqrt: 1, 2, 4, 8, 16, 32


@pytest.fixture
def counts_file(tmp_path):
    cats = [dict(id=j + 1, name=f'class_{j}', image_count=n) for j, n in enumerate(IMAGE_COUNT)]
    path = tmp_path / 'freq.json'
    path.write_text(json.dumps(dict(num_train_images_with_annotations=2000, categories=cats)))
    return str(path)


def inclusion_probabilities(weights, k):
    """Exact P(class j is drawn) for k draws without replacement, each with probability
    proportional to the weights of the classes not drawn yet (enumerating every ordered draw)."""
    weights = [float(w) for w in weights]
    total = sum(weights)
    inclusion = [0.0] * len(weights)
    positive = [j for j, w in enumerate(weights) if w > 0]
    for seq in itertools.permutations(positive, k):
        prob, left = 1.0, total
        for j in seq:
            prob *= weights[j] / left
            left -= weights[j]
        for j in seq:
            inclusion[j] += prob
    return inclusion


def draw_frequencies(labels, weight, num_sample_classes, draws):
    hits = torch.zeros(weight.numel())
    for _ in range(draws):
        hits += federated_classes(labels, weight, num_sample_classes).float()
    return (hits / draws).numpy()


def assert_frequencies(freq, expected, draws):
    expected = np.asarray(expected)
    tolerance = 5 * np.sqrt(expected * (1 - expected) / draws) + 1e-9
    assert np.all(np.abs(freq - expected) <= tolerance), (freq, expected)


def test_one_draw_follows_the_sqrt_image_count_law(counts_file):
    """Background takes one of 2 places (as in the authors' code): one class is drawn, with
    probability sqrt(image_count_j) / sum_k sqrt(image_count_k)."""
    torch.manual_seed(0)
    loss = MODELS.build(dict(type='FederatedLoss', num_classes=6, categories=counts_file,
                             num_sample_classes=2))
    expected_weight = np.sqrt(IMAGE_COUNT)
    np.testing.assert_allclose(loss.sample_weight.numpy(), expected_weight, rtol=1e-6)
    draws = 20000
    freq = draw_frequencies(torch.tensor([6, 6]), loss.sample_weight, 2, draws)
    assert_frequencies(freq, expected_weight / expected_weight.sum(), draws)


def test_several_draws_without_replacement_match_exact_inclusion_probabilities():
    torch.manual_seed(1)
    weight = torch.tensor([1.0, 2.0, 4.0, 8.0, 16.0, 0.0])  # the last class can never be drawn
    draws = 20000
    freq = draw_frequencies(torch.zeros(0, dtype=torch.long), weight, 3, draws)
    assert freq[5] == 0
    np.testing.assert_allclose(freq.sum(), 3)  # exactly 3 distinct classes every time
    assert_frequencies(freq, inclusion_probabilities(weight.tolist(), 3), draws)
    # with a batch class present (and background), the rest is drawn from the others
    freq = draw_frequencies(torch.tensor([4, 6, 6]), weight, 3, draws)
    assert freq[4] == 1
    rest = inclusion_probabilities([1.0, 2.0, 4.0, 8.0, 0.0, 0.0], 1)
    assert_frequencies(freq[:4], rest[:4], draws)


@pytest.mark.parametrize('num_present', [0, 1, 20, 49, 50, 51, 80])
@pytest.mark.parametrize('background', [False, True])
def test_batch_classes_always_kept_and_the_subset_size(num_present, background):
    torch.manual_seed(num_present)
    num_classes = 200
    weight = torch.rand(num_classes) * 30 + 0.1
    present = torch.randperm(num_classes)[:num_present]
    labels = torch.cat([present.repeat(2), torch.full((5 if background else 0,), num_classes)])
    labels = labels[torch.randperm(labels.numel())]
    for _ in range(5):
        selected = federated_classes(labels, weight, 50)
        assert selected[present].all()
        # the background label takes one of the 50 places, as in the authors' code
        assert int(selected.sum()) == max(50 - int(background), num_present)


def test_proposals_of_zero_weight_do_not_bring_their_class(counts_file):
    weight = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0])
    labels = torch.tensor([2, 3, 3, 5])
    label_weights = torch.tensor([0.0, 0.0, 1.0, 1.0])
    for _ in range(20):
        selected = federated_classes(labels, weight, 3, label_weights)
        assert not selected[2] and selected[3]  # class 3 has one counted proposal
        assert int(selected.sum()) == 2  # 3 places, one of them background


def test_value_and_gradient_against_bce_on_the_sampled_classes(counts_file):
    torch.manual_seed(2)
    loss = MODELS.build(dict(type='FederatedLoss', num_classes=6, categories=counts_file,
                             num_sample_classes=3))
    loss.keep_weights = True
    x = torch.randn(8, 6, dtype=torch.float64) * 2
    labels = torch.tensor([1, 6, 6, 1, 6, 6, 6, 6])
    label_weights = torch.tensor([1.0, 1.0, 0.5, 1.0, 1.0, 0.0, 1.0, 1.0])
    seen = set()
    for _ in range(30):
        logits = x.clone().float().requires_grad_()
        value = loss(logits, labels, label_weights, avg_factor=7.0)
        value.backward()
        mask = loss.last_weights
        assert torch.equal(mask, mask[:1].expand_as(mask))  # the same subset for every proposal
        subset = mask[0].bool()
        assert subset[1] and int(subset.sum()) == 2
        seen.add(tuple(subset.nonzero().flatten().tolist()))
        # reference: plain BCE on the subset's columns, in float64
        ref_logits = x.clone().requires_grad_()
        targets = F.one_hot(labels, 7)[:, :6].double()
        terms = F.binary_cross_entropy_with_logits(ref_logits, targets, reduction='none')
        reference = (terms[:, subset] * label_weights.double()[:, None]).sum() / 7.0
        reference.backward()
        assert value.item() == pytest.approx(reference.item(), rel=1e-5)
        torch.testing.assert_close(logits.grad.double(), ref_logits.grad, rtol=1e-4, atol=1e-7)
        assert torch.all(logits.grad[:, ~subset] == 0)
    assert len(seen) > 1  # drawn anew at every call

    none = loss(x.float(), labels, reduction_override='none')
    assert none.shape == (8, 6) and torch.all(none[:, ~loss.last_weights[0].bool()] == 0)


def test_sigmoid_head_hooks_and_errors(counts_file):
    loss = MODELS.build(dict(type='FederatedLoss', num_classes=6, categories=counts_file))
    assert loss.get_cls_channels(6) == 6
    scores = loss.get_activation(torch.zeros(2, 6))
    assert scores.shape == (2, 7)
    assert torch.all(scores[:, :6] == 0.5) and torch.all(scores[:, 6] == 0)
    with pytest.raises(ValueError, match='num_sample_classes must be a positive integer'):
        MODELS.build(dict(type='FederatedLoss', num_classes=6, categories=counts_file,
                          num_sample_classes=0))
    with pytest.raises(ValueError, match='freq_weight must be a number >= 0'):
        MODELS.build(dict(type='FederatedLoss', num_classes=6, categories=counts_file,
                          freq_weight=-1))
    assert math.isclose(MODELS.build(dict(type='FederatedLoss', num_classes=6,
                                          categories=counts_file, freq_weight=1.0)
                                     ).sample_weight[5].item(), 1024)
