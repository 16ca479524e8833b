"""One run: its configuration (``RunConfig``), clock and schedules, the training loop, the run cache, and
the ``Tracker`` (and Lightning callback) that measure a training loop of your own."""
