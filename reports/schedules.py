"""The scheduled reports page: a person e-mails a KPI report to people on a schedule."""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from .forms import report_query
from .models import ReportSchedule
from .services import _Query
from .views import page


class ScheduleForm(forms.ModelForm):
    """A schedule of the signed-in user; the period and filters are checked by the pages'
    own parser, so what is saved is what a report page would show."""

    class Meta:
        model = ReportSchedule
        fields = ["name", "recipients", "stage", "query", "frequency", "weekday", "send_at"]
        labels = {"query": "Period and filters", "send_at": "Time of day", "stage": "Stage"}
        widgets = {
            "recipients": forms.TextInput(
                attrs={"placeholder": "cmo@example.com, sales@example.com"}
            ),
            "send_at": forms.TimeInput(attrs={"type": "time"}),
            "weekday": forms.Select(
                choices=[
                    (i, d)
                    for i, d in enumerate(
                        (
                            "Monday",
                            "Tuesday",
                            "Wednesday",
                            "Thursday",
                            "Friday",
                            "Saturday",
                            "Sunday",
                        )
                    )
                ]
            ),
        }

    def clean_query(self) -> str:
        query = self.cleaned_data.get("query", "").strip().lstrip("?")
        problems = report_query(_Query(query)).messages
        if problems:
            raise forms.ValidationError(" ".join(problems))
        return query


@require_http_methods(["GET", "POST"])
def schedule_list(request: HttpRequest) -> HttpResponse:
    """List, add and delete the signed-in user's scheduled reports. ``?view=`` (a report
    page's query, from its "E-mail this view" link) and ``?stage=`` pre-fill the form."""
    rq = report_query(request)
    mine = ReportSchedule.objects.filter(created_by=request.user).order_by("name", "pk")
    form = ScheduleForm(
        initial={
            "query": request.GET.get("view", ""),
            "stage": request.GET.get("stage") or None,
            "recipients": request.user.email,
        }
    )
    if request.method == "POST":
        if "delete" in request.POST:
            deleted, _ = mine.filter(pk=request.POST.get("delete", "") or 0).delete()
            if deleted:
                messages.success(request, "Scheduled report deleted.")
            return redirect("reports:schedule_list")
        form = ScheduleForm(request.POST, instance=ReportSchedule(created_by=request.user))
        if form.is_valid():
            form.save()
            messages.success(
                request, "Scheduled report saved: the first one goes out at its next time."
            )
            return redirect("reports:schedule_list")
    return page(
        request,
        "reports/schedule_list.html",
        rq,
        {"schedules": list(mine), "form": form, "hide_filters": True},
    )
