"""The lead page, its actions and new leads by hand."""

urlpatterns = []
