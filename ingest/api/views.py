"""The import API: ``POST /api/v1/imports/`` runs the CSV import engine on an uploaded file."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from abm_site.idempotency import IdempotentCreateMixin

from ..services import csv_import
from .serializers import ImportReportSerializer, ImportRequestSerializer


class ImportView(IdempotentCreateMixin, generics.GenericAPIView):
    """Upload a CSV file of accounts, stakeholders, opportunities, touches, spend, NPS or intent."""

    serializer_class = ImportRequestSerializer
    parser_classes = [MultiPartParser, FormParser]
    filter_backends: list = []

    @extend_schema(
        operation_id="imports_create",
        request={"multipart/form-data": ImportRequestSerializer},
        responses={
            200: ImportReportSerializer,
            400: OpenApiResponse(
                description="Bad parameters (keyed by name), or a file that cannot be "
                "imported (the report, with its errors)."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        """Import the file (or check it, with ``dry_run``); the report lists every rejected row.

        Valid rows are stored even when others are rejected; a file-level
        problem (not CSV, no header, missing required columns) stores nothing
        and answers 400 with the report.
        """
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        report = csv_import(
            data["kind"],
            data["file"],
            mapping=data["mapping"],
            dry_run=data["dry_run"],
            source=data.get("source"),
            date_order=data.get("date_order"),
        )
        body = report.as_dict()
        return Response(
            body, status=status.HTTP_200_OK if report.ok else status.HTTP_400_BAD_REQUEST
        )
