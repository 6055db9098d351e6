"""transom.dev."""
