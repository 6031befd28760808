"""``fairdesk serve`` loads every view, then freezes what is loaded out of the collector's way."""

import gc
import sys

from fairdesk.demo.runtime import freeze_loaded_objects


def test_loaded_objects_are_frozen_and_views_imported() -> None:
    try:
        freeze_loaded_objects()
        assert gc.get_freeze_count() > 10_000
        assert "fairdesk.insights.views" in sys.modules  # the URLconf was loaded whole
    finally:
        gc.unfreeze()
