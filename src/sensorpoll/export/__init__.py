"""Export: everything downstream of a finished cycle (metrics, HTTP, sinks) (flow stage 4)."""
