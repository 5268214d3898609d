"""ECM (Cho and Krähenbühl, ECCV 2022) against a float64 transcription of the authors' loss, its
margins from every kind of ``categories=`` source, the C + 1 test scores, the bad inputs, and
Mask R-CNN / Cascade Mask R-CNN training a step and predicting with it."""
import json

import numpy as np
import pytest
import torch
from mmdet.registry import MODELS

from conftest import GROUP_IMAGE_COUNT
from mmdet_droploss.categories import load_categories

GROUPS = 'rrcff'
C = len(GROUPS)
RATIO = 6.3313


def reference_terms(x, labels, image_count, fg_bg_ratio=RATIO):
    """The authors' ECM, transcribed (EffectiveClassMarginLoss.forward and compute_weight,
    get_detection_weight), in float64: the (N, C + 1) weighted terms, before the sum / N."""
    x = x.double()
    n = torch.as_tensor(np.asarray(image_count), dtype=torch.float64)
    n = torch.cat([n, n.sum()[None] * fg_bg_ratio])
    n_pos, n_neg = n, n.sum() - n
    pos_w = (n_neg.pow(1 / 4) / (n_pos.pow(1 / 4) + n_neg.pow(1 / 4))).pow(-1).log()
    neg_w = (n_pos.pow(1 / 4) / (n_pos.pow(1 / 4) + n_neg.pow(1 / 4))).pow(-1).log()
    a = (n.sum() - n) / n
    cls_weight = a * ((1 + a) / a).log()
    target = torch.zeros_like(x)
    target[torch.arange(len(labels)), labels] = 1
    exp_pos = (x + pos_w).exp()
    exp_neg = (-x + neg_w).exp()
    pred_pos = exp_pos / (exp_pos + exp_neg)
    pred_neg = exp_neg / (exp_pos + exp_neg)
    loss = -(pred_pos.log() * target + pred_neg.log() * (1 - target))
    return loss * cls_weight


def batch(seed, n=32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, C + 1, generator=g) * 3
    labels = torch.randint(0, C + 1, (n,), generator=g)
    labels[: n // 2] = C  # half background
    return x, labels


@pytest.fixture
def freq(frequency_file):
    return frequency_file(GROUPS)


def build(categories, **kwargs):
    return MODELS.build(dict(type='ECM', num_classes=len(load_categories(categories).ids),
                             categories=categories, **kwargs))


def counts_of(groups):
    return [GROUP_IMAGE_COUNT[g] for g in groups]


@pytest.mark.parametrize('seed', range(3))
def test_value_and_gradient_match_the_authors_formula(freq, seed):
    loss = build(freq)
    x, labels = batch(seed)
    x.requires_grad_()
    value = loss(x, labels, avg_factor=len(labels))
    value.backward()
    x_ref = x.detach().double().requires_grad_()
    expected = reference_terms(x_ref, labels, counts_of(GROUPS)).sum() / len(labels)
    expected.backward()
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), x_ref.grad.numpy(), rtol=1e-4, atol=1e-8)


def test_label_weights_avg_factor_and_reductions(freq):
    loss = build(freq)
    x, labels = batch(7)
    label_weights = (torch.arange(len(labels)) % 3 != 0).float()
    terms = reference_terms(x, labels, counts_of(GROUPS)) * label_weights[:, None].double()
    none = loss(x, labels, label_weights, reduction_override='none')
    assert none.shape == (len(labels), C + 1)
    np.testing.assert_allclose(none.numpy(), terms.numpy(), rtol=1e-5, atol=1e-7)
    total = loss(x, labels, label_weights, reduction_override='sum')
    assert total.item() == pytest.approx(terms.sum().item(), rel=1e-5)
    mean = loss(x, labels, label_weights, avg_factor=5.0)
    assert mean.item() == pytest.approx(terms.sum().item() / 5.0, rel=1e-5)


def test_margins_and_weights_in_closed_form():
    """On LVIS v1's image counts: the objectness margin is log(fg_bg_ratio) / 4 whatever the
    counts (n_bg / (T - n_bg) = fg_bg_ratio), the class margins log(n / (T - n)) / 4 are
    negative and ordered by image count, and w = a log(1 + 1 / a) lies in (0, 1)."""
    loss = build('lvis_v1')
    counts = np.asarray(load_categories('lvis_v1').image_count, dtype=np.float64)
    total = counts.sum() * (1 + RATIO)
    margin, weight = loss.margin.double().numpy(), loss.class_weight.double().numpy()
    assert margin.shape == weight.shape == (1204,)
    np.testing.assert_allclose(margin[:-1], np.log(counts / (total - counts)) / 4, rtol=1e-6)
    assert margin[-1] == pytest.approx(np.log(RATIO) / 4, rel=1e-6)
    assert (margin[:-1] < 0).all()
    order = np.argsort(counts, kind='stable')
    assert (np.diff(margin[:-1][order]) >= -1e-6).all()
    a = np.append((total - counts) / counts, 1 / RATIO)
    np.testing.assert_allclose(weight, a * np.log1p(1 / a), rtol=1e-6)
    assert ((weight > 0) & (weight < 1)).all()
    # the authors' default and an explicit ratio
    assert build('lvis_v1', fg_bg_ratio=2.0).margin[-1].item() == pytest.approx(np.log(2) / 4)


def annotation_file(tmp_path, groups):
    """An LVIS-style annotation file whose class j appears on GROUP_IMAGE_COUNT[groups[j]]
    images (one box each)."""
    images, anns = [], []
    for j, g in enumerate(groups):
        for k in range(GROUP_IMAGE_COUNT[g]):
            image_id = len(images) + 1
            images.append(dict(id=image_id, width=10, height=10))
            anns.append(dict(id=len(anns) + 1, image_id=image_id, category_id=j + 1,
                             bbox=[0, 0, 2, 2], area=4))
    cats = [dict(id=j + 1, name=f'class_{j}') for j in range(len(groups))]
    path = tmp_path / 'train.json'
    path.write_text(json.dumps(dict(images=images, annotations=anns, categories=cats)))
    return str(path)


@pytest.mark.parametrize('source', ['lvis_v1', 'lvis_v0.5', 'frequency file', 'annotation file'])
def test_every_categories_source(source, freq, tmp_path):
    categories = {'frequency file': freq,
                  'annotation file': annotation_file(tmp_path, GROUPS)}.get(source, source)
    loss = build(categories)
    counts = load_categories(categories).image_count
    x = torch.randn(8, loss.num_classes + 1, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2, 3, 4] + [loss.num_classes] * 3)
    expected = reference_terms(x, labels, counts).sum() / 8
    assert loss(x, labels).item() == pytest.approx(expected.item(), rel=1e-5)
    if source in ('frequency file', 'annotation file'):  # the same 5 classes' counts
        assert counts.tolist() == counts_of(GROUPS)


def test_test_scores_and_classifier_width(freq):
    """Test-time scores are the authors' sigmoid(x_j) (1 - sigmoid(x_bg)) of the raw logits (the
    margins are training-only), background last."""
    loss = build(freq)
    assert loss.get_cls_channels(C) == C + 1
    x, labels = batch(1)
    scores = loss.get_activation(x)
    p = x.double().sigmoid()
    np.testing.assert_allclose(scores[:, :C].numpy(), (p[:, :C] * (1 - p[:, C:])).numpy(),
                               rtol=1e-6)
    np.testing.assert_allclose(scores[:, C].numpy(), p[:, C].numpy(), rtol=1e-6)
    acc = loss.get_accuracy(x, labels)
    predicted = scores.argmax(1)
    assert acc['acc'].item() == pytest.approx((predicted == labels).float().mean().item() * 100)


def test_half_precision_logits(freq):
    loss = build(freq)
    x, labels = batch(2)
    half = x.to(torch.bfloat16).requires_grad_()
    value = loss(half, labels)
    value.backward()
    expected = reference_terms(half.detach().float(), labels, counts_of(GROUPS)).sum() / len(labels)
    assert value.dtype == torch.float32 and value.item() == pytest.approx(expected.item(), rel=1e-5)
    assert half.grad.dtype == torch.bfloat16 and torch.isfinite(half.grad.float()).all()


@pytest.mark.parametrize('kwargs, message', [
    (dict(fg_bg_ratio=0), 'fg_bg_ratio must be a finite number > 0'),
    (dict(fg_bg_ratio=float('inf')), 'fg_bg_ratio must be a finite number > 0'),
    (dict(fg_bg_ratio=True), 'fg_bg_ratio must be a finite number > 0'),
    (dict(activation='gumbel'), r"ECM: activation='gumbel' is not defined for this loss .*"
                                r"use activation='sigmoid'"),
    (dict(activation='tanh'), r"ECM: activation must be one of \('sigmoid', 'gumbel'\)"),
    (dict(base_loss='focal'), "ECM is a binary cross-entropy with margins: base_loss must be"),
    (dict(gamma=2.0), "ECM is a binary cross-entropy with margins: base_loss must be"),
])
def test_bad_arguments(freq, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build(freq, **kwargs)


def test_wrong_width_and_empty_class(freq, tmp_path):
    loss = build(freq)
    with pytest.raises(ValueError, match=r'ECM expects \(N, 6\) logits .*objectness channel'):
        loss(torch.randn(3, C), torch.tensor([0, 1, C]))
    with pytest.raises(ValueError, match=r'ECM expects \(N, 6\)'):
        loss.get_activation(torch.randn(3, C))
    path = annotation_file(tmp_path, GROUPS)
    data = json.loads(open(path).read())
    data['categories'].append(dict(id=C + 1, name='never_seen'))
    open(path, 'w').write(json.dumps(data))
    with pytest.raises(ValueError, match=r'1 categories .* have no training image .*never_seen'):
        MODELS.build(dict(type='ECM', num_classes=C + 1, categories=path))


def test_refused_outside_roi_heads(freq):
    from mmdet.models.dense_heads import RetinaHead
    with pytest.raises(ValueError, match='ECM works in roi heads only'):
        RetinaHead(num_classes=C, in_channels=8, feat_channels=8, stacked_convs=1,
                   loss_cls=dict(type='ECM', num_classes=C, categories=freq, use_sigmoid=True))


@pytest.mark.parametrize('detector', ['mask_rcnn', 'cascade_mask_rcnn'])
def test_mask_rcnn_and_cascade_train_a_step_and_predict(detector, tmp_path, frequency_file):
    from roi_detector import GROUPS as DETECTOR_GROUPS, NUM_CLASSES, assert_detections, \
        assert_trained, objectness_scores, train_step_and_predict
    loss_cls = dict(type='ECM', num_classes=NUM_CLASSES, categories=frequency_file(DETECTOR_GROUPS))
    run = train_step_and_predict(detector, loss_cls, tmp_path, init_cfg=None)  # mmdet's init
    assert_trained(run, detector, NUM_CLASSES + 1)
    # Mask R-CNN: detections carry sigmoid(x_j) (1 - sigmoid(x_bg)) of their RoI (Cascade
    # averages the three stages' logits first)
    assert_detections(run, objectness_scores(run.logits) if len(run.heads) == 1 else None)
