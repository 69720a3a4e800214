from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.throttling import ScopedRateThrottle


class TokenView(ObtainAuthToken):
    """Exchange a username and password for an API token.

    Throttled per client address, so the endpoint cannot be used to guess passwords.
    """

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "token"

    @extend_schema(
        request=inline_serializer(
            "TokenRequest",
            {"username": serializers.CharField(), "password": serializers.CharField()},
        ),
        responses=inline_serializer(
            "TokenResponse", {"token": serializers.CharField()}
        ),
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)
