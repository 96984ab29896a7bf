"""The transcoder: probe and verdict, segment plan, segment and audio encoding, join, verify, checkpoints,
and the daemon that runs jobs from the inbox cheapest first.

A job reads as one list of stages (`transcoder.job.run_job`): probe → verdict → plan → segments → audio → join →
verify; the daemon then hands the output off to outbox/.
"""
