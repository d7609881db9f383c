"""flow: the party's job service (API, store, scheduler, workers)."""
