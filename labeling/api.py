"""REST API of projects and members (/api/v1/projects...)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling import selectors, services
from labeling.models import Membership, Project, Role
from labeling.permissions import Action, ProjectRolePermission
from studio.api_input import StrictSerializer


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "description", "task_type", "created_at", "updated_at", "role"]
        read_only_fields = ["id", "task_type", "created_at", "updated_at", "role"]

    def get_role(self, project: Project) -> str | None:
        return self.context.get("roles", {}).get(project.pk)


class ProjectWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=10_000)


class ProjectCreateSerializer(ProjectWriteSerializer):
    classes = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        max_length=500,
        help_text="the project's classes, in order (keys 1-9 go to the first nine)",
    )


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "created_at"]


class MemberAddSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)


class MemberRoleSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=Role.choices)


class ProjectScopedView(APIView):
    """Base of every view under /projects/<project_id>/: 404 for non-members, role checks."""

    permission_classes = [ProjectRolePermission]
    project_actions: dict[str, Action] = {}

    def initial(self, request, *args, **kwargs):
        # Authenticate first, then resolve the project (404 before any role check).
        self.perform_authentication(request)
        if request.user.is_authenticated:
            self.project, self.role = selectors.project_get_with_role(
                user=request.user, project_id=kwargs["project_id"]
            )
        super().initial(request, *args, **kwargs)

    def get_project_role(self) -> str | None:
        return getattr(self, "role", None)


class ProjectListView(APIView):
    @extend_schema(responses=ProjectSerializer(many=True))
    def get(self, request):
        projects = selectors.project_list(user=request.user)
        roles = dict(Membership.objects.filter(user=request.user).values_list("project_id", "role"))
        data = ProjectSerializer(projects, many=True, context={"roles": roles}).data
        return Response(data)

    @extend_schema(request=ProjectCreateSerializer, responses={201: ProjectSerializer})
    def post(self, request):
        payload = ProjectCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        project = services.project_create(user=request.user, **payload.validated_data)
        data = ProjectSerializer(project, context={"roles": {project.pk: Role.OWNER}}).data
        return Response(data, status=status.HTTP_201_CREATED)


class ProjectDetailView(ProjectScopedView):
    project_actions = {
        "GET": Action.VIEW,
        "PATCH": Action.EDIT_PROJECT,
        "DELETE": Action.DELETE_PROJECT,
    }

    @extend_schema(responses=ProjectSerializer)
    def get(self, request, project_id: int):
        return Response(self._serialize())

    @extend_schema(request=ProjectWriteSerializer(partial=True), responses=ProjectSerializer)
    def patch(self, request, project_id: int):
        payload = ProjectWriteSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        services.project_update(project=self.project, **payload.validated_data)
        return Response(self._serialize())

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int):
        services.project_delete(project=self.project)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _serialize(self) -> dict:
        return ProjectSerializer(self.project, context={"roles": {self.project.pk: self.role}}).data


class MemberListView(ProjectScopedView):
    project_actions = {"GET": Action.VIEW, "POST": Action.MANAGE_MEMBERS}

    @extend_schema(responses=MembershipSerializer(many=True))
    def get(self, request, project_id: int):
        memberships = selectors.membership_list(project=self.project)
        return Response(MembershipSerializer(memberships, many=True).data)

    @extend_schema(request=MemberAddSerializer, responses={201: MembershipSerializer})
    def post(self, request, project_id: int):
        payload = MemberAddSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        membership = services.member_add(project=self.project, **payload.validated_data)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(ProjectScopedView):
    project_actions = {"PATCH": Action.MANAGE_MEMBERS, "DELETE": Action.MANAGE_MEMBERS}

    def _membership(self, membership_id: int) -> Membership:
        return get_object_or_404(selectors.membership_list(project=self.project), pk=membership_id)

    @extend_schema(request=MemberRoleSerializer, responses=MembershipSerializer)
    def patch(self, request, project_id: int, membership_id: int):
        membership = self._membership(membership_id)
        payload = MemberRoleSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.member_set_role(membership=membership, role=payload.validated_data["role"])
        return Response(MembershipSerializer(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, membership_id: int):
        services.member_remove(membership=self._membership(membership_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
