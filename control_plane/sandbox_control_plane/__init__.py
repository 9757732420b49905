"""Sandbox control plane: sessions that run code in isolated containers, with state in MariaDB."""

__version__ = "0.1.0"
