"""Transom: GitOps for Windows Server hosts, driven by Flux."""

__version__ = "0.1.0"
