"""Polled triggers: the workers read providers' new and changed records on a schedule and store each as an event.

``state.py`` (each pair's schedule, cursor and lease), ``fetch.py`` (one poll of one pair through a spec),
``poller.py`` (the pass the supervisor runs).
"""
