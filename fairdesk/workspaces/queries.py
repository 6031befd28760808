from django.core.management.base import CommandError

from fairdesk.workspaces.models import Workspace


def pick_workspace(slug: str | None) -> Workspace:
    """The workspace a command works on: the named one, or the only one there is."""
    if slug:
        try:
            return Workspace.objects.get(slug=slug)
        except Workspace.DoesNotExist:
            raise CommandError(f"no workspace {slug!r}") from None
    workspaces = list(Workspace.objects.all()[:2])
    if len(workspaces) != 1:
        raise CommandError("name the workspace with --workspace SLUG")
    return workspaces[0]
