"""carepath.seed: drives a synthetic clinic cohort through the public HTTP APIs of the services.

`cohort` plans who each patient is and what happens to them, in clinical time (pure, seeded;
`course`, `dosing` and `today` the course, its visits and today's board); `clinic` is the staff
who carry the plan out over HTTP; `report` compares what was planned with what the services did;
`cli` is the `carepath-seed` command, `check` the `carepath-seed-check` command that waits for
the dashboard to show the planned cohort.
"""
