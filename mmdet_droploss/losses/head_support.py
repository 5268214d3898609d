"""Which mmdet heads can take these losses, found out when the head builds its ``loss_cls``.

Every mmdet head builds ``loss_cls`` in its ``__init__`` (``self.loss_cls = MODELS.build(...)``),
so the loss can look up the call stack for the head being built and check it there, at build
time, before a wrong head trains silently. Three families call ``loss_cls(cls_score, labels,
label_weights, avg_factor)`` with hard labels in ``[0, C]`` (``C`` = background) over C sigmoid
logits, which is what the weight rules need:

* ``'roi'``: heads built on mmdet's ``BBoxHead`` (Faster / Mask / Cascade R-CNN, ...): the
  samples are the sampled RoIs; the classifier gets C outputs through the loss's hooks.
* ``'dense'``: sigmoid ``AnchorHead`` / ``AnchorFreeHead`` heads (RetinaNet, FCOS, ATSS, PAA,
  FoveaBox, RepPoints, YOLOF, SABL, ...): the samples are anchors or points.
* ``'detr'``: sigmoid ``DETRHead`` heads (Deformable DETR, DINO, Conditional / DAB-DETR): the
  samples are the decoder's queries (and DINO's denoising and encoder queries).

Heads of these families whose classification target is not a hard label, or that compute their
classification loss themselves, are refused by name (:data:`REFUSED`), and so is any other mmdet
head; modules that are no mmdet head (a user's own, a test harness) are not checked.
"""
import inspect
from typing import Optional

from torch import nn

FAMILY_BASES = {'BBoxHead': 'roi', 'AnchorHead': 'dense', 'AnchorFreeHead': 'dense',
                'SABLRetinaHead': 'dense', 'DETRHead': 'detr'}

_SOFT = 'it trains with soft (IoU-quality) classification targets, not hard labels'
_AGNOSTIC = 'it is a class-agnostic proposal network (one objectness score, no classes)'
_OWN = 'it computes its classification loss itself and never calls loss_cls with labels'
_HEATMAP = 'it classifies Gaussian heatmaps, not labelled samples'
_SOFTMAX = 'it classifies with a softmax over C + 1 logits'
_TEXT = 'its logits score text tokens (open-vocabulary grounding), not a fixed class list'
#: mmdet heads that subclass a supported family (or look like one) but cannot take the losses.
REFUSED = {
    'GFLHead': _SOFT, 'RTMDetHead': _SOFT, 'TOODHead': _SOFT, 'VFNetHead': _SOFT,
    'RPNHead': _AGNOSTIC, 'CascadeRPNHead': _AGNOSTIC, 'GARPNHead': _AGNOSTIC,
    'YOLOXHead': 'it scores objectness and trains the classes with IoU-weighted soft targets',
    'YOLOV3Head': 'it scores objectness and trains the classes on positives only',
    'FreeAnchorRetinaHead': _OWN, 'AutoAssignHead': _OWN,
    'SSDHead': _SOFTMAX + ' with hard-negative mining in the head',
    'YOLACTHead': _SOFTMAX + ' with OHEM in the head',
    'MaskFormerHead': _SOFTMAX + ' and a no-object class weight',
    'CenterNetHead': _HEATMAP, 'CenterNetUpdateHead': _HEATMAP, 'CornerHead': _HEATMAP,
    'GroundingDINOHead': _TEXT, 'ATSSVLFusionHead': _TEXT,
}
SUPPORTED = ('RoI box heads built on BBoxHead (Faster/Mask/Cascade R-CNN); sigmoid dense heads of '
             'the AnchorHead/AnchorFreeHead families (RetinaNet, FCOS, ATSS, ...); sigmoid '
             'DETR-style heads (Deformable DETR, DINO, Conditional/DAB-DETR)')


def building_module(loss: nn.Module, max_depth: int = 40) -> Optional[nn.Module]:
    """The ``nn.Module`` whose ``__init__`` is building ``loss`` (the nearest one up the call
    stack other than the loss itself), or ``None`` when the loss is built on its own."""
    frame = inspect.currentframe()
    try:
        for _ in range(max_depth):
            frame = frame.f_back if frame is not None else None
            if frame is None:
                return None
            if frame.f_code.co_name == '__init__':
                owner = frame.f_locals.get('self')
                if isinstance(owner, nn.Module) and owner is not loss:
                    return owner
        return None
    finally:
        del frame


def head_family(head: Optional[nn.Module], loss: nn.Module) -> Optional[str]:
    """The family (``'roi'``, ``'dense'`` or ``'detr'``) of the head building ``loss``, ``None``
    for a module that is not a detection head (or no module); raises ``ValueError`` naming the
    supported families for a head that cannot take the loss."""
    if head is None:
        return None
    name, loss_name = type(head).__name__, type(loss).__name__
    mro = [cls.__name__ for cls in type(head).__mro__]
    refusal = next((REFUSED[c] for c in mro if c in REFUSED), None)
    family = next((FAMILY_BASES[c] for c in mro if c in FAMILY_BASES), None)
    if refusal is None and family is None:
        if not any(c in ('BaseDenseHead', 'BaseMaskHead', 'BaseRoIHead') for c in mro):
            return None  # not an mmdet head: a user's own module, a wrapper or a test harness
        refusal = 'it is not of a family these losses support'
    if refusal is not None:
        raise ValueError(f'{loss_name} cannot be the loss_cls of {name}: {refusal}. Supported: '
                         f'{SUPPORTED}. Keep the head\'s own loss_cls there.')
    if family == 'dense' and not getattr(head, 'use_sigmoid_cls', True):
        raise ValueError(
            f'{name} sizes its classifier from loss_cls.use_sigmoid, which is not True (unset or '
            f'False): it would build C + 1 softmax outputs. Add use_sigmoid=True to the '
            f'{loss_name} loss_cls (or inherit it from the head\'s FocalLoss instead of using '
            '_delete_=True).')
    if family == 'detr' and getattr(head, 'as_two_stage', False) and 'DINOHead' not in mro:
        raise ValueError(
            f'{loss_name} cannot be the loss_cls of two-stage {name}: its encoder proposals are '
            'trained through the same loss_cls with every label set to 0 (class-agnostic), '
            'which a per-class weight rule would reweight. Use as_two_stage=False, or DINO, '
            'whose encoder loss uses the real labels.')
    num_classes = getattr(head, 'num_classes', None)
    if isinstance(num_classes, int) and num_classes != getattr(loss, 'num_classes', num_classes):
        raise ValueError(f'{loss_name} was built with num_classes={loss.num_classes} but {name} '
                         f'has num_classes={num_classes}; set both to the number of classes of '
                         'the dataset.')
    return family
