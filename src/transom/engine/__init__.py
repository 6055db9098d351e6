"""transom.engine."""
