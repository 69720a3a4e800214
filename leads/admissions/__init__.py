"""The second half of the funnel: pre-screen, insurance verification, admission.

Models live in `models.py` and are registered with the `leads` app (leads/models.py
imports them); the rules live in the service modules beside it.
"""
