"""The supervisor dashboard."""

urlpatterns = []
