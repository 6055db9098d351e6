"""transom.providers."""
