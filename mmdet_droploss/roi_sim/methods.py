"""The methods the simulator trains: each a method config's classifier loss and its
classifier initialisation (read from the shipped LVIS config, so the simulator trains what
the config would), with or without RFS. A user's own loss is a method too
(:func:`method_from_loss`)."""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from ..resources import configs_root


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    #: a shipped config (relative to configs/) whose RoI head's loss_cls and init_cfg are used
    config: Optional[str] = None
    #: keys merged into (or, with ``replace_loss``, replacing) the config's loss_cls
    loss_overrides: Tuple[Tuple[str, object], ...] = ()
    replace_loss: bool = False
    #: a config whose classifier init_cfg replaces the first's (GOL's init for the Gumbel loss)
    init_from: Optional[str] = None
    rfs: bool = False
    #: the LVIS version the config is for (its categories and counts)
    version: str = 'lvis_v1'

    def loss_and_init(self) -> Tuple[dict, Optional[List[dict]]]:
        """(loss_cls, init_cfg) of the RoI box head, as the config builds them."""
        head = _bbox_head(self.config)
        loss = {} if self.replace_loss else dict(head['loss_cls'])
        loss.update(dict(self.loss_overrides))
        init = head.get('init_cfg') if self.init_from is None else \
            _bbox_head(self.init_from).get('init_cfg')
        return loss, (list(init) if init is not None else None)


def _bbox_head(config: str) -> dict:
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(configs_root(), config))
    return cfg.to_dict()['model']['roi_head']['bbox_head']


_V1 = dict(bce='baseline/mask_rcnn_r50_lvis_v1.py', eql='eql/mask_rcnn_r50_lvis_v1.py',
           eqlv2='eqlv2/mask_rcnn_r50_lvis_v1.py', droploss='droploss/mask_rcnn_r50_lvis_v1.py',
           gol='gol/mask_rcnn_r50_lvis_v1.py')

METHODS: Dict[str, Method] = {m.name: m for m in (
    Method('bce', 'BCE', _V1['bce']),
    Method('eql', 'EQL', _V1['eql']),
    Method('bce_rfs', 'BCE + RFS', _V1['bce'], rfs=True),
    Method('eql_rfs', 'EQL + RFS', _V1['eql'], rfs=True),
    Method('eqlv2', 'EQLv2', _V1['eqlv2']),
    # GOL's README compares sigmoid BCE with the Gumbel activation in one recipe
    Method('gumbel', 'BCE (Gumbel, GOL)', _V1['bce'], replace_loss=True, init_from=_V1['gol'],
           loss_overrides=(('type', 'BCE'), ('num_classes', 1203), ('categories', 'lvis_v1'),
                           ('activation', 'gumbel'))),
    # held out (issue 29 item 5): run only on the frozen design
    Method('droploss', 'DropLoss', _V1['droploss']),
    Method('droploss_rfs', 'DropLoss + RFS', _V1['droploss'], rfs=True),
    Method('droploss_v05', 'DropLoss (v0.5)', 'droploss/mask_rcnn_r50_lvis.py',
           version='lvis_v0.5'),
    Method('beql', 'BEQL (b = 4, v0.5)', 'beql/mask_rcnn_r50_lvis_b4.py', version='lvis_v0.5'),
    Method('fixed_drop50', 'fixed drop ratio 0.5 (v0.5)',
           'fixed_ratio/mask_rcnn_r50_lvis_drop50.py', version='lvis_v0.5'),
)}
#: calibration: the methods whose LVIS ranking is published (calibration.py's five, and GOL's)
SIM_CALIBRATION_METHODS = ('bce', 'eql', 'bce_rfs', 'eql_rfs', 'eqlv2', 'gumbel')
SIM_HELD_OUT_METHODS = ('droploss', 'droploss_rfs', 'droploss_v05', 'beql', 'fixed_drop50')


def method_from_loss(loss_cls: dict, name: str = 'custom', rfs: bool = False,
                     init_from: str = _V1['bce']) -> Method:
    """A user's own loss (any registered ``loss_cls`` dict), with the sigmoid classifier's
    init of ``init_from``."""
    return Method(name, name, init_from, tuple(loss_cls.items()), replace_loss=True,
                  init_from=init_from, rfs=rfs)


def register_method(method: Method) -> None:
    """Make ``method`` (e.g. from :func:`method_from_loss`) a simulator method by its name."""
    if method.name in METHODS and METHODS[method.name] != method:
        raise ValueError(f'{method.name!r} is already a simulator method: choose another name')
    METHODS[method.name] = method


def parse_loss(text: str) -> dict:
    """A ``loss_cls`` from the command line: ``"dict(type='MyLoss', num_classes=1203)"`` or
    ``"{'type': 'MyLoss', ...}"`` (literal values only)."""
    import ast
    try:
        node = ast.parse(text.strip(), mode='eval').body
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == 'dict' and not node.args):
            loss = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
        else:
            loss = ast.literal_eval(node)
    except (SyntaxError, ValueError) as err:
        raise ValueError(f'--loss {text!r} is not a dict of literal values, e.g. '
                         '"dict(type=\'DropLoss\', num_classes=1203, categories=\'lvis_v1\')"'
                         f' ({err})') from None
    if not isinstance(loss, dict) or 'type' not in loss:
        raise ValueError(f'--loss {text!r} must be a dict with a "type" (a registered loss)')
    return loss
