"""Readiness probes the agent runs after an apply (one module per probe kind), the gate that
counts their attempts (`gate.py`) and the session that runs them until it settles."""
