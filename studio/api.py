"""Account and system endpoints of the REST API."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from studio import services
from studio.api_input import StrictSerializer, refuse_unknown_fields
from studio.models import WorkerCheck
from studio.request_limits import LOGIN_BODY_BYTES, body_limit


class CredentialsSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    is_staff = serializers.BooleanField()


class WorkerCheckSerializer(serializers.ModelSerializer):
    class Meta:
        model = WorkerCheck
        fields = [
            "id",
            "status",
            "created_at",
            "finished_at",
            "requested_by_pid",
            "worker_hostname",
            "worker_pid",
        ]


@body_limit(LOGIN_BODY_BYTES)
class TokenCreateView(APIView):
    """Exchange a username and password for a new API token (replaces the old one).

    Failed attempts count towards the same lock-out as the login page.
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=CredentialsSerializer, responses={201: TokenSerializer})
    def post(self, request):
        payload = CredentialsSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = authenticate(request._request, **payload.validated_data)
        if getattr(request._request, "axes_locked_out", False):
            return Response(
                {"detail": "Too many failed attempts: try again later."},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
            )
        if user is None or not user.is_active:
            return Response(
                {"detail": "Wrong username or password."}, status=status.HTTP_400_BAD_REQUEST
            )
        token = services.token_rotate(user=user)
        return Response({"token": token.key}, status=status.HTTP_201_CREATED)


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)


class WorkerCheckListView(APIView):
    """Send a no-op job through the broker and see which worker process ran it.

    Staff only, like the /system/ page; at most a few a minute per user (429 beyond).
    """

    permission_classes = [IsAdminUser]

    @extend_schema(request=None, responses={202: WorkerCheckSerializer})
    def post(self, request):
        refuse_unknown_fields(request.data, ())
        try:
            check = services.worker_check_create(user=request.user)
        except services.WorkerCheckThrottled as exc:
            raise Throttled(wait=exc.wait_seconds, detail=str(exc)) from None
        return Response(WorkerCheckSerializer(check).data, status=status.HTTP_202_ACCEPTED)


class WorkerCheckDetailView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(responses=WorkerCheckSerializer)
    def get(self, request, check_id: int):
        check = get_object_or_404(WorkerCheck, pk=check_id, created_by=request.user)
        return Response(WorkerCheckSerializer(check).data)
