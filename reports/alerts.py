"""The alerts page: a person subscribes to events by e-mail, at once or as a daily digest."""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from accounts.models import Tier
from activation import selectors as activation_selectors
from activation import services as activation_services
from activation.models import AlertSubscription
from events.choices import EventType

from .forms import report_query
from .views import page


class AlertForm(forms.Form):
    event_types = forms.MultipleChoiceField(
        label="Events", choices=EventType.choices, widget=forms.CheckboxSelectMultiple
    )
    tier = forms.ModelChoiceField(
        label="Only accounts in tier",
        queryset=Tier.objects.order_by("rank", "name"),
        required=False,
        empty_label="Any tier",
    )
    my_accounts = forms.BooleanField(label="Only accounts I own", required=False)
    frequency = forms.ChoiceField(
        label="Send", choices=AlertSubscription.Frequency.choices, initial="immediate"
    )


@require_http_methods(["GET", "POST"])
def alert_list(request: HttpRequest) -> HttpResponse:
    """List, add and delete the signed-in user's alert subscriptions."""
    rq = report_query(request)
    form = AlertForm()
    if request.method == "POST":
        if "delete" in request.POST:
            pk = request.POST.get("delete", "")
            if pk.isdigit() and activation_services.alert_subscription_delete(
                request.user, int(pk)
            ):
                messages.success(request, "Alert deleted.")
            return redirect("reports:alert_list")
        form = AlertForm(request.POST)
        if form.is_valid():
            activation_services.alert_subscription_create(request.user, **form.cleaned_data)
            messages.success(request, "Alert saved.")
            return redirect("reports:alert_list")
    return page(
        request,
        "reports/alert_list.html",
        rq,
        {
            "alerts": activation_selectors.alert_subscription_list(request.user),
            "labels": dict(EventType.choices),
            "form": form,
            "hide_filters": True,
        },
    )
