"""The engine image on a Docker host: the SDK boundary, wheels, build, save/load/push."""
