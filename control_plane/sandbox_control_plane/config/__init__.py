"""Configuration: settings from the environment and logging."""

from sandbox_control_plane.config.settings import Settings

__all__ = ["Settings"]
