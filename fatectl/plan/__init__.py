"""`fatectl diff`: what a render or an `up` would change, per party, before anything is written."""
