"""Forms of the publishing pages: an author's schedule, scheduling and moving a post, marking it
delivered, a metrics CSV, and an export's date range. Times are typed in the author's time zone."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError

from publishing import slots as slot_math
from publishing.export import FORMATS
from publishing.models import Channel

LOCAL_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")
MAX_CSV_BYTES = 2 * 1024 * 1024
MAX_EXPORT_DAYS = 366


def local_datetime(text: str, tz: ZoneInfo) -> datetime:
    """A wall-clock time typed in a form (`datetime-local`), read in `tz`."""
    for fmt in LOCAL_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    raise ValidationError("Give a date and a time, like 2026-03-02 09:30.")


class ScheduleForm(forms.Form):
    time_zone = forms.CharField(
        max_length=64, help_text="An IANA name, such as Europe/Lisbon or America/New_York."
    )
    slots = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Tue 09:00, Thu 12:30"}),
        help_text="Weekday and time in the author's time zone, separated by commas.",
    )
    channel = forms.ChoiceField(choices=Channel.choices, help_text="Where new posts of this author go.")

    def clean_time_zone(self) -> str:
        name = self.cleaned_data["time_zone"].strip()
        try:
            slot_math.zone(name)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["time_zone"]) from exc
        return name

    def clean_slots(self) -> list[dict]:
        try:
            return slot_math.parse_slots_text(self.cleaned_data["slots"])
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["slots"]) from exc


class PostTimeForm(forms.Form):
    """When: the author's next free slot, one of their free slots (an instant the page listed), or a
    time typed in the author's time zone."""

    when = forms.ChoiceField(
        choices=[("next", "The next free slot"), ("slot", "A free slot"), ("at", "At a chosen time")],
        widget=forms.RadioSelect,
        initial="next",
    )
    slot = forms.CharField(required=False, max_length=40)
    at = forms.CharField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "60"})
    )

    def __init__(self, *args, tz: ZoneInfo, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tz = tz

    def clean(self) -> dict:
        data = super().clean() or {}
        if data.get("when") == "at":
            if not data.get("at"):
                self.add_error("at", "Choose the time.")
            else:
                try:
                    data["at"] = local_datetime(data["at"], self.tz)
                except ValidationError as exc:
                    self.add_error("at", exc)
        elif data.get("when") == "slot":
            data["at"] = self._slot(data.get("slot") or "")
        else:
            data["at"] = None
        return data

    def _slot(self, text: str) -> datetime | None:
        try:
            instant = datetime.fromisoformat(text.strip())
        except ValueError:
            instant = None
        if instant is None or instant.tzinfo is None:
            self.add_error("slot", "Choose one of the free slots.")
            return None
        return instant


class SchedulePostForm(PostTimeForm):
    channel = forms.ChoiceField(choices=Channel.choices)


class DeliveredForm(forms.Form):
    external_id = forms.CharField(max_length=200, label="Id where it was published")
    url = forms.URLField(max_length=500, required=False, label="Link (optional)", assume_scheme="https")


class MetricsUploadForm(forms.Form):
    file = forms.FileField(
        help_text="CSV with post_id or external_id, impressions, reactions, comments, reposts."
    )

    def clean_file(self) -> str:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_CSV_BYTES:
            raise ValidationError(f"At most {MAX_CSV_BYTES // (1024 * 1024)} MB.")
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationError("The file is not UTF-8 text (save it as CSV UTF-8).") from exc


class ExportForm(forms.Form):
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))
    format = forms.ChoiceField(
        choices=[(name, name.upper() if name != "markdown" else "Markdown") for name in FORMATS]
    )

    def clean(self) -> dict:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if isinstance(start, date) and isinstance(end, date):
            if end < start:
                self.add_error("end", "The end is before the start.")
            elif end - start > timedelta(days=MAX_EXPORT_DAYS):
                self.add_error("end", f"At most {MAX_EXPORT_DAYS} days at a time.")
        return data
