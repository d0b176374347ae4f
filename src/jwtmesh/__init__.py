"""jwtmesh: JWT security for Python microservices."""

__version__ = "0.1.0"
