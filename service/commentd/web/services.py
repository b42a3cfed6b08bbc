"""Where an app keeps its Services (commentd.services), and how views reach them."""

from __future__ import annotations

from flask import Flask, current_app

from commentd.services import Services

EXTENSION = "commentd"  # the one key of app.extensions that commentd uses


def install(app: Flask, services: Services) -> None:
    """Attach `services` to `app` (once, in create_app)."""
    app.extensions[EXTENSION] = services


def of(app: Flask) -> Services:
    """The Services of `app`; KeyError if create_app() did not build it."""
    services: Services = app.extensions[EXTENSION]
    return services


def current() -> Services:
    """The Services of the app handling this request (or whose app context is pushed);
    RuntimeError outside an app context."""
    return of(current_app)
