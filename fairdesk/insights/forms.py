"""The period picker of the insights page: the last 7/30/90 days, or a start and end date."""

from datetime import UTC, datetime, time, timedelta

from django import forms

from fairdesk.insights.periods import BadPeriod, resolve_period

PRESETS = (("7", "Last 7 days"), ("30", "Last 30 days"), ("90", "Last 90 days"))


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
