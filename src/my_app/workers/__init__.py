"""Housekeeping tasks (Oban's plugins) in procrastinate blueprints; `my_app.application` hands them to the queue.

Task names are `<namespace>:<function>`, e.g. `maintenance:prune_jobs`. A context's own tasks live
in the context (the accounts notifier's `email:deliver_email`, phx.gen.auth's UserNotifier).
"""
