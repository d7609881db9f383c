"""Labs: a whole federation on one host, as local processes or as a Compose project."""
