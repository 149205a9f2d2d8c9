"""Superseded versions of the eligibility context's events, each with the upcaster to the next.

None yet: every eligibility event is at its first version. When one needs a breaking change, its
model moves here as `<Event>V1` (with `event_name`) beside its upcaster, and the new model takes
its place in `events` with `version = 2`; `carepath.contracts.session.versions` is the worked
example.
"""
