"""The period picker of the insights pages: the last 7/30/90 days, or a start and end date."""

from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlencode

from django import forms

from fairdesk.insights.periods import BadPeriod, resolve_period

PRESETS = (("7", "Last 7 days"), ("30", "Last 30 days"), ("90", "Last 90 days"))
MAX_PAGE = 100_000


class PeriodForm(forms.Form):
    days = forms.TypedChoiceField(
        choices=PRESETS, coerce=int, required=False, empty_value=None, initial=30, label="Period"
    )
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Inclusive: the whole end day counts.",
    )

    def clean(self) -> dict:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if self.errors:
            return data
        try:
            data["period"] = resolve_period(
                datetime.combine(start, time.min, tzinfo=UTC) if start else None,
                datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC) if end else None,
                days=data.get("days") or 30,
            )
        except BadPeriod as exc:
            raise forms.ValidationError(f"The {exc}.") from exc
        return data

    def query(self) -> str:
        """The chosen period as a query string, so links to other views keep it."""
        if not self.is_bound or self.errors:
            return ""
        data = self.cleaned_data
        chosen = {
            "days": data.get("days"),
            "start": data["start"].isoformat() if data.get("start") else None,
            "end": data["end"].isoformat() if data.get("end") else None,
        }
        return urlencode({k: v for k, v in chosen.items() if v is not None})


class PagedPeriodForm(PeriodForm):
    page = forms.IntegerField(min_value=1, max_value=MAX_PAGE, required=False)
