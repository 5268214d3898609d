"""A user's own module (imported through ``custom_imports``, as a custom hook would be): it warns
at import and from a hook, so that tests can check our launches still show a user's warnings
while they hide the stack's notices (``mmdet_droploss.third_party_notices``)."""
import logging
import warnings

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

IMPORT_WARNING = 'user_probe: a warning of the user at import'
# The text of a notice the launches hide, from the user's module: it must still show.
NOTICE_TEXT_WARNING = 'pkg_resources is deprecated as an API (said by user_probe, not setuptools)'
HOOK_WARNING = 'user_probe: a warning of the user before training'
LOGGED_WARNING = 'user_probe: a logged warning of the user before training'

warnings.warn(IMPORT_WARNING)
warnings.warn(NOTICE_TEXT_WARNING, UserWarning)


@HOOKS.register_module()
class UserProbeHook(Hook):
    """Warns through ``warnings`` and mmengine's logger when training starts."""

    def before_train(self, runner) -> None:
        warnings.warn(HOOK_WARNING, RuntimeWarning)
        print_log(LOGGED_WARNING, logger='current', level=logging.WARNING)
