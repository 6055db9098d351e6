"""transom.controller."""
