"""transom.cli."""
