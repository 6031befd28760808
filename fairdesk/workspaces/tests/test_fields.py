"""Team and agent selects read their choices with one plain query, scoped to the workspace."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from fairdesk.followthrough.forms import WorkOrderForm
from fairdesk.routing.forms import BulkForm
from fairdesk.workspaces.models import Agent, Team, Workspace


def test_selects_render_without_a_server_side_cursor_and_only_this_workspace(
    workspace: Workspace, other_workspace: Workspace, agent: Agent
) -> None:
    Team.objects.create(workspace=workspace, slug="repairs", name="Repairs")
    Team.objects.create(workspace=other_workspace, slug="foreign", name="Foreign team")
    with CaptureQueriesContext(connection) as queries:
        html = str(WorkOrderForm.fresh(workspace=workspace)) + str(BulkForm(viewer=agent))
    assert not [q["sql"] for q in queries if "DECLARE" in q["sql"].upper()]
    assert "Repairs" in html
    assert "Foreign team" not in html


def test_another_workspace_team_is_refused(
    workspace: Workspace, other_workspace: Workspace, agent: Agent
) -> None:
    Team.objects.create(workspace=other_workspace, slug="foreign", name="Foreign team")
    form = BulkForm({"case": "", "action": "route", "team": "foreign"}, viewer=agent)
    assert not form.is_valid()
    assert "team" in form.errors
