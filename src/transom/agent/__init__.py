"""transom.agent."""
