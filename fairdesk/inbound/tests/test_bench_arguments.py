"""``fairdesk bench workspace|insights --processes``: a value the server would refuse is
refused before any server is started, with the reason."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


@pytest.mark.parametrize("what", ["workspace", "insights"])
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0", "between 1 and 64"),
        ("-3", "between 1 and 64"),
        ("65", "between 1 and 64"),
        ("2; rm -rf /", "not a whole number"),
        ("<script>", "not a whole number"),
    ],
)
def test_a_bad_process_count_is_refused_with_its_reason(what: str, value: str, reason: str) -> None:
    with pytest.raises(CommandError, match=reason):
        call_command("bench", what, "--processes", value)
