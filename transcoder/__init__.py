"""The transcoder: from a source in inbox/ to a verified output in outbox/ (the README's module map lists its stages).

A job reads as one list of stages (`transcoder.job.run_job`): probe → verdict → plan → segments → audio → join →
verify; the daemon then hands the output off to outbox/.
"""
