"""League mode: the account mode of a session, runs recorded by hand, the leaderboard ledger and its
limits, and how well local figures have predicted the leaderboard (calibration)."""
