"""The load edge: WebSocket clients, the Locust user, the run lifecycle, doctor's probes."""
