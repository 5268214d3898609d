"""LVIS category metadata shipped with the package, and frequency files for any dataset."""
from .metadata import (BUILTIN_SOURCES, FREQUENCY_GROUPS, CategoryInfo, frequency_file_from_annotations,
                       frequency_group, load_categories)

__all__ = [
    'BUILTIN_SOURCES', 'FREQUENCY_GROUPS', 'CategoryInfo', 'frequency_file_from_annotations',
    'frequency_group', 'load_categories'
]
