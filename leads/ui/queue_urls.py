"""The counselor's queue pages."""

urlpatterns = []
