"""REST API of the signed-in user's notifications (labeling/notifications.py)."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling import notifications
from labeling.models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="project_id", read_only=True)
    open_url = serializers.SerializerMethodField(help_text="opens it: marks it read, then goes")
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "project", "text", "level", "url", "open_url", "created_at", "read"]

    def get_open_url(self, notification: Notification) -> str:
        return reverse("notification-open", args=[notification.pk])

    def get_read(self, notification: Notification) -> bool:
        return notification.read_at is not None


NotificationListSerializer = inline_serializer(
    "NotificationList",
    {
        "unread": serializers.IntegerField(),
        "notifications": NotificationSerializer(many=True),
        "poll_seconds": serializers.IntegerField(help_text="how often the pages ask again"),
    },
)


class NotificationListView(APIView):
    """GET: how many are unread, and the newest ones (read or not)."""

    @extend_schema(responses=NotificationListSerializer)
    def get(self, request):
        mine = notifications.notification_list(user=request.user)
        newest = mine[: notifications.LISTED]
        return Response(
            {
                "unread": mine.filter(read_at=None).count(),
                "notifications": NotificationSerializer(newest, many=True).data,
                "poll_seconds": settings.STUDIO_NOTIFY_POLL_SECONDS,
            }
        )


class NotificationReadAllView(APIView):
    """POST: mark every one of the user's notifications read."""

    @extend_schema(
        request=None,
        responses=inline_serializer("NotificationsRead", {"read": serializers.IntegerField()}),
    )
    def post(self, request):
        return Response({"read": notifications.notifications_read_all(user=request.user)})
