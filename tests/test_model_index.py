"""model-index.yml (read by `mim`) imports exactly the metafiles our own zoo index reads."""
from pathlib import Path

import yaml

from mmdet_droploss.model_zoo import load_index
from mmdet_droploss.model_zoo.index import default_index_paths

ROOT = Path(__file__).resolve().parents[1]


def test_model_index_imports_every_metafile():
    imports = yaml.safe_load((ROOT / 'model-index.yml').read_text())['Import']
    metafiles = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob('configs/*/metafile.yml'))
    assert sorted(imports) == metafiles
    # the package's own index reads the same files, and every entry in them parses
    assert sorted(str(Path(p).resolve().relative_to(ROOT)) for p in default_index_paths()
                  ) == metafiles
    names = [m['Name'] for f in metafiles
             for m in yaml.safe_load((ROOT / f).read_text())['Models']]
    assert sorted(load_index()) == sorted(names)
