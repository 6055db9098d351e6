"""The fleet view: a read-only web page of hosts x Configurations, kept live from the API."""
