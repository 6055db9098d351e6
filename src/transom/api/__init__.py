"""transom.api."""
