"""API of webhooks (admins only, abm_site/access.py): subscriptions and the delivery log."""

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from abm_site.api_base import ServiceModelViewSet
from abm_site.idempotency import IdempotentCreateMixin

from .. import services
from ..selectors import delivery_list, subscription_list
from ..tasks import webhook_deliver
from .serializers import WebhookDeliverySerializer, WebhookSubscriptionSerializer


class WebhookSubscriptionViewSet(ServiceModelViewSet):
    """Where events are sent. Targets on private, loopback or link-local addresses are
    refused unless ``ABM_WEBHOOKS_ALLOW_PRIVATE`` is set."""

    queryset = subscription_list()
    serializer_class = WebhookSubscriptionSerializer
    filterset_fields = ["active", "payload_format"]
    ordering_fields = ["id", "name"]


class WebhookDeliveryViewSet(IdempotentCreateMixin, viewsets.ReadOnlyModelViewSet):
    """The delivery log: one row per attempt, newest first. A redeliver retried with the same
    ``Idempotency-Key`` sends once."""

    queryset = delivery_list()
    serializer_class = WebhookDeliverySerializer
    filterset_fields = ["subscription", "event", "status"]
    ordering_fields = ["id", "created_at"]

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"])
    def redeliver(self, request: Request, pk: str | None = None) -> Response:
        """Send the event of this delivery to its subscription again (a new attempt)."""
        delivery = services.delivery_redeliver(self.get_object())
        webhook_deliver.delay(delivery.pk)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
