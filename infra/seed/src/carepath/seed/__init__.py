"""carepath.seed: drives a synthetic clinic cohort through the public HTTP APIs of the services.

`cohort` plans who each patient is and what happens to them (pure, seeded); `clinic` is the staff
who carry the plan out over HTTP; `report` compares what was planned with what the services did;
`cli` is the `carepath-seed` command.
"""
