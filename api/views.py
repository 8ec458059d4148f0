"""The public REST API (``/api/v1/``): thin read-only views over ``api.selectors``.

Every queryset starts from the token's organisation, so another organisation's id
is a 404, never a leak."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from api import selectors
from api.filters import EngagementFilter
from api.pagination import EngagementPagination, IdPagination
from api.permissions import HasApiAccess
from api.schema import error_responses
from api.serializers import (
    AccountSerializer,
    EngagementDetailSerializer,
    EngagementSerializer,
    MeSerializer,
    OpportunitySerializer,
)

LIST_ERRORS = error_responses(400, 401, 403, 429)
DETAIL_ERRORS = error_responses(401, 403, 404, 429)


class ApiView:
    permission_classes = [HasApiAccess]

    @property
    def org(self):
        if getattr(self, "swagger_fake_view", False):
            return None  # schema generation: no request token, an empty queryset
        return self.request.auth.org


@extend_schema(tags=["me"], responses={200: MeSerializer, **error_responses()},
               summary="The token's user and organisation")
class MeView(ApiView, APIView):
    def get(self, request):
        token = request.auth
        return Response(MeSerializer({"user": request.user, "organization": token.org, "token": token}).data)


@extend_schema_view(get=extend_schema(tags=["engagements"], responses={200: EngagementSerializer(many=True),
                                                                       **LIST_ERRORS},
                                      summary="Engagements, newest first"))
class EngagementListView(ApiView, generics.ListAPIView):
    serializer_class = EngagementSerializer
    pagination_class = EngagementPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = EngagementFilter

    def get_queryset(self):
        return selectors.engagements_for_api(org=self.org)


@extend_schema_view(get=extend_schema(tags=["engagements"], responses={200: EngagementDetailSerializer,
                                                                       **DETAIL_ERRORS},
                                      summary="One engagement with participants, moments, brief and transcript"))
class EngagementDetailView(ApiView, generics.RetrieveAPIView):
    serializer_class = EngagementDetailSerializer

    def get_queryset(self):
        return selectors.engagement_detail_for_api(org=self.org)


@extend_schema_view(get=extend_schema(tags=["accounts"], responses={200: AccountSerializer(many=True),
                                                                    **LIST_ERRORS}, summary="CRM accounts"))
class AccountListView(ApiView, generics.ListAPIView):
    serializer_class = AccountSerializer
    pagination_class = IdPagination

    def get_queryset(self):
        return selectors.accounts_for_api(org=self.org)


@extend_schema_view(get=extend_schema(tags=["accounts"], responses={200: AccountSerializer, **DETAIL_ERRORS},
                                      summary="One CRM account"))
class AccountDetailView(ApiView, generics.RetrieveAPIView):
    serializer_class = AccountSerializer

    def get_queryset(self):
        return selectors.accounts_for_api(org=self.org)


@extend_schema_view(get=extend_schema(tags=["opportunities"], responses={200: OpportunitySerializer(many=True),
                                                                         **LIST_ERRORS},
                                      summary="CRM opportunities"))
class OpportunityListView(ApiView, generics.ListAPIView):
    serializer_class = OpportunitySerializer
    pagination_class = IdPagination

    def get_queryset(self):
        return selectors.opportunities_for_api(org=self.org)


@extend_schema_view(get=extend_schema(tags=["opportunities"], responses={200: OpportunitySerializer,
                                                                         **DETAIL_ERRORS},
                                      summary="One CRM opportunity"))
class OpportunityDetailView(ApiView, generics.RetrieveAPIView):
    serializer_class = OpportunitySerializer

    def get_queryset(self):
        return selectors.opportunities_for_api(org=self.org)
