"""The admin HTTP listener: health, readiness, metrics, the JSON API and the console."""
