"""Which team can fix it: chosen from what the problem is, never from who is asking."""

from collections.abc import Sequence

from fairdesk.workspaces.models import Team


def team_for(teams: Sequence[Team], *, topic: str, signals: Sequence[str]) -> Team | None:
    wanted = "security" if "security_report" in signals else topic
    default = None
    for team in teams:
        if wanted in team.handles:
            return team
        if team.is_default:
            default = team
    return default
