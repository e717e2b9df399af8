"""The SAPPHIRE web app: search, blinded A/B listening tests and triplet judgements.

``create_app(engine, *, db_path, admin_token, ...)`` builds the FastAPI app; ``sapphire serve``
runs it. The front end is plain HTML/JS/CSS shipped in ``static/`` and served by the app itself
(no CDN; works offline).
"""

from sapphire_core.webapp.app import create_app

__all__ = ["create_app"]
