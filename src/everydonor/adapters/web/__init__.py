"""The web app for transplant teams (FastAPI + Jinja2 + htmx, on the registry).

``create_app`` (``app.py``) builds it; ``everydonor serve`` runs it under uvicorn. Logic stays in
the core and the registry: the routers turn forms into calls and answers into pages.
"""
